package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/config"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m, kafkatest.Shutdown) }

func testLogger() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// stack is the pipeline in one process: a running worker (its real run
// function) and API-side services, against the throwaway PostgreSQL and broker.
type stack struct {
	urls   pgtest.URLs
	broker *kafkatest.Broker
	pool   *pgxpool.Pool   // as the owner, for checks that see every row
	store  *postgres.Store // the API's, as its role (row-level security)
}

func newStack(t *testing.T) *stack {
	t.Helper()
	st := &stack{urls: pgtest.NewDBs(t), broker: kafkatest.New(t)}
	var err error
	if st.pool, err = postgres.Open(context.Background(), st.urls.Owner, 4); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.pool.Close)
	api, err := postgres.Open(context.Background(), st.urls.API, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	st.store = postgres.NewStore(api)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config.DefaultWorker()
	cfg.DatabaseURL, cfg.MigrateURL, cfg.DBMaxConns, cfg.Brokers, cfg.OrdersTopic = st.urls.Worker, st.urls.Owner, 8, st.broker.Brokers, st.broker.OrdersTopic
	cfg.Group, cfg.StartupTimeout, cfg.LogLevel = "test-"+uuid.NewString()[:8], 30*time.Second, "debug"
	cfg.DLQTopic, cfg.AcksTopic, cfg.MaxAttempts, cfg.MergeLoops = st.broker.DLQTopic, st.broker.AcksTopic, 3, 2
	go func() { done <- run(ctx, cfg, testLogger()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("worker did not stop within 30 s")
		}
	})
	return st
}

