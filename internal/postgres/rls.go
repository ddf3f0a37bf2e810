package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
	"github.com/orderstream/orderstream/migrations"
)

// Row-level security (migration 000004): the API's database role sees only
// the orders and events of the user named by the orderstream.user_id
// setting of the current transaction. Every user-facing query therefore
// runs in a transaction that first sets it (set_config(..., true), which is
// SET LOCAL), and the setting ends with the transaction.

// setUserSQL sets the row-level security user for the current transaction.
const setUserSQL = "SELECT set_config('" + migrations.UserSetting + "', $1, true)"

// rlsUser is the user whose rows a request may touch in the database: the
// principal's own user when the request carries a non-admin principal (so
// that a user id mixed up on the way down cannot widen access), otherwise
// the user id of the operation (admin tokens act for any user; without
// authentication there is no principal).
func rlsUser(ctx context.Context, userID string) string {
	if p, ok := order.PrincipalFrom(ctx); ok && !p.Admin {
		return p.UserID
	}
	return userID
}

// batcher is what sends a batch: a pool or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// asUser returns queries that run each statement in a transaction of its
// own, after setting the row-level security user to user. The setting and
// the statement go as one batch: one round trip, and one implicit
// transaction (the extended protocol's statements up to the Sync), so the
// setting cannot outlive the statement. On a transaction (tx), the setting
// lasts until the transaction ends.
func asUser(b batcher, user string) *db.Queries {
	return db.New(userConn{b: b, set: setUserSQL, arg: user})
}

// asUsers is asUser for the users of a batch of creates (combine.go): the
// statement may write and return the rows of each of them.
func asUsers(b batcher, users []uuid.UUID) *db.Queries {
	return db.New(userConn{b: b, set: setUsersSQL, arg: users})
}

// userConn implements db.DBTX; see asUser. set is the statement that binds
// row-level security (setUserSQL or setUsersSQL) and arg its argument.
type userConn struct {
	b   batcher
	set string
	arg any
}

func (c userConn) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	var b pgx.Batch
	b.Queue(c.set, c.arg)
	b.Queue(sql, args...)
	br := c.b.SendBatch(ctx, &b)
	if _, err := br.Exec(); err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return br, nil
}

func (c userConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := c.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func (c userConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := c.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &pipeRows{Rows: rows, br: br}, nil
}

func (c userConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := c.Query(ctx, sql, args...)
	return &batchRow{rows: rows, err: err}
}

// batchRow is pgx.Row over the rows of a batch: ErrNoRows when there is none.
type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r *batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// RoleCheck says whether row-level security binds the role a pool
// connects as.
type RoleCheck struct {
	Role      string
	Superuser bool // superusers bypass row-level security
	BypassRLS bool // so do BYPASSRLS roles
	// Owner: the role owns the orders table or is a member of its owner
	// (the owner can turn row-level security off).
	Owner bool
}

// Enforced reports whether row-level security binds the role: not a
// superuser, not BYPASSRLS, not the owner.
func (c RoleCheck) Enforced() bool { return !c.Superuser && !c.BypassRLS && !c.Owner }

// CheckRole reports how row-level security applies to the role pool
// connects as. Call it after the migrations.
func CheckRole(ctx context.Context, pool *pgxpool.Pool) (RoleCheck, error) {
	var c RoleCheck
	err := pool.QueryRow(ctx, `
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'orders'::regclass), 'MEMBER')
FROM pg_roles r WHERE r.rolname = current_user`).Scan(&c.Role, &c.Superuser, &c.BypassRLS, &c.Owner)
	if err != nil {
		return c, mapErr("check the database role", err)
	}
	return c, nil
}

// String describes the check for logs.
func (c RoleCheck) String() string {
	if c.Enforced() {
		return fmt.Sprintf("role %s: row-level security enforced", c.Role)
	}
	return fmt.Sprintf("role %s: row-level security NOT enforced (superuser %t, bypassrls %t, owner %t)", c.Role, c.Superuser, c.BypassRLS, c.Owner)
}

// RequireRLS checks the role pool connects as (docs/SECURITY.md): it logs
// that row-level security binds it, or, when it does not (a superuser,
// BYPASSRLS or owner role), refuses it in production and logs a warning
// elsewhere (benchmark comparisons, `make infra`'s default URL).
func RequireRLS(ctx context.Context, pool *pgxpool.Pool, production bool, log *slog.Logger) error {
	rc, err := CheckRole(ctx, pool)
	if err != nil {
		return err
	}
	if rc.Enforced() {
		log.Info("database role checked", "role", rc.Role, "row_level_security", true)
		return nil
	}
	if production {
		return fmt.Errorf("DATABASE_URL: %s; in production the API must connect as a login granted orderstream_api (docs/SECURITY.md)", rc)
	}
	log.Warn("ROW-LEVEL SECURITY NOT ENFORCED: DATABASE_URL connects as a superuser, BYPASSRLS or owner role; use a login granted orderstream_api (docs/SECURITY.md)",
		"role", rc.Role, "superuser", rc.Superuser, "bypassrls", rc.BypassRLS, "owner", rc.Owner)
	return nil
}
