package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The login roles of development and test clusters: members of the NOLOGIN
// roles orderstream_api and orderstream_worker that migration 000004
// creates, so that the API and the worker run as row-level security binds
// them in production. They have no password: these clusters trust local
// connections.
const (
	APILogin    = "orderstream_api_login"
	WorkerLogin = "orderstream_worker_login"
)

// EnsureLoginRole creates the login role login, if missing, and grants it
// the role group (which must exist: run the migrations first). adminURL
// must be a superuser or a role with CREATEROLE. Concurrent callers on the
// same cluster are fine.
func EnsureLoginRole(ctx context.Context, adminURL, login, group string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("create role %s: connect: %w", login, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", login).Scan(&exists); err != nil {
		return fmt.Errorf("create role %s: %w", login, err)
	}
	name := pgx.Identifier{login}.Sanitize()
	if !exists {
		// Not a superuser, no CREATEDB, CREATEROLE or BYPASSRLS: the defaults.
		if _, err := conn.Exec(ctx, "CREATE ROLE "+name+" LOGIN NOSUPERUSER NOBYPASSRLS"); err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || (pgErr.Code != "42710" && pgErr.Code != "23505") { // lost a race
				return fmt.Errorf("create role %s: %w", login, err)
			}
		}
	}
	if _, err := conn.Exec(ctx, "GRANT "+pgx.Identifier{group}.Sanitize()+" TO "+name); err != nil {
		return fmt.Errorf("grant %s to %s: %w", group, login, err)
	}
	return nil
}

// WithUser returns dbURL (postgres://...) with its user replaced by user
// and no password.
func WithUser(dbURL, user string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.User = url.User(user)
	return u.String(), nil
}

// SetupLogins creates APILogin and WorkerLogin on the server of ownerURL,
// members of apiRole and workerRole (the roles of migration 000004: migrate
// first), and returns ownerURL with each of them as its user.
func SetupLogins(ctx context.Context, ownerURL, apiRole, workerRole string) (apiURL, workerURL string, err error) {
	if err := EnsureLoginRole(ctx, ownerURL, APILogin, apiRole); err != nil {
		return "", "", err
	}
	if err := EnsureLoginRole(ctx, ownerURL, WorkerLogin, workerRole); err != nil {
		return "", "", err
	}
	if apiURL, err = WithUser(ownerURL, APILogin); err != nil {
		return "", "", err
	}
	workerURL, err = WithUser(ownerURL, WorkerLogin)
	return apiURL, workerURL, err
}
