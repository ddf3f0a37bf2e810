package order_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

// fakeStore is an in-memory order.Store.
type fakeStore struct {
	mu     sync.Mutex
	nextID int64
	orders map[storeKey]order.Order
	events map[storeKey][]order.Event
	byID   map[int64]storeKey
	calls  int
	// onWrite, when set, runs at the start of CreateOrder and AppendEvent
	// with the context they got.
	onWrite func(ctx context.Context)
	// readErr, when set, is returned by OrderByExternalID.
	readErr error
}

type storeKey struct{ externalID, userID string }

func newFakeStore() *fakeStore {
	return &fakeStore{orders: map[storeKey]order.Order{}, events: map[storeKey][]order.Event{}, byID: map[int64]storeKey{}}
}

func (s *fakeStore) CreateOrder(ctx context.Context, in order.CreateInput, total order.Decimal) (order.Order, order.Event, bool, error) {
	if s.onWrite != nil {
		s.onWrite(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	k := storeKey{in.ExternalID, in.UserID}
	if o, ok := s.orders[k]; ok {
		return o, s.events[k][0], false, nil
	}
	s.nextID++
	o := order.Order{
		ID: s.nextID, ExternalID: in.ExternalID, UserID: in.UserID, Status: order.StatusNew,
		EventID: 0, AppliedEventID: -1, LastEventType: order.EventCreate,
		Items: in.Items, Total: total, CreatedAt: t0, UpdatedAt: t0,
	}
	ev := order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: in.Items}
	s.orders[k] = o
	s.events[k] = []order.Event{ev}
	s.byID[o.ID] = k
	return o, ev, true, nil
}

func (s *fakeStore) AppendEvent(ctx context.Context, externalID, userID string, decide func(order.Order) (*order.Event, error)) (order.Order, *order.Event, error) {
	if s.onWrite != nil {
		s.onWrite(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	k := storeKey{externalID, userID}
	o, ok := s.orders[k]
	if !ok {
		return order.Order{}, nil, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	ev, err := decide(o)
	if err != nil {
		return order.Order{}, nil, err
	}
	if ev == nil {
		return o, nil, nil
	}
	o.EventID++
	o.LastEventType = ev.Type
	o.Status = order.StatusNew
	stored := *ev
	stored.OrderID, stored.ExternalID, stored.UserID, stored.EventID = o.ID, o.ExternalID, o.UserID, o.EventID
	s.orders[k] = o
	s.events[k] = append(s.events[k], stored)
	return o, &stored, nil
}

func (s *fakeStore) OrderByID(ctx context.Context, id int64, userID string) (order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	k, ok := s.byID[id]
	if !ok || k.userID != userID {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %d not found", id)
	}
	return s.orders[k], nil
}

// ListOrders returns the user's orders, newest (highest id) first; the
// fake ignores cursors and statuses: the real store's tests cover them.
func (s *fakeStore) ListOrders(ctx context.Context, q order.ListQuery) ([]order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	var out []order.Order
	for id := s.nextID; id > 0 && len(out) < q.Limit; id-- {
		if k, ok := s.byID[id]; ok && k.userID == q.UserID {
			out = append(out, s.orders[k])
		}
	}
	return out, nil
}

func (s *fakeStore) OrderByExternalID(ctx context.Context, externalID, userID string) (order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.readErr != nil {
		return order.Order{}, s.readErr
	}
	o, ok := s.orders[storeKey{externalID, userID}]
	if !ok {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
	}
	return o, nil
}

func (s *fakeStore) get(externalID, userID string) (order.Order, []order.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := storeKey{externalID, userID}
	return s.orders[k], append([]order.Event(nil), s.events[k]...)
}

func (s *fakeStore) update(id int64, f func(*order.Order)) order.Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.byID[id]
	o := s.orders[k]
	f(&o)
	s.orders[k] = o
	return o
}

func (s *fakeStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// apply is the worker: it applies ev to the stored order and ACKs.
func (s *fakeStore) apply(_ context.Context, ev order.Event) (order.Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.byID[ev.OrderID]
	o := s.orders[k]
	if ev.EventID <= o.AppliedEventID {
		return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{OK: true}, Order: o, Duplicate: true}, nil
	}
	o, out := order.Apply(o, ev, t1)
	s.orders[k] = o
	return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: out, Order: o}, nil
}

// fakeDispatcher records the events it is given and answers with fn.
type fakeDispatcher struct {
	mu     sync.Mutex
	events []order.Event
	fn     func(ctx context.Context, ev order.Event) (order.Ack, error)
}

func (d *fakeDispatcher) Dispatch(ctx context.Context, ev order.Event) (order.Ack, error) {
	d.mu.Lock()
	d.events = append(d.events, ev)
	fn := d.fn
	d.mu.Unlock()
	return fn(ctx, ev)
}

func (d *fakeDispatcher) sent() []order.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]order.Event(nil), d.events...)
}