// requester starts an API-side requester reading reply partition p (-1: hashed).
func (st *stack) requester(t *testing.T, instance string, p int32) *kafka.Requester {
	t.Helper()
	r, err := kafka.NewRequester(kafka.RequesterConfig{
		Brokers: st.broker.Brokers, Topic: st.broker.OrdersTopic, AckTopic: st.broker.AcksTopic,
		InstanceID: instance, ReplyPartition: p, Log: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// service is an API's service, configured as server.go does.
func (st *stack) service(t *testing.T, instance string) *order.Service {
	svc := order.NewService(st.store, st.requester(t, instance, -1), testLogger())
	svc.MaxMessageBytes = config.DefaultKafkaMaxMessageBytes
	return svc
}

func items(prices ...string) []order.Item {
	var out []order.Item
	for i, p := range prices {
		d, err := order.ParseDecimal(p)
		if err != nil {
			panic(err)
		}
		out = append(out, order.Item{Name: fmt.Sprintf("item %d", i), Quantity: int64(i + 1), Price: d})
	}
	return out
}

func TestPipeline(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	ctx := context.Background()
	user := uuid.NewString()

	o, created, err := svc.Create(ctx, order.CreateInput{ExternalID: "shop-1", UserID: user, Items: items("29.99")})
	if err != nil {
		t.Fatal(err)
	}
	if !created || o.Status != order.StatusDone || o.EventID != 0 || o.Total.String() != "29.99" {
		t.Fatalf("create: got created=%v %s event %d total %s; want true DONE 0 29.99", created, o.Status, o.EventID, o.Total)
	}
	again, created, err := svc.Create(ctx, order.CreateInput{ExternalID: "shop-1", UserID: user, Items: items("29.99")})
	if err != nil || created || again.ID != o.ID {
		t.Fatalf("repeat create: got %d created=%v err=%v; want the same order", again.ID, created, err)
	}
	zero := 0
	o, err = svc.Update(ctx, order.UpdateInput{ExternalID: "shop-1", UserID: user, Items: items("1.00", "2.00"), ExpectedEventID: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != order.StatusDone || o.EventID != 1 || o.Total.String() != "5.00" {
		t.Fatalf("update: got %s event %d total %s; want DONE 1 5.00", o.Status, o.EventID, o.Total)
	}
	if _, err = svc.Update(ctx, order.UpdateInput{ExternalID: "shop-1", UserID: user, Items: items("1.00"), ExpectedEventID: &zero}); order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("stale update: got %v; want CONFLICT", err)
	}
	o, err = svc.Cancel(ctx, order.CancelInput{ExternalID: "shop-1", UserID: user, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != order.StatusCancelled || o.EventID != 2 {
		t.Fatalf("cancel: got %s event %d; want CANCELLED 2", o.Status, o.EventID)
	}
	o2, err := svc.Cancel(ctx, order.CancelInput{ExternalID: "shop-1", UserID: user})
	if err != nil || o2.EventID != 2 || !o2.UpdatedAt.Equal(o.UpdatedAt) {
		t.Fatalf("cancel again: got event %d updated %v err %v; want it unchanged", o2.EventID, o2.UpdatedAt, err)
	}
	if _, err := svc.Update(ctx, order.UpdateInput{ExternalID: "shop-1", UserID: user, Items: items("1.00")}); order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("update after cancel: got %v; want CONFLICT", err)
	}
	if _, err := svc.ByExternalID(ctx, "shop-1", uuid.NewString()); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("another user's lookup: got %v; want NOT_FOUND", err)
	}
}

func TestRedeliveredEventChangesNothing(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	req := st.requester(t, "replayer", -1)
	ctx := context.Background()
	o, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "dup", UserID: uuid.NewString(), Items: items("7.00")})
	if err != nil {
		t.Fatal(err)
	}
	ev := order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: o.Items}
	for i := range 3 {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ack, err := req.Dispatch(dctx, ev)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Duplicate || !ack.Outcome.OK || ack.Order.EventID != 0 || !ack.Order.UpdatedAt.Equal(o.UpdatedAt) {
			t.Fatalf("redelivery %d: got %+v; want a duplicate OK ack with the order unchanged", i, ack)
		}
	}
	var events, applied int
	if err := st.pool.QueryRow(ctx, "select count(*), count(applied_at) from order_events where order_id = $1", o.ID).Scan(&events, &applied); err != nil {
		t.Fatal(err)
	}
	if events != 1 || applied != 1 {
		t.Errorf("got %d events (%d applied); want 1 (1)", events, applied)
	}
}

// TestForgedCreateItems: a create's message carries its items only as a
// plan for the worker, through the real broker and consumer group. A
// message that names a stored create with other items (forged, or from a
// buggy producer) applies the stored items, and a second one changes
// nothing.
func TestForgedCreateItems(t *testing.T) {
	st := newStack(t)
	req := st.requester(t, "forger", -1)
	ctx := context.Background()
	stored := items("7.00")
	total, _ := order.Total(stored)
	// Stored by the API's store but not dispatched: the order waits, NEW.
	o, _, _, err := st.store.CreateOrder(ctx, order.CreateInput{ExternalID: "forged", UserID: uuid.NewString(), Items: stored}, total)
	if err != nil {
		t.Fatal(err)
	}
	forged := order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: items("0.01", "0.01")}
	for i, wantDup := range []bool{false, true} {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ack, err := req.Dispatch(dctx, forged)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Outcome.OK || ack.Duplicate != wantDup || ack.Order.Status != order.StatusDone || ack.Order.Total != total || len(ack.Order.Items) != 1 {
			t.Fatalf("forged message %d: got %+v; want OK (duplicate: %v), the order DONE with its stored items, total %s", i, ack, wantDup, total)
		}
	}
	var dbTotal string
	var applies int
	if err := st.pool.QueryRow(ctx, "select o.total::text, e.apply_count from orders o join order_events e on e.order_id = o.id where o.id = $1", o.ID).Scan(&dbTotal, &applies); err != nil {
		t.Fatal(err)
	}
	if dbTotal != total.String() || applies != 1 {
		t.Errorf("stored: total %s, event 0 applied %d times; want %s, once", dbTotal, applies, total)
	}
}

