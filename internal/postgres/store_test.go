package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// roleStore sends each call to a Store on the database role that makes it
// in production: the API's calls (the embedded Store) as the API login,
// which row-level security binds, and the worker's as the worker login.
type roleStore struct {
	*postgres.Store
	worker *postgres.Store
	// apiURL and workerURL are the logins of the two roles.
	apiURL, workerURL string
	apiPool           *pgxpool.Pool // the API's (newStore only)
	ownerPool         *pgxpool.Pool // the owner's, to read what the API's messages carry (newStore only)
}

// process runs keys through the worker's use case on the worker's store:
// the path production takes (PROCESSING, then the apply transaction), with
// the items hint a create's message carries (kafka.EncodeEvent: a create's
// items as the API encodes them), so that creates take the one-round-trip
// path as they do in production.
func (s roleStore) process(ctx context.Context, keys ...order.EventKey) ([]order.Answer, error) {
	return (&order.Processor{Store: s.worker}).Process(ctx, keys, s.hints(ctx, keys))
}

// processGeneral is process without the messages' items hints: every key
// takes the general path (read, plan, save), as messages of earlier
// versions and those whose hint does not match do.
func (s roleStore) processGeneral(ctx context.Context, keys ...order.EventKey) ([]order.Answer, error) {
	return (&order.Processor{Store: s.worker}).Process(ctx, keys, nil)
}

// hints returns, for each key of event 0 of a stored create, the items' JSON
// its message carries.
func (s roleStore) hints(ctx context.Context, keys []order.EventKey) [][]byte {
	if s.ownerPool == nil {
		return nil
	}
	hints := make([][]byte, len(keys))
	for i, k := range keys {
		if k.EventID != 0 {
			continue
		}
		var payload []byte
		err := s.ownerPool.QueryRow(ctx, "SELECT payload->'items' FROM order_events WHERE order_id = $1 AND event_id = 0 AND type = 'create'", k.OrderID).Scan(&payload)
		if err != nil {
			continue // no such create: the message carries no items
		}
		var it []order.Item
		if err := json.Unmarshal(payload, &it); err != nil {
			panic(err)
		}
		if hints[i], err = json.Marshal(it); err != nil {
			panic(err)
		}
	}
	return hints
}

// processOne is process for one message; it returns its ACK.
func (s roleStore) processOne(ctx context.Context, orderID int64, eventID int) (order.Ack, error) {
	answers, err := s.process(ctx, order.EventKey{OrderID: orderID, EventID: eventID})
	if err != nil {
		return order.Ack{}, err
	}
	return answers[0].Ack, nil
}

// acksOf returns the ACKs of answers.
func acksOf(answers []order.Answer, err error) ([]order.Ack, error) {
	acks := make([]order.Ack, len(answers))
	for i, a := range answers {
		acks[i] = a.Ack
	}
	return acks, err
}

// markProcessing runs the worker's batch with a plan that applies nothing:
// only the PROCESSING step has an effect.
func (s roleStore) markProcessing(ctx context.Context, keys ...order.EventKey) error {
	_, err := s.worker.ProcessBatch(ctx, keys, func([]order.Pending) (order.Plan, error) { return order.Plan{}, nil })
	return err
}

func (s roleStore) MarkFailed(ctx context.Context, orderID int64, reason string) error {
	return s.worker.MarkFailed(ctx, orderID, reason)
}

