package postgres_test

import "testing"

// BenchmarkCreateBatchIntegrity prices a guarantee kept: the foreign key
// from order_events (order_id, user_id) to orders (id, user_id), which
// makes PostgreSQL check each event's order and user (and lock that order
// row FOR KEY SHARE), and the unique index orders (id, user_id) it needs.
// It times one batch statement of 64 creates, as the API's login, with
// the schema as migrated and, for comparison only, without the key and
// without the key and its index. docs/BENCHMARKS.md, "This session's
// changes: before and after":
//
//	go test -run '^$' -bench CreateBatchIntegrity -benchtime 200x -count 3 ./internal/postgres/
func BenchmarkCreateBatchIntegrity(b *testing.B) {
	const dropKey = "ALTER TABLE order_events DROP CONSTRAINT order_events_order_id_user_id_fkey"
	b.Run("as-migrated", func(b *testing.B) { benchCreateBatch(b, "") })
	b.Run("without-foreign-key", func(b *testing.B) { benchCreateBatch(b, dropKey) })
	b.Run("without-foreign-key-and-its-index", func(b *testing.B) {
		benchCreateBatch(b, dropKey+"; ALTER TABLE orders DROP CONSTRAINT orders_id_user_id_key")
	})
}