// blockUntilDone is a dispatcher function that never gets an ACK.
func blockUntilDone(ctx context.Context, _ order.Event) (order.Ack, error) {
	<-ctx.Done()
	return order.Ack{}, ctx.Err()
}

func newTestService(t *testing.T) (*order.Service, *fakeStore, *fakeDispatcher) {
	t.Helper()
	store := newFakeStore()
	disp := &fakeDispatcher{fn: store.apply}
	svc := order.NewService(store, disp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.AckTimeout = 5 * time.Second
	svc.WriteTimeout = 5 * time.Second
	return svc, store, disp
}

var (
	pens  = []order.Item{{Name: "pen", Quantity: 3, Price: 150}}
	books = []order.Item{{Name: "book", Quantity: 2, Price: 2999}}
)

func createInput(externalID string, its []order.Item) order.CreateInput {
	return order.CreateInput{ExternalID: externalID, UserID: upperUserID, Items: its}
}

// mustCreate creates an order through svc and checks it is DONE.
func mustCreate(t *testing.T, svc *order.Service, externalID string, its []order.Item) order.Order {
	t.Helper()
	o, created, err := svc.Create(t.Context(), createInput(externalID, its))
	if err != nil || !created || o.Status != order.StatusDone {
		t.Fatalf("Create(%q): got %+v, %v, %v; want a DONE order, true, nil", externalID, o, created, err)
	}
	return o
}

// wantCode fails t unless err is an *order.Error with code and returns it.
func wantCode(t *testing.T, err error, code string) *order.Error {
	t.Helper()
	var e *order.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %T %v; want an *order.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v); want %s", e.Code, err, code)
	}
	return e
}

func TestServiceCreate(t *testing.T) {
	svc, store, disp := newTestService(t)
	o, created, err := svc.Create(t.Context(), createInput("o-1", books))
	if err != nil || !created {
		t.Fatalf("Create: got %v, %v; want true, nil", created, err)
	}
	if o.Status != order.StatusDone || o.Total != 5998 || o.AppliedEventID != 0 {
		t.Errorf("Create: got status %s, total %s, applied %d; want DONE, 59.98, 0", o.Status, o.Total, o.AppliedEventID)
	}
	if o.UserID != validUserID {
		t.Errorf("UserID: got %q; want the lowercase %q", o.UserID, validUserID)
	}
	sent := disp.sent()
	if len(sent) != 1 || sent[0].EventID != 0 || sent[0].Type != order.EventCreate || sent[0].OrderID != o.ID {
		t.Errorf("dispatched: got %+v; want the create event 0 of order %d", sent, o.ID)
	}
	if stored, _ := store.get("o-1", validUserID); !reflect.DeepEqual(stored, o) {
		t.Errorf("returned order: got %+v; want the stored %+v", o, stored)
	}
}

func TestServiceCreateValidatesBeforeTheStore(t *testing.T) {
	tests := []struct {
		name      string
		in        order.CreateInput
		wantField string
	}{
		{"bad user id", order.CreateInput{ExternalID: "o-1", UserID: "bob", Items: pens}, "userId"},
		{"empty external id", order.CreateInput{UserID: validUserID, Items: pens}, "externalId"},
		{"no items", order.CreateInput{ExternalID: "o-1", UserID: validUserID}, "items"},
		{"bad quantity", order.CreateInput{ExternalID: "o-1", UserID: validUserID, Items: []order.Item{{Name: "a", Quantity: 0, Price: 1}}}, "items[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, store, disp := newTestService(t)
			_, _, err := svc.Create(t.Context(), tt.in)
			checkInvalid(t, err, tt.wantField)
			if n := store.callCount(); n != 0 {
				t.Errorf("store calls: got %d; want 0", n)
			}
			if n := len(disp.sent()); n != 0 {
				t.Errorf("dispatched events: got %d; want 0", n)
			}
		})
	}
}

