// Package pgtest gives tests fresh, migrated PostgreSQL databases.
//
// Import it only from _test files. A package using it calls Main from its
// TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test asks for its own database:
//
//	url := pgtest.NewDB(t)
//
// Without DATABASE_URL, the first NewDB (or Cluster) of a test process
// starts one throwaway PostgreSQL cluster from the locally installed server
// binaries (see internal/devstack) with durability off, and Main stops it
// and deletes its files. With DATABASE_URL set, databases are created on
// that server instead, as the user in that URL, which needs the CREATEDB
// and CREATEROLE privileges (or to be a superuser).
//
// The migrations run once per process, into a template database; every
// NewDB clones that template, which takes tens of milliseconds.
//
// NewDB's URL connects as the server's superuser, which row-level security
// does not bind. NewDBs also gives the URLs of the login roles the harness
// creates (devstack.APILogin, devstack.WorkerLogin, members of
// orderstream_api and orderstream_worker, without password: a DATABASE_URL
// server must let them in, e.g. with trust authentication on 127.0.0.1),
// for the API and the worker as they run in production.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/migrations"
)

// URLs connect to one test database as each of its roles.
type URLs struct {
	// Owner is the superuser that created and migrated the database (what
	// NewDB returns): MIGRATE_DATABASE_URL, and for checks that must see
	// every row.
	Owner string
	// API is devstack.APILogin, a member of orderstream_api: row-level
	// security shows it only the rows of the user set per transaction.
	API string
	// Worker is devstack.WorkerLogin, a member of orderstream_worker.
	Worker string
}

// NewDBs is NewDB with the URLs of the database for each role.
func NewDBs(t testing.TB) URLs {
	t.Helper()
	owner := NewDB(t)
	api, err := devstack.WithUser(owner, devstack.APILogin)
	if err != nil {
		t.Fatal(err)
	}
	worker, err := devstack.WithUser(owner, devstack.WorkerLogin)
	if err != nil {
		t.Fatal(err)
	}
	return URLs{Owner: owner, API: api, Worker: worker}
}

// EnvDatabaseURL names the environment variable that points the harness at
// an existing server instead of a throwaway cluster.
const EnvDatabaseURL = "DATABASE_URL"

const setupTimeout = 2 * time.Minute

var state struct {
	mu sync.Mutex

	// Server: set up once.
	serverDone bool
	serverErr  error
	admin      *url.URL           // where CREATE/DROP DATABASE run
	cluster    *devstack.Postgres // nil with DATABASE_URL
	tmpDir     string

	// Template: set up once, after the server.
	templateDone bool
	templateErr  error
	template     string
}

// Main runs the tests of a package, then the cleanups, then stops the
// throwaway cluster if one was started (or drops the template database on a
// DATABASE_URL server), and exits with the tests' exit code. Call it from
// TestMain.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// NewDB returns the URL of a new database holding the migrated, empty
// schema, dropped when the test ends. It is safe for parallel tests. If no
// server can be had, the test fails; it never skips.
func NewDB(t testing.TB) string {
	t.Helper()
	admin, template, err := setup()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "t_" + randomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)+strategy(ctx, admin)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDB(admin, name)
}

// Cluster returns the throwaway cluster shared by the tests of this process,
// starting it if needed, for tests that must restart or inspect the server.
// A test that stops it must start it again (Restart) before it returns,
// since other tests share it. It fails the test when DATABASE_URL is set,
// as there is no throwaway cluster then.
func Cluster(t testing.TB) *devstack.Postgres {
	t.Helper()
	if os.Getenv(EnvDatabaseURL) != "" {
		t.Fatalf("pgtest: Cluster needs the throwaway cluster, but %s is set", EnvDatabaseURL)
	}
	_, err := setupServer()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.cluster
}

// setup returns the admin URL and the template database, creating them on
// first use.
func setup() (*url.URL, string, error) {
	admin, err := setupServer()
	if err != nil {
		return nil, "", err
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.templateDone {
		state.templateDone = true
		state.template, state.templateErr = createTemplate(admin)
	}
	return admin, state.template, state.templateErr
}

func setupServer() (*url.URL, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.serverDone {
		state.serverDone = true
		state.serverErr = startServer()
	}
	return state.admin, state.serverErr
}

// startServer fills state.admin (and state.cluster) from DATABASE_URL or a
// new throwaway cluster. Called with state.mu held.
func startServer() error {
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return fmt.Errorf("%s must be a postgres:// URL", EnvDatabaseURL)
		}
		state.admin = u
		return nil
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	// When running as root the server runs as the postgres user, which must
	// be able to enter this directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("start postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{
		DataDir: filepath.Join(dir, "data"),
		Fast:    true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	admin, err := url.Parse(pg.URL("postgres"))
	if err != nil {
		pg.Stop()
		os.RemoveAll(dir)
		return fmt.Errorf("start postgres: %w", err)
	}
	state.admin, state.cluster, state.tmpDir = admin, pg, dir
	return nil
}

// createTemplate creates and migrates the template database.
func createTemplate(admin *url.URL) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	name := "orderstream_tmpl_" + randomSuffix()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+ident(name)); err != nil {
		return "", fmt.Errorf("create template database: %w", err)
	}
	if err := migrations.Up(withDB(admin, name)); err != nil {
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		execAdmin(dropCtx, admin, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)") //nolint:errcheck // best effort after a failure
		return "", fmt.Errorf("migrate template database: %w", err)
	}
	// The migrations created the group roles; the logins are cluster-wide.
	if _, _, err := devstack.SetupLogins(ctx, admin.String(), migrations.APIRole, migrations.WorkerRole); err != nil {
		return "", err
	}
	return name, nil
}

// shutdown drops the template of a DATABASE_URL server, or stops the
// throwaway cluster and removes its files.
func shutdown() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	var errs []error
	if state.cluster != nil {
		errs = append(errs, state.cluster.Stop())
		errs = append(errs, os.RemoveAll(state.tmpDir))
		state.cluster = nil
	} else if state.template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execAdmin(ctx, state.admin, "DROP DATABASE IF EXISTS "+ident(state.template)+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop template database: %w", err))
		}
	}
	state.template = ""
	return errors.Join(errs...)
}

func execAdmin(ctx context.Context, admin *url.URL, sql string) error {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// strategy returns " STRATEGY file_copy" on PostgreSQL 15 and later, where
// the default (wal_log) is slower for small databases.
var strategyCache struct {
	once sync.Once
	s    string
}

func strategy(ctx context.Context, admin *url.URL) string {
	strategyCache.once.Do(func() {
		conn, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var num int
		if conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num) == nil && num >= 150000 {
			strategyCache.s = " STRATEGY file_copy"
		}
	})
	return strategyCache.s
}

// withDB returns admin with its database name swapped for name.
func withDB(admin *url.URL, name string) string {
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomSuffix() string {
	b := make([]byte, 8)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
