// Package migrations embeds the golang-migrate SQL files of OrderStream.
// Files are append-only: a migration that has landed is never edited.
package migrations

import "embed"

// FS holds the NNNNNN_name.up.sql and .down.sql files.
//
//go:embed *.sql
var FS embed.FS

// The database roles migration 000004 creates (NOLOGIN group roles; a
// deployment grants them to its login users). Row-level security lets
// APIRole see only the rows of the user set in UserSetting for the
// transaction, and WorkerRole every row.
const (
	APIRole    = "orderstream_api"
	WorkerRole = "orderstream_worker"
	// UserSetting is the configuration parameter the row-level security
	// policies compare user_id with (set per transaction).
	UserSetting = "orderstream.user_id"
)