func TestServiceCreateIdempotentApplied(t *testing.T) {
	svc, _, disp := newTestService(t)
	first := mustCreate(t, svc, "o-1", pens)
	in := createInput("o-1", pens)
	in.UserID = validUserID // another spelling of the same user
	o, created, err := svc.Create(t.Context(), in)
	if err != nil || created {
		t.Fatalf("second Create: got %v, %v; want false, nil", created, err)
	}
	if !reflect.DeepEqual(o, first) {
		t.Errorf("second Create: got %+v; want the existing %+v", o, first)
	}
	if n := len(disp.sent()); n != 1 {
		t.Errorf("dispatched events: got %d; want 1 (no new dispatch)", n)
	}
}

func TestServiceCreateIdempotentNotAppliedRedispatches(t *testing.T) {
	svc, store, disp := newTestService(t)
	// An order accepted before whose ACK was lost: stored, never applied.
	total, _ := order.Total(pens)
	stored, _, _, err := store.CreateOrder(t.Context(), order.CreateInput{ExternalID: "o-1", UserID: validUserID, Items: pens}, total)
	if err != nil {
		t.Fatal(err)
	}
	o, created, err := svc.Create(t.Context(), createInput("o-1", pens))
	if err != nil || created {
		t.Fatalf("Create: got %v, %v; want false, nil", created, err)
	}
	sent := disp.sent()
	if len(sent) != 1 || sent[0].EventID != 0 || sent[0].Type != order.EventCreate || sent[0].OrderID != stored.ID {
		t.Fatalf("dispatched: got %+v; want event 0 of order %d again", sent, stored.ID)
	}
	if o.ID != stored.ID || o.Status != order.StatusDone || o.AppliedEventID != 0 {
		t.Errorf("Create: got %+v; want order %d DONE with event 0 applied", o, stored.ID)
	}
}

