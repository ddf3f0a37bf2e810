// Package migrations embeds the golang-migrate SQL files of OrderStream.
// Files are append-only: a migration that has landed is never edited.
package migrations

import "embed"

// FS holds the NNNNNN_name.up.sql and .down.sql files.
//
//go:embed *.sql
var FS embed.FS