func TestNegativeAck(t *testing.T) {
	st := newStack(t)
	svc := st.service(t, "api-1")
	req := st.requester(t, "direct", -1)
	ctx := context.Background()
	user := uuid.NewString()
	if _, _, err := svc.Create(ctx, order.CreateInput{ExternalID: "neg", UserID: user, Items: items("1.00")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Cancel(ctx, order.CancelInput{ExternalID: "neg", UserID: user}); err != nil {
		t.Fatal(err)
	}
	// An update that slipped past the API's check (as a stale client or a bug could).
	_, ev, err := st.store.AppendEvent(ctx, "neg", user, func(order.Order) (*order.Event, error) {
		return &order.Event{Type: order.EventUpdate, Items: items("9.99")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ack, err := req.Dispatch(dctx, *ev)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Outcome.OK || ack.Outcome.Code != order.ECONFLICT || ack.Outcome.Reason == "" {
		t.Fatalf("got outcome %+v; want a CONFLICT nack with a reason", ack.Outcome)
	}
	if ack.Order.Status != order.StatusCancelled || ack.Order.Total.String() != "1.00" {
		t.Errorf("got %s total %s; want CANCELLED and the items unchanged", ack.Order.Status, ack.Order.Total)
	}
	// An event for an order that does not exist is answered too, not retried forever.
	ack, err = req.Dispatch(dctx, order.Event{OrderID: 987654, EventID: 0, Type: order.EventCreate, Items: items("1.00")})
	if err != nil || ack.Outcome.OK || ack.Outcome.Code != order.EPROCESSING {
		t.Fatalf("unknown order: got %+v, %v; want a PROCESSING_FAILED nack", ack.Outcome, err)
	}
	// ... and dead-lettered with the reason.
	if m := st.deadLetters(t, 1)[0]; !strings.Contains(kafka.Header(m, kafka.HeaderDLQReason), "order 987654 does not exist") {
		t.Errorf("dead letter of the unknown order: reason %q", kafka.Header(m, kafka.HeaderDLQReason))
	}
}

// TestAckReachesTheWaitingInstance runs three API instances, two of them on
// the same reply partition, and checks each request gets its own ACK.
func TestAckReachesTheWaitingInstance(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	svcs := []*order.Service{
		order.NewService(st.store, st.requester(t, "api-a", 0), testLogger()),
		order.NewService(st.store, st.requester(t, "api-b", 0), testLogger()),
		order.NewService(st.store, st.requester(t, "api-c", 3), testLogger()),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := svcs[i%len(svcs)]
			ext := fmt.Sprintf("multi-%d", i)
			o, _, err := svc.Create(ctx, order.CreateInput{ExternalID: ext, UserID: uuid.NewString(), Items: items(fmt.Sprintf("%d.00", i+1))})
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", ext, err)
			case o.ExternalID != ext || o.Status != order.StatusDone || o.Total.String() != fmt.Sprintf("%d.00", i+1):
				errs <- fmt.Errorf("%s: got the ACK of %s (%s, %s)", ext, o.ExternalID, o.Status, o.Total)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentIdenticalCreates sends the same createOrder from many
// callers at once, through two API instances: exactly one order exists, one
// caller created it, and every caller gets it DONE.
func TestConcurrentIdenticalCreates(t *testing.T) {
	st := newStack(t)
	svcs := []*order.Service{st.service(t, "api-a"), st.service(t, "api-b")}
	user := uuid.NewString()
	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		ids     = map[int64]int{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, c, err := svcs[i%2].Create(context.Background(), order.CreateInput{ExternalID: "same", UserID: user, Items: items("12.34")})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if o.Status != order.StatusDone || o.EventID != 0 {
				t.Errorf("caller %d: got %s event %d; want DONE 0", i, o.Status, o.EventID)
			}
			ids[o.ID]++
			if c {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 || len(ids) != 1 {
		t.Errorf("got %d creators and orders %v; want 1 creator and 1 order", created, ids)
	}
	var rows, events int
	if err := st.pool.QueryRow(context.Background(),
		"select (select count(*) from orders where external_id = 'same'), (select count(*) from order_events e join orders o on o.id = e.order_id where o.external_id = 'same')",
	).Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || events != 1 {
		t.Errorf("got %d orders and %d events; want 1 and 1", rows, events)
	}
}