func TestServiceCreateOtherItemsConflict(t *testing.T) {
	for _, applied := range []bool{true, false} {
		name := map[bool]string{true: "create applied", false: "create not applied"}[applied]
		t.Run(name, func(t *testing.T) {
			svc, store, disp := newTestService(t)
			if applied {
				mustCreate(t, svc, "o-1", pens)
			} else if _, _, _, err := store.CreateOrder(t.Context(), order.CreateInput{ExternalID: "o-1", UserID: validUserID, Items: pens}, 450); err != nil {
				t.Fatal(err)
			}
			before := len(disp.sent())
			_, _, err := svc.Create(t.Context(), createInput("o-1", books))
			wantCode(t, err, order.ECONFLICT)
			if n := len(disp.sent()); n != before {
				t.Errorf("dispatched events: got %d; want %d", n, before)
			}
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	svc, _, disp := newTestService(t)
	mustCreate(t, svc, "o-1", pens)
	o, err := svc.Update(t.Context(), order.UpdateInput{ExternalID: "o-1", UserID: upperUserID, Items: books, ExpectedEventID: intPtr(0)})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if o.Status != order.StatusDone || o.EventID != 1 || o.AppliedEventID != 1 || !order.SameItems(o.Items, books) {
		t.Errorf("Update: got %+v; want DONE at event 1 with the new items", o)
	}
	sent := disp.sent()
	if last := sent[len(sent)-1]; last.EventID != 1 || last.Type != order.EventUpdate || !order.SameItems(last.Items, books) {
		t.Errorf("dispatched: got %+v; want update event 1", last)
	}
}

func TestServiceUpdateConflicts(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, svc *order.Service, store *fakeStore)
		in    order.UpdateInput
	}{
		{
			name:  "stale expectedEventId",
			setup: func(t *testing.T, svc *order.Service, store *fakeStore) {},
			in:    order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books, ExpectedEventID: intPtr(5)},
		},
		{
			name: "cancelled order",
			setup: func(t *testing.T, svc *order.Service, store *fakeStore) {
				if _, err := svc.Cancel(t.Context(), order.CancelInput{ExternalID: "o-1", UserID: validUserID}); err != nil {
					t.Fatal(err)
				}
			},
			in: order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books},
		},
		{
			name: "pending cancel",
			setup: func(t *testing.T, svc *order.Service, store *fakeStore) {
				// The cancel is accepted but the worker has not applied it.
				_, _, err := store.AppendEvent(t.Context(), "o-1", validUserID, func(order.Order) (*order.Event, error) {
					return &order.Event{Type: order.EventCancel}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			in: order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, store, disp := newTestService(t)
			mustCreate(t, svc, "o-1", pens)
			tt.setup(t, svc, store)
			_, eventsBefore := store.get("o-1", validUserID)
			sentBefore := len(disp.sent())

			_, err := svc.Update(t.Context(), tt.in)
			e := wantCode(t, err, order.ECONFLICT)
			if tt.in.ExpectedEventID != nil && e.Field != "expectedEventId" {
				t.Errorf("Field: got %q; want %q", e.Field, "expectedEventId")
			}
			if _, events := store.get("o-1", validUserID); len(events) != len(eventsBefore) {
				t.Errorf("stored events: got %d; want %d (none stored)", len(events), len(eventsBefore))
			}
			if n := len(disp.sent()); n != sentBefore {
				t.Errorf("dispatched events: got %d; want %d", n, sentBefore)
			}
		})
	}
}

func TestServiceUpdateNotFound(t *testing.T) {
	svc, _, disp := newTestService(t)
	_, err := svc.Update(t.Context(), order.UpdateInput{ExternalID: "nope", UserID: validUserID, Items: pens})
	wantCode(t, err, order.ENOTFOUND)
	if n := len(disp.sent()); n != 0 {
		t.Errorf("dispatched events: got %d; want 0", n)
	}
}

func TestServiceCancel(t *testing.T) {
	svc, _, _ := newTestService(t)
	mustCreate(t, svc, "o-1", pens)
	o, err := svc.Cancel(t.Context(), order.CancelInput{ExternalID: "o-1", UserID: upperUserID, Reason: "no longer needed", ExpectedEventID: intPtr(0)})
	if err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if o.Status != order.StatusCancelled || o.CancelReason != "no longer needed" || o.CancelledAt == nil || o.AppliedEventID != 1 {
		t.Errorf("Cancel: got %+v; want CANCELLED with reason and time at event 1", o)
	}
}

func TestServiceCancelStaleExpected(t *testing.T) {
	svc, store, disp := newTestService(t)
	mustCreate(t, svc, "o-1", pens)
	_, err := svc.Cancel(t.Context(), order.CancelInput{ExternalID: "o-1", UserID: validUserID, ExpectedEventID: intPtr(3)})
	if e := wantCode(t, err, order.ECONFLICT); e.Field != "expectedEventId" {
		t.Errorf("Field: got %q; want %q", e.Field, "expectedEventId")
	}
	if _, events := store.get("o-1", validUserID); len(events) != 1 {
		t.Errorf("stored events: got %d; want 1", len(events))
	}
	if n := len(disp.sent()); n != 1 {
		t.Errorf("dispatched events: got %d; want 1", n)
	}
}

func TestServiceCancelOfSettledCancelledOrderIsUnchanged(t *testing.T) {
	svc, store, disp := newTestService(t)
	mustCreate(t, svc, "o-1", pens)
	first, err := svc.Cancel(t.Context(), order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: "first"})
	if err != nil {
		t.Fatal(err)
	}
	sentBefore := len(disp.sent())
	o, err := svc.Cancel(t.Context(), order.CancelInput{ExternalID: "o-1", UserID: validUserID, Reason: "second"})
	if err != nil {
		t.Fatalf("second Cancel: %v", err)
	}
	if !reflect.DeepEqual(o, first) {
		t.Errorf("second Cancel: got %+v; want the unchanged %+v", o, first)
	}
	if n := len(disp.sent()); n != sentBefore {
		t.Errorf("dispatched events: got %d; want %d", n, sentBefore)
	}
	if _, events := store.get("o-1", validUserID); len(events) != 2 {
		t.Errorf("stored events: got %d; want 2", len(events))
	}
}

