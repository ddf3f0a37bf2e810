package pgtest_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDBGivesSeparateMigratedDatabases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	urls := []string{pgtest.NewDB(t), pgtest.NewDB(t)}
	if urls[0] == urls[1] {
		t.Fatalf("NewDB returned the same URL twice: %s", urls[0])
	}

	var conns []*pgx.Conn
	for _, url := range urls {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		conns = append(conns, conn)

		rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = 'public' AND table_name IN ('orders', 'order_events') ORDER BY table_name`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"order_events", "orders"}; !slices.Equal(tables, want) {
			t.Fatalf("%s has tables %v, want %v", url, tables, want)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 0 {
			t.Fatalf("orders in a new database: %d, %v", n, err)
		}
	}

	var db0, db1 string
	if err := conns[0].QueryRow(ctx, "SELECT current_database()").Scan(&db0); err != nil {
		t.Fatal(err)
	}
	if err := conns[1].QueryRow(ctx, "SELECT current_database()").Scan(&db1); err != nil {
		t.Fatal(err)
	}
	if db0 == db1 {
		t.Fatalf("both URLs reach database %s", db0)
	}

	// A write to one database is invisible in the other.
	if _, err := conns[0].Exec(ctx, "CREATE TABLE only_here (id int)"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := conns[1].QueryRow(ctx, "SELECT to_regclass('only_here') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table created in %s visible in %s: %v, %v", db0, db1, exists, err)
	}
}

func TestNewDBInParallel(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			conn, err := pgx.Connect(t.Context(), pgtest.NewDB(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(t.Context(), "SELECT $1::int FROM orders", i); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// fatalRecorder catches the Fatalf of Cluster instead of failing the test.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestCluster(t *testing.T) {
	t.Parallel()
	rec := &fatalRecorder{TB: t}
	var pg *devstack.Postgres
	done := make(chan struct{})
	go func() {
		defer close(done)
		pg = pgtest.Cluster(rec)
	}()
	<-done

	if os.Getenv(pgtest.EnvDatabaseURL) != "" {
		// Documented: no throwaway cluster with an external server.
		if rec.fatal == "" {
			t.Fatalf("Cluster returned %v with %s set, want a fatal error", pg, pgtest.EnvDatabaseURL)
		}
		return
	}
	if rec.fatal != "" {
		t.Fatal(rec.fatal)
	}
	conn, err := pgx.Connect(t.Context(), pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The cluster is the one NewDB uses: its databases are listed there.
	u, err := url.Parse(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || !exists {
		t.Fatalf("database %s of NewDB not on Cluster(): %v, %v", name, exists, err)
	}
}
