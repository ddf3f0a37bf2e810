package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
)

// BenchmarkCreateBatchIntegrity prices a guarantee kept: the foreign key
// from order_events (order_id, user_id) to orders (id, user_id), which
// makes PostgreSQL check each event's order and user (and lock that order
// row FOR KEY SHARE), and the unique index orders (id, user_id) it needs.
// It times one batch statement of 64 creates, as the API's login, with
// the schema as migrated and, for comparison only, without the key and
// without the key and its index. docs/BENCHMARKS.md, "What the foreign
// key of the events costs":
//
//	go test -run '^$' -bench CreateBatchIntegrity -benchtime 200x -count 3 ./internal/postgres/
func BenchmarkCreateBatchIntegrity(b *testing.B) {
	const size = 64
	for _, v := range []struct {
		name string
		ddl  string // run as the owner first
	}{
		{"as-migrated", ""},
		{"without-foreign-key", "ALTER TABLE order_events DROP CONSTRAINT order_events_order_id_user_id_fkey"},
		{"without-foreign-key-and-its-index", "ALTER TABLE order_events DROP CONSTRAINT order_events_order_id_user_id_fkey; ALTER TABLE orders DROP CONSTRAINT orders_id_user_id_key"},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			urls := pgtest.NewDBs(b)
			if v.ddl != "" {
				owner, err := postgres.Open(ctx, urls.Owner, 1)
				if err != nil {
					b.Fatal(err)
				}
				_, err = owner.Exec(ctx, v.ddl)
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
		})
	}
}