func TestServiceAckTimeout(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, svc *order.Service) (order.Order, error)
	}{
		{"create", func(ctx context.Context, svc *order.Service) (order.Order, error) {
			o, _, err := svc.Create(ctx, createInput("o-2", pens))
			return o, err
		}},
		{"update", func(ctx context.Context, svc *order.Service) (order.Order, error) {
			return svc.Update(ctx, order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books})
		}},
		{"cancel", func(ctx context.Context, svc *order.Service) (order.Order, error) {
			return svc.Cancel(ctx, order.CancelInput{ExternalID: "o-1", UserID: validUserID})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, store, disp := newTestService(t)
			mustCreate(t, svc, "o-1", pens)
			svc.AckTimeout = 50 * time.Millisecond
			var current order.Order
			disp.fn = func(ctx context.Context, ev order.Event) (order.Ack, error) {
				// The worker picked the event up but never ACKs.
				current = store.update(ev.OrderID, func(o *order.Order) { o.Status = order.StatusProcessing })
				return blockUntilDone(ctx, ev)
			}
			start := time.Now()
			o, err := tt.run(t.Context(), svc)
			elapsed := time.Since(start)
			e := wantCode(t, err, order.ETIMEOUT)
			if e.Order == nil {
				t.Fatal("Order: got nil; want the order's current state")
			}
			if !reflect.DeepEqual(*e.Order, current) {
				t.Errorf("Order: got %+v; want the store's current %+v", *e.Order, current)
			}
			if e.Order.Status != order.StatusProcessing {
				t.Errorf("Order.Status: got %s; want %s", e.Order.Status, order.StatusProcessing)
			}
			if !reflect.DeepEqual(o, order.Order{}) {
				t.Errorf("returned order: got %+v; want the zero Order", o)
			}
			if elapsed < 50*time.Millisecond || elapsed > 3*time.Second {
				t.Errorf("elapsed: got %v; want about the 50ms AckTimeout", elapsed)
			}
		})
	}
}

func TestServiceAckTimeoutWhenTheStoreCannotBeRead(t *testing.T) {
	svc, store, disp := newTestService(t)
	svc.AckTimeout = 50 * time.Millisecond
	disp.fn = blockUntilDone
	store.readErr = order.Unavailable("database", errors.New("down"))
	_, _, err := svc.Create(t.Context(), createInput("o-1", pens))
	e := wantCode(t, err, order.ETIMEOUT)
	if e.Order == nil || e.Order.ExternalID != "o-1" || e.Order.Status != order.StatusNew {
		t.Errorf("Order: got %+v; want the order as stored before dispatch (NEW)", e.Order)
	}
}

func TestServiceNegativeAck(t *testing.T) {
	tests := []struct {
		name     string
		code     string
		wantCode string
	}{
		{"no code defaults to PROCESSING_FAILED", "", order.EPROCESSING},
		{"processing failed", order.EPROCESSING, order.EPROCESSING},
		{"conflict", order.ECONFLICT, order.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, disp := newTestService(t)
			failed := order.Order{ID: 1, ExternalID: "o-1", UserID: validUserID, Status: order.StatusFailed, FailureReason: "boom"}
			disp.fn = func(ctx context.Context, ev order.Event) (order.Ack, error) {
				return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{Code: tt.code, Reason: "boom"}, Order: failed}, nil
			}
			o, _, err := svc.Create(t.Context(), createInput("o-1", pens))
			e := wantCode(t, err, tt.wantCode)
			if e.Message != "boom" {
				t.Errorf("Message: got %q; want %q", e.Message, "boom")
			}
			if e.Order == nil || !reflect.DeepEqual(*e.Order, failed) {
				t.Errorf("Order: got %+v; want the ACK's %+v", e.Order, failed)
			}
			if !reflect.DeepEqual(o, order.Order{}) {
				t.Errorf("returned order: got %+v; want the zero Order", o)
			}
		})
	}
}

func TestServiceDispatchUnavailable(t *testing.T) {
	svc, _, disp := newTestService(t)
	disp.fn = func(context.Context, order.Event) (order.Ack, error) {
		return order.Ack{}, order.Unavailable("kafka", errors.New("no brokers"))
	}
	_, _, err := svc.Create(t.Context(), createInput("o-1", pens))
	wantCode(t, err, order.EUNAVAILABLE)
}

