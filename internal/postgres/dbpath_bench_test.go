package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
)

// BenchmarkOrderDatabasePath is the database part of one order, one at a
// time on real PostgreSQL as production's logins: the API's insert
// (Store.CreateOrder) and then the worker's batch (order.Processor.Process:
// PROCESSING, lock, save, commit), with the worker's plans made per
// execution (custom, as before WithKeyPlans) or once per connection
// (WithKeyPlans), and, as production runs, the create planned from the
// items its message carries and applied in one round trip (from-message). It reports the p50 of each part; the insert is the same
// code in both and shows the load of the moment. docs/BENCHMARKS.md,
// "Latency at 1 in flight":
//
//	go test -run '^$' -bench OrderDatabasePath -benchtime 1500x ./internal/postgres/
func BenchmarkOrderDatabasePath(b *testing.B) {
	customPlans := func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan" }
	for _, v := range []struct {
		name        string
		opt         postgres.Option
		fromMessage bool
	}{{"custom-plans", customPlans, false}, {"key-plans", postgres.WithKeyPlans(), false}, {"key-plans-from-message", postgres.WithKeyPlans(), true}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			urls := pgtest.NewDBs(b)
			open := func(url string, opts ...postgres.Option) *pgxpool.Pool {
				pool, err := postgres.Open(ctx, url, 4, opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(pool.Close)
				return pool
			}
			api := postgres.NewStore(open(urls.API))
			proc := &order.Processor{Store: postgres.NewStore(open(urls.Worker, v.opt))}
			users := make([]string, 100)
			for i := range users {
				users[i] = uuid.NewString()
			}
			it := items("1.50")
			total, _ := order.Total(it)
			one := func(i int) (insert, worker time.Duration) {
				t0 := time.Now()
				o, ev, _, err := api.CreateOrder(ctx, order.CreateInput{ExternalID: fmt.Sprintf("db-%d", i), UserID: users[i%len(users)], Items: it}, total)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				var hints [][]byte
				if v.fromMessage {
					hints = [][]byte{ev.ItemsJSON} // what kafka.EncodeEvent sends
				}
				answers, err := proc.Process(ctx, []order.EventKey{{OrderID: o.ID, EventID: ev.EventID}}, hints)
				if err != nil || len(answers) != 1 || answers[0].Ack.Order.Status != order.StatusDone || answers[0].FromMessage != v.fromMessage {
					b.Fatalf("process order %d: %+v, %v", o.ID, answers, err)
				}
				return t1.Sub(t0), time.Since(t1)
			}
			for i := range 200 { // warm the pools, caches and plans
				one(1_000_000 + i)
			}
			ins, wk := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				a, w := one(i)
				ins, wk = append(ins, a), append(wk, w)
			}
			b.ReportMetric(float64(median(ins).Microseconds()), "insert-p50-µs")
			b.ReportMetric(float64(median(wk).Microseconds()), "worker-p50-µs")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[len(s)/2]
}