// newStore returns the stores of a fresh database, a pool on it as the
// owner (a superuser: it sees every row, for checks) and the owner's URL.
func newStore(t *testing.T) (roleStore, *pgxpool.Pool, string) {
	t.Helper()
	urls := pgtest.NewDBs(t)
	open := func(url string) *pgxpool.Pool {
		pool, err := postgres.Open(context.Background(), url, 32)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
	apiPool, ownerPool := open(urls.API), open(urls.Owner)
	api, worker := postgres.NewStore(apiPool), postgres.NewStore(open(urls.Worker))
	return roleStore{Store: api, worker: worker, apiURL: urls.API, workerURL: urls.Worker, apiPool: apiPool, ownerPool: ownerPool}, ownerPool, urls.Owner
}

func items(prices ...string) []order.Item {
	var out []order.Item
	for i, p := range prices {
		d, err := order.ParseDecimal(p)
		if err != nil {
			panic(err)
		}
		out = append(out, order.Item{Name: "item " + string(rune('A'+i)), Quantity: int64(i + 1), Price: d})
	}
	return out
}

func create(t *testing.T, s roleStore, ext, user string, it []order.Item) (order.Order, order.Event, bool) {
	t.Helper()
	total, _ := order.Total(it)
	o, ev, created, err := s.CreateOrder(context.Background(), order.CreateInput{ExternalID: ext, UserID: user, Items: it}, total)
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o, ev, created
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateOrder(t *testing.T) {
	s, pool, _ := newStore(t)
	user := uuid.NewString()

	t.Run("OK", func(t *testing.T) {
		o, ev, created := create(t, s, "shop-1", user, items("29.99", "0.10"))
		if !created {
			t.Fatal("created = false; want true")
		}
		if o.Status != order.StatusNew || o.EventID != 0 || o.AppliedEventID != -1 {
			t.Errorf("got status %s event %d applied %d; want NEW 0 -1", o.Status, o.EventID, o.AppliedEventID)
		}
		if o.Total.String() != "30.19" {
			t.Errorf("got total %s; want 30.19", o.Total)
		}
		if ev.OrderID != o.ID || ev.EventID != 0 || ev.Type != order.EventCreate || !order.SameItems(ev.Items, o.Items) {
			t.Errorf("got event %+v; want create event 0 of order %d", ev, o.ID)
		}
		// The returned order is not read back from the row's JSON: it must
		// be the stored one all the same.
		stored, err := s.OrderByExternalID(context.Background(), "shop-1", user)
		if err != nil || !reflect.DeepEqual(stored, o) {
			t.Errorf("stored %+v, %v; want the returned %+v", stored, err, o)
		}
		if n := count(t, pool, `SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id
			WHERE o.id = $1 AND e.event_id = 0 AND e.payload = jsonb_build_object('items', o.items)`, o.ID); n != 1 {
			t.Errorf("%d create events whose payload holds the order's items; want 1", n)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		first, _, _ := create(t, s, "shop-2", user, items("1.00"))
		again, ev, created := create(t, s, "shop-2", user, items("5.00"))
		if created {
			t.Fatal("created = true on the second create; want false")
		}
		if again.ID != first.ID {
			t.Errorf("got id %d; want %d", again.ID, first.ID)
		}
		if !order.SameItems(ev.Items, items("1.00")) {
			t.Errorf("got create event items %+v; want the original ones", ev.Items)
		}
		if n := count(t, pool, "select count(*) from order_events where order_id = $1", first.ID); n != 1 {
			t.Errorf("got %d events; want 1", n)
		}
	})

	t.Run("ConcurrentSameCreate", func(t *testing.T) {
		const n = 32
		var wg sync.WaitGroup
		ids := make([]int64, n)
		createdCount := 0
		var mu sync.Mutex
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, _, created := create(t, s, "race", user, items("2.50"))
				mu.Lock()
				defer mu.Unlock()
				ids[i] = o.ID
				if created {
					createdCount++
				}
			}()
		}
		wg.Wait()
		if createdCount != 1 {
			t.Errorf("got %d creators; want exactly 1", createdCount)
		}
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("got different ids %v; want one order", ids)
			}
		}
		if c := count(t, pool, "select count(*) from orders where external_id = 'race'"); c != 1 {
			t.Errorf("got %d rows; want 1", c)
		}
	})
}

func TestUserIsolation(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	alice, bob := uuid.NewString(), uuid.NewString()
	mine, _, _ := create(t, s, "ext-1", alice, items("10.00"))

	if _, err := s.OrderByExternalID(ctx, "ext-1", bob); order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("bob reads alice's order: got err %v; want NOT_FOUND", err)
	}
	_, _, err := s.AppendEvent(ctx, "ext-1", bob, func(order.Order) (*order.Event, error) {
		t.Error("decide called for another user's order")
		return &order.Event{Type: order.EventCancel}, nil
	})
	if order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("bob cancels alice's order: got err %v; want NOT_FOUND", err)
	}
	theirs, _, created := create(t, s, "ext-1", bob, items("99.00"))
	if !created || theirs.ID == mine.ID {
		t.Errorf("bob's own ext-1: created=%v id=%d (alice's %d); want a new order", created, theirs.ID, mine.ID)
	}
	got, err := s.OrderByExternalID(ctx, "ext-1", alice)
	if err != nil || got.ID != mine.ID || got.Total.String() != "10.00" {
		t.Errorf("alice reads ext-1: got %+v, %v; want her order unchanged", got, err)
	}
}