func TestServiceClientCancelIsNotAckTimeout(t *testing.T) {
	svc, _, disp := newTestService(t)
	svc.AckTimeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{})
	disp.fn = func(ctx context.Context, ev order.Event) (order.Ack, error) {
		close(started)
		return blockUntilDone(ctx, ev)
	}
	go func() {
		<-started
		cancel() // the client goes away while waiting for the ACK
	}()
	start := time.Now()
	_, _, err := svc.Create(ctx, createInput("o-1", pens))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Create: got %v; want context.Canceled", err)
	}
	if code := order.ErrorCode(err); code == order.ETIMEOUT {
		t.Errorf("ErrorCode: got %s; want anything but ACK_TIMEOUT", code)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("elapsed: got %v; want Create to return soon after the cancel", elapsed)
	}
}

// TestServiceWritesIgnoreClientCancel checks that the store writes run on a
// context that the caller's cancellation does not reach.
func TestServiceWritesIgnoreClientCancel(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, svc *order.Service) error
	}{
		{"create", func(ctx context.Context, svc *order.Service) error {
			_, _, err := svc.Create(ctx, createInput("o-2", pens))
			return err
		}},
		{"update", func(ctx context.Context, svc *order.Service) error {
			_, err := svc.Update(ctx, order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books})
			return err
		}},
		{"cancel", func(ctx context.Context, svc *order.Service) error {
			_, err := svc.Cancel(ctx, order.CancelInput{ExternalID: "o-1", UserID: validUserID})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, store, disp := newTestService(t)
			mustCreate(t, svc, "o-1", pens)
			disp.fn = blockUntilDone

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var (
				writeErr      error
				sameDone      bool
				hasDeadline   bool
				writeDeadline time.Time
			)
			store.onWrite = func(wctx context.Context) {
				go cancel() // the client goes away during the write
				<-ctx.Done()
				writeErr = wctx.Err()
				sameDone = wctx.Done() == ctx.Done()
				writeDeadline, hasDeadline = wctx.Deadline()
			}
			start := time.Now()
			err := tt.run(ctx, svc)
			end := time.Now()
			if writeErr != nil {
				t.Errorf("write context after the caller's cancel: got Err() = %v; want nil", writeErr)
			}
			if sameDone {
				t.Error("write context: Done() is the caller's; want its own")
			}
			if !hasDeadline || writeDeadline.Before(start.Add(svc.WriteTimeout)) || writeDeadline.After(end.Add(svc.WriteTimeout)) {
				t.Errorf("write context deadline: got %v, %v; want within WriteTimeout %v", writeDeadline, hasDeadline, svc.WriteTimeout)
			}
			// The write went through; the wait for the ACK saw the cancel.
			if !errors.Is(err, context.Canceled) {
				t.Errorf("result: got %v; want context.Canceled", err)
			}
			if _, events := store.get("o-1", validUserID); tt.name != "create" && len(events) != 2 {
				t.Errorf("stored events: got %d; want 2", len(events))
			}
			if o, _ := store.get("o-2", validUserID); tt.name == "create" && o.ID == 0 {
				t.Error("order o-2 was not stored")
			}
		})
	}
}

func TestServiceByExternalID(t *testing.T) {
	svc, store, _ := newTestService(t)
	created := mustCreate(t, svc, "o-1", pens)
	o, err := svc.ByExternalID(t.Context(), "o-1", upperUserID)
	if err != nil || !reflect.DeepEqual(o, created) {
		t.Errorf("ByExternalID: got %+v, %v; want %+v, nil", o, err, created)
	}
	_, err = svc.ByExternalID(t.Context(), "o-1", "00000000-0000-0000-0000-000000000000")
	wantCode(t, err, order.ENOTFOUND)

	calls := store.callCount()
	_, err = svc.ByExternalID(t.Context(), "o-1", "bob")
	checkInvalid(t, err, "userId")
	if n := store.callCount(); n != calls {
		t.Errorf("store calls for an invalid key: got %d; want 0", n-calls)
	}
}

