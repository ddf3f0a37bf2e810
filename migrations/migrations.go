// Package migrations embeds the golang-migrate SQL files of OrderStream and
// applies them (Up). Files are append-only: a migration that has landed is
// never edited.
package migrations

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

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
	// UsersSetting names the users of a batch of creates (a uuid[]
	// literal, migration 000006): the one multi-row INSERT of the API's
	// group commit may write and return the rows of those users.
	UsersSetting = "orderstream.user_ids"
)

// Up applies the migrations to databaseURL (postgres://), as the tables'
// owner. It is safe to run from several processes at once: golang-migrate
// holds an advisory lock.
func Up(databaseURL string) error {
	src, err := iofs.New(FS, ".")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, URL(databaseURL))
	if err != nil {
		return fmt.Errorf("open migrations: %w", err)
	}
	upErr := m.Up()
	if errors.Is(upErr, migrate.ErrNoChange) {
		upErr = nil
	}
	srcErr, dbErr := m.Close()
	if err := errors.Join(upErr, srcErr, dbErr); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// URL turns a postgres:// URL into the pgx5:// form golang-migrate's pgx v5
// driver expects.
func URL(databaseURL string) string {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(databaseURL, p) {
			return "pgx5://" + strings.TrimPrefix(databaseURL, p)
		}
	}
	return databaseURL
}