func appendEvent(t *testing.T, s roleStore, o order.Order, ev order.Event) order.Event {
	t.Helper()
	_, stored, err := s.AppendEvent(context.Background(), o.ExternalID, o.UserID, func(order.Order) (*order.Event, error) { return &ev, nil })
	if err != nil {
		t.Fatalf("AppendEvent: %v", err)
	}
	return *stored
}

func TestApplyEvents(t *testing.T) {
	ctx := context.Background()

	t.Run("AppliesOnce", func(t *testing.T) {
		s, _, _ := newStore(t)
		o, _, _ := create(t, s, "once", uuid.NewString(), items("3.00"))
		ack, err := s.processOne(ctx, o.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Outcome.OK || ack.Duplicate || ack.Order.Status != order.StatusDone || ack.Order.AppliedEventID != 0 {
			t.Fatalf("got ack %+v; want OK, DONE, applied 0", ack)
		}
		time.Sleep(10 * time.Millisecond)
		again, err := s.processOne(ctx, o.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || !again.Outcome.OK {
			t.Errorf("got redelivery ack %+v; want a duplicate OK ack", again)
		}
		if !again.Order.UpdatedAt.Equal(ack.Order.UpdatedAt) {
			t.Errorf("redelivery changed the row: updated_at %v -> %v", ack.Order.UpdatedAt, again.Order.UpdatedAt)
		}
	})

	t.Run("PendingInOrder", func(t *testing.T) {
		s, pool, _ := newStore(t)
		o, _, _ := create(t, s, "seq", uuid.NewString(), items("1.00"))
		appendEvent(t, s, o, order.Event{Type: order.EventUpdate, Items: items("2.00", "3.00")})
		appendEvent(t, s, o, order.Event{Type: order.EventCancel, Reason: "changed my mind"})
		// The message of event 1 arrives first: events 0..2 are applied, in order.
		ack, err := s.processOne(ctx, o.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Outcome.OK || ack.Order.Status != order.StatusCancelled || ack.Order.AppliedEventID != 2 {
			t.Fatalf("got %+v; want OK and CANCELLED with all 3 events applied", ack)
		}
		if ack.Order.Total.String() != "8.00" || ack.Order.CancelReason != "changed my mind" {
			t.Errorf("got total %s reason %q; want 8.00 (update applied before cancel) and the reason", ack.Order.Total, ack.Order.CancelReason)
		}
		for _, id := range []int{0, 2} {
			dup, err := s.processOne(ctx, o.ID, id)
			if err != nil || !dup.Duplicate || !dup.Outcome.OK {
				t.Errorf("late message of event %d: got %+v, %v; want a duplicate OK ack", id, dup, err)
			}
		}
		if n := count(t, pool, "select count(*) from order_events where order_id = $1 and applied_at is null", o.ID); n != 0 {
			t.Errorf("got %d unapplied events; want 0", n)
		}
	})

	t.Run("NackUpdateAfterCancel", func(t *testing.T) {
		s, _, _ := newStore(t)
		o, _, _ := create(t, s, "nack", uuid.NewString(), items("4.00"))
		appendEvent(t, s, o, order.Event{Type: order.EventCancel})
		// The API refuses this; a stale client or a bug must still not apply it.
		ev := appendEvent(t, s, o, order.Event{Type: order.EventUpdate, Items: items("9.00")})
		ack, err := s.processOne(ctx, o.ID, ev.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Outcome.OK || ack.Outcome.Code != order.ECONFLICT || ack.Outcome.Reason == "" {
			t.Errorf("got outcome %+v; want a CONFLICT nack with a reason", ack.Outcome)
		}
		if ack.Order.Status != order.StatusCancelled || ack.Order.Total.String() != "4.00" {
			t.Errorf("got %s total %s; want CANCELLED with the items unchanged", ack.Order.Status, ack.Order.Total)
		}
		dup, err := s.processOne(ctx, o.ID, ev.EventID)
		if err != nil || !dup.Duplicate || dup.Outcome != ack.Outcome {
			t.Errorf("redelivered nack: got %+v, %v; want the same outcome again", dup, err)
		}
	})

	t.Run("UnknownOrder", func(t *testing.T) {
		s, _, _ := newStore(t)
		answers, err := s.process(ctx, order.EventKey{OrderID: 424242, EventID: 0})
		if err != nil {
			t.Fatal(err)
		}
		a := answers[0]
		if a.Ack.Outcome.OK || a.Ack.Outcome.Code != order.EPROCESSING || !strings.Contains(a.DeadLetter, "does not exist") {
			t.Errorf("got %+v; want a PROCESSING_FAILED nack to dead-letter", a)
		}
	})

	t.Run("NeverAccepted", func(t *testing.T) {
		s, _, _ := newStore(t)
		o, _, _ := create(t, s, "future", uuid.NewString(), items("1.00"))
		answers, err := s.process(ctx, order.EventKey{OrderID: o.ID, EventID: 5})
		if err != nil {
			t.Fatal(err)
		}
		a := answers[0]
		// The message still triggers the order's pending, accepted events.
		if a.Ack.Outcome.OK || a.Ack.Order.AppliedEventID != 0 || a.Ack.Order.EventID != 0 || !strings.Contains(a.DeadLetter, "never accepted") {
			t.Errorf("got %+v; want a nack to dead-letter, and only the accepted event 0 applied", a)
		}
	})
}

// TestMarkProcessing: the batch commits PROCESSING before its apply
// transaction (readers see it while the worker holds the locks), and a
// redelivery does not mark an applied order again.
func TestMarkProcessing(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	o, _, _ := create(t, s, "proc", uuid.NewString(), items("1.00"))
	var during order.Order
	_, err := s.worker.ProcessBatch(ctx, []order.EventKey{{OrderID: o.ID, EventID: 0}}, func(p []order.Pending) (order.Plan, error) {
		var err error
		during, err = s.OrderByExternalID(ctx, o.ExternalID, o.UserID) // another connection, as the API
		return order.PlanBatch([]order.EventKey{{OrderID: o.ID, EventID: 0}}, p, time.Now()), err
	})
	if err != nil {
		t.Fatal(err)
	}
	if during.Status != order.StatusProcessing {
		t.Fatalf("during the batch: got %s; want PROCESSING", during.Status)
	}
	if err := s.markProcessing(ctx, order.EventKey{OrderID: o.ID, EventID: 0}); err != nil { // redelivery: no change
		t.Fatal(err)
	}
	got, _ := s.OrderByExternalID(ctx, o.ExternalID, o.UserID)
	if got.Status != order.StatusDone {
		t.Errorf("redelivered event set %s; want DONE kept", got.Status)
	}
}

// TestMigrateConcurrently starts four migrations of an empty database at
// once, as several instances starting together do: one applies them, the
// others wait on golang-migrate's lock and find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	_, pool, url := newStore(t)
	ctx := context.Background()
	name := "empty_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = postgres.Migrate(u.String()) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	empty, err := postgres.Open(ctx, u.String(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	var version int
	var dirty bool
	if err := empty.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if version < 3 || dirty {
		t.Errorf("got schema version %d dirty=%v; want every migration applied, clean", version, dirty)
	}
	if n := count(t, empty, "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('orders', 'order_events')"); n != 2 {
		t.Errorf("got %d of the 2 tables; want both", n)
	}
}

func TestUnavailable(t *testing.T) {
	pool, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = postgres.NewStore(pool).OrderByExternalID(context.Background(), "x", uuid.NewString())
	if order.ErrorCode(err) != order.EUNAVAILABLE {
		t.Errorf("got %v; want UNAVAILABLE", err)
	}
}

// TestApplyMany applies a batch that mixes new events, several events of one
// order, a redelivery and an unknown order, and checks each ACK and that
// every event is applied exactly once.
func TestApplyMany(t *testing.T) {
	ctx := context.Background()
	s, pool, _ := newStore(t)
	user := uuid.NewString()
	a, _, _ := create(t, s, "a", user, items("1.00"))
	b, _, _ := create(t, s, "b", user, items("2.00"))
	if _, err := s.processOne(ctx, b.ID, 0); err != nil { // b's creation is applied already
		t.Fatal(err)
	}
	upd := appendEvent(t, s, a, order.Event{Type: order.EventUpdate, Items: items("5.00")})
	c, _, _ := create(t, s, "c", user, items("3.00"))
	appendEvent(t, s, c, order.Event{Type: order.EventCancel, Reason: "r"})

	k := func(id int64, ev int) order.EventKey { return order.EventKey{OrderID: id, EventID: ev} }
	keys := []order.EventKey{k(c.ID, 1), k(a.ID, 0), k(b.ID, 0), k(a.ID, upd.EventID), k(99999, 0), k(c.ID, 0)}
	acks, err := acksOf(s.process(ctx, keys...))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ok, dup bool
		status  order.Status
		total   string
	}{
		{true, false, order.StatusCancelled, "3.00"},
		{true, false, order.StatusDone, "5.00"},
		{true, true, order.StatusDone, "2.00"},
		{true, false, order.StatusDone, "5.00"},
		{false, false, "", "0.00"},
		{true, false, order.StatusCancelled, "3.00"},
	}
	for i, w := range want {
		got := acks[i]
		if got.Outcome.OK != w.ok || got.Duplicate != w.dup || got.Order.Status != w.status || got.Order.Total.String() != w.total {
			t.Errorf("ack %d (%+v): got ok=%v dup=%v %s %s; want ok=%v dup=%v %s %s", i, keys[i],
				got.Outcome.OK, got.Duplicate, got.Order.Status, got.Order.Total, w.ok, w.dup, w.status, w.total)
		}
	}
	if n := count(t, pool, "select count(*) from order_events where apply_count <> 1"); n != 0 {
		t.Errorf("got %d events not applied exactly once; want 0", n)
	}
	again, err := acksOf(s.process(ctx, keys...))
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys[:4] {
		if !again[i].Duplicate || again[i].Outcome != acks[i].Outcome {
			t.Errorf("redelivered batch, ack %d: got %+v; want a duplicate with the same outcome", i, again[i])
		}
	}
	if n := count(t, pool, "select count(*) from order_events where apply_count <> 1"); n != 0 {
		t.Errorf("after redelivery: %d events not applied exactly once; want 0", n)
	}
}

// TestSaveItems: one worker batch keeps the stored items of a create and of
// an update to the same items (the save sends none for them) and writes
// those of an update that changes them; each ACK's order has the items that
// are stored.
func TestSaveItems(t *testing.T) {
	ctx := context.Background()
	s, pool, _ := newStore(t)
	user := uuid.NewString()
	a, _, _ := create(t, s, "created", user, items("1.00"))
	b, _, _ := create(t, s, "changed", user, items("2.00"))
	c, _, _ := create(t, s, "same", user, items("3.00", "4.00"))
	if _, err := s.process(ctx, order.EventKey{OrderID: b.ID}, order.EventKey{OrderID: c.ID}); err != nil {
		t.Fatal(err)
	}
	changed := []order.Item{{Name: "new", Quantity: 7, Price: 150}}
	bu := appendEvent(t, s, b, order.Event{Type: order.EventUpdate, Items: changed})
	cu := appendEvent(t, s, c, order.Event{Type: order.EventUpdate, Items: c.Items})
	acks, err := acksOf(s.process(ctx, order.EventKey{OrderID: a.ID}, order.EventKey{OrderID: b.ID, EventID: bu.EventID},
		order.EventKey{OrderID: c.ID, EventID: cu.EventID}))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []struct {
		id    int64
		items []order.Item
		json  string
	}{
		{a.ID, a.Items, `[{"name": "item A", "price": 1.00, "quantity": 1}]`},
		{b.ID, changed, `[{"name": "new", "price": 1.50, "quantity": 7}]`},
		{c.ID, c.Items, `[{"name": "item A", "price": 3.00, "quantity": 1}, {"name": "item B", "price": 4.00, "quantity": 2}]`},
	} {
		var stored, status string
		if err := pool.QueryRow(ctx, "select items::text, status from orders where id = $1", w.id).Scan(&stored, &status); err != nil {
			t.Fatal(err)
		}
		if stored != w.json || status != string(order.StatusDone) {
			t.Errorf("order %d: stored %s %s; want %s DONE", i, stored, status, w.json)
		}
		if got := acks[i]; !got.Outcome.OK || got.Order.ID != w.id || !reflect.DeepEqual(got.Order.Items, w.items) {
			t.Errorf("ack %d: got %+v; want OK with items %+v", i, got, w.items)
		}
	}
}

// TestPendingEventItems: the worker decodes a create's items once. Its
// payload holds the very items of the order's row, and PostgreSQL writes
// both jsonb values alike, so the event takes the items decoded from the
// row; an event with other items has them decoded from its payload.
func TestPendingEventItems(t *testing.T) {
	ctx := context.Background()
	s, pool, _ := newStore(t)
	user := uuid.NewString()
	a, _, _ := create(t, s, "one", user, items("1.00", "2.50"))
	b, _, _ := create(t, s, "two", user, items("3.00"))
	if _, err := s.process(ctx, order.EventKey{OrderID: b.ID}); err != nil {
		t.Fatal(err)
	}
	changed := []order.Item{{Name: "new", Quantity: 7, Price: 150}}
	appendEvent(t, s, b, order.Event{Type: order.EventUpdate, Items: changed})
	pending, err := postgres.Pending(ctx, pool, []int64{a.ID, b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || len(pending[0].Events) != 1 || len(pending[1].Events) != 1 {
		t.Fatalf("pending %+v; want orders %d and %d with one event each", pending, a.ID, b.ID)
	}
	created, updated := pending[0], pending[1]
	if ev := created.Events[0]; !reflect.DeepEqual(ev.Items, a.Items) || &ev.Items[0] != &created.Order.Items[0] {
		t.Errorf("create: items %+v (shared with the order's: %v); want %+v, the order's own, not decoded again",
			ev.Items, len(ev.Items) > 0 && &ev.Items[0] == &created.Order.Items[0], a.Items)
	}
	if ev := updated.Events[0]; !reflect.DeepEqual(ev.Items, changed) || !reflect.DeepEqual(updated.Order.Items, b.Items) {
		t.Errorf("update: event items %+v, order items %+v; want %+v and %+v", ev.Items, updated.Order.Items, changed, b.Items)
	}
}

func TestListOrders(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	var ids []int64
	for i := range 5 {
		o, _, _ := create(t, s, fmt.Sprintf("a-%d", i), alice, items("1.00"))
		ids = append(ids, o.ID)
	}
	create(t, s, "b-0", bob, items("1.00"))
	if _, err := s.processOne(ctx, ids[1], 0); err != nil { // a-1 becomes DONE
		t.Fatal(err)
	}

	var got []int64
	var after *order.Cursor
	for page := 0; page < 4; page++ {
		orders, err := s.ListOrders(ctx, order.ListQuery{UserID: alice, Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) == 0 {
			break
		}
		for _, o := range orders {
			got = append(got, o.ID)
		}
		last := orders[len(orders)-1]
		after = &order.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages of 2: got ids %v; want %v (newest first, each once)", got, want)
	}
	done, err := s.ListOrders(ctx, order.ListQuery{UserID: alice, Status: order.StatusDone, Limit: 10})
	if err != nil || len(done) != 1 || done[0].ID != ids[1] {
		t.Errorf("status DONE: got %v, %v; want only order %d", done, err, ids[1])
	}
	o, err := s.OrderByID(ctx, ids[0], bob)
	if order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("bob reads alice's order by id: got %+v, %v; want NOT_FOUND", o, err)
	}
}

func TestCreatePayloadIsTheEncodedPayload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []order.Item
	}{
		{"OK", items("29.99", "0.10", "1")},
		{"Escapes", []order.Item{{Name: "<b>&\"\\\n é 😀 \u2028", Quantity: 3, Price: 105}}},
		{"None", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := postgres.CreatePayload(tc.items)
			if err != nil {
				t.Fatal(err)
			}
			want, err := postgres.MarshalPayload(tc.items)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got %s; want %s", got, want)
			}
		})
	}
}