// TestServiceRefusesAnotherOrdersAck: an ACK that names another order or
// event, or carries another user's order, never becomes the answer, even if
// the dispatcher let it through.
func TestServiceRefusesAnotherOrdersAck(t *testing.T) {
	other := "00000000-0000-4000-8000-000000000099"
	for _, tc := range []struct {
		name string
		ack  func(ev order.Event) order.Ack
	}{
		{"OtherOrder", func(ev order.Event) order.Ack {
			return order.Ack{OrderID: ev.OrderID + 1, EventID: ev.EventID, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: ev.OrderID + 1, UserID: other}}
		}},
		{"OtherEvent", func(ev order.Event) order.Ack {
			return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID + 3, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: ev.OrderID, UserID: ev.UserID}}
		}},
		{"CarriesOtherOrder", func(ev order.Event) order.Ack {
			return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: 77, UserID: other}}
		}},
		{"OtherUsersOrder", func(ev order.Event) order.Ack {
			return order.Ack{OrderID: ev.OrderID, EventID: ev.EventID, Outcome: order.Outcome{OK: true}, Order: order.Order{ID: ev.OrderID, UserID: other, Total: 60960}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _, disp := newTestService(t)
			disp.fn = func(_ context.Context, ev order.Event) (order.Ack, error) { return tc.ack(ev), nil }
			o, _, err := svc.Create(t.Context(), createInput("o-1", pens))
			if err == nil || order.ErrorCode(err) != order.EINTERNAL || o.ID != 0 {
				t.Fatalf("got %+v, %v; want an internal error and no order", o, err)
			}
		})
	}
}

// TestServiceReadsAnOmittedOrder: an ACK without the order (it did not fit
// in a message) is answered with the order read from the store.
func TestServiceReadsAnOmittedOrder(t *testing.T) {
	svc, store, disp := newTestService(t)
	disp.fn = func(ctx context.Context, ev order.Event) (order.Ack, error) {
		ack, err := store.apply(ctx, ev)
		ack.Order, ack.OrderOmitted = order.Order{}, true
		return ack, err
	}
	o, created, err := svc.Create(t.Context(), createInput("o-1", books))
	if err != nil || !created || o.Status != order.StatusDone || o.Total.String() != "59.98" || o.ExternalID != "o-1" {
		t.Fatalf("got %+v, %v, %v; want the DONE order as stored", o, created, err)
	}
}

// TestServiceRefusesOrdersTooLargeForAMessage: items whose ACK could not be
// sent in one Kafka message are refused before anything is stored; the
// largest order that fits is accepted.
func TestServiceRefusesOrdersTooLargeForAMessage(t *testing.T) {
	svc, store, _ := newTestService(t)
	svc.MaxMessageBytes = 64 << 10
	big := make([]order.Item, 100)
	for i := range big {
		big[i] = order.Item{Name: strings.Repeat("<", order.MaxNameLen), Quantity: 1, Price: 1} // 3,000 bytes each in JSON
	}
	_, _, err := svc.Create(t.Context(), createInput("big", big))
	if e := wantCode(t, err, order.EINVALID); e.Field != "items" {
		t.Errorf("field %q; want items", e.Field)
	}
	if n := store.callCount(); n != 0 {
		t.Errorf("store called %d times; want 0", n)
	}
	if _, _, err := svc.Create(t.Context(), createInput("fits", big[:10])); err != nil {
		t.Errorf("10 such items (30 KB): %v; want accepted", err)
	}
	mustCreate(t, svc, "small", pens)
	_, err = svc.Update(t.Context(), order.UpdateInput{ExternalID: "small", UserID: upperUserID, Items: big})
	wantCode(t, err, order.EINVALID)
}

func TestCheckSize(t *testing.T) {
	name := func(n int, c string) []order.Item {
		return []order.Item{{Name: strings.Repeat(c, n), Quantity: 1, Price: 1}}
	}
	for _, tc := range []struct {
		name  string
		items []order.Item
		limit int
		ok    bool
	}{
		{"NoLimit", name(500, "<"), 0, true},
		{"PlainFits", name(500, "a"), order.AckReserve + 600, true},
		{"EscapedDoesNot", name(500, "<"), order.AckReserve + 600, false}, // 3,000 bytes in JSON
		{"EscapedFits", name(500, "<"), order.AckReserve + 3100, true},
	} {
		if err := order.CheckSize(tc.items, tc.limit); (err == nil) != tc.ok {
			t.Errorf("%s: got %v; want ok=%v", tc.name, err, tc.ok)
		}
	}
}
