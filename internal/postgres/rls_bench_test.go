package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
	"github.com/orderstream/orderstream/migrations"
)

// BenchmarkCreateBatchPolicies times one batch statement of 64 creates
// (the combiner's InsertOrdersWithEvents, 64 users) as the API's login,
// under the row-level security policies of migration 000006, which read
// the settings in every row's checks (restored with 000007's down file),
// and under those of 000007, which read them once per statement.
// docs/BENCHMARKS.md, "Row-level security: the settings once per statement":
//
//	go test -run '^$' -bench CreateBatchPolicies -benchtime 200x -count 3 ./internal/postgres/
func BenchmarkCreateBatchPolicies(b *testing.B) {
	down, err := migrations.FS.ReadFile("000007_rls_settings_once_per_statement.down.sql")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("per-row-000006", func(b *testing.B) { benchCreateBatch(b, string(down)) })
	b.Run("per-statement-000007", func(b *testing.B) { benchCreateBatch(b, "") })
}

// benchCreateBatch times one batch statement of 64 creates of 64 users as
// the API's login, on a fresh database where ownerSQL ("" for none) has
// run as the owner first, and reports µs per order.
func benchCreateBatch(b *testing.B, ownerSQL string) {
	const size = 64
	ctx := context.Background()
	urls := pgtest.NewDBs(b)
	if ownerSQL != "" {
		owner, err := postgres.Open(ctx, urls.Owner, 1)
		if err != nil {
			b.Fatal(err)
		}
		_, err = owner.Exec(ctx, ownerSQL)
		owner.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	pool, err := postgres.Open(ctx, urls.API, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	it := items("1.50", "4.99")
	ins := make([]order.CreateInput, size)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range ins {
			n++
			ins[i] = order.CreateInput{ExternalID: fmt.Sprintf("batch-%d", n), UserID: uuid.NewString(), Items: it}
		}
		got, err := store.InsertBatch(ctx, ins)
		if err != nil {
			b.Fatal(err)
		}
		if got != size {
			b.Fatalf("the batch inserted %d orders; want %d", got, size)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/order")
}
