package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// Store keeps orders and their events. It implements order.Store for the
// API and order.BatchStore for the worker.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// RecoveryDelay is how long after its commit an unapplied event becomes
	// due for the recovery loop to publish again.
	RecoveryDelay time.Duration
	// creates gathers concurrent creates into one statement (BatchCreates).
	creates *gather[*createReq, createRes]
	// lookups gathers concurrent lookups into one statement (BatchLookups).
	lookups *gather[*lookupReq, lookupRes]
}

var (
	_ order.Store      = (*Store)(nil)
	_ order.BatchStore = (*Store)(nil)
)

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now, RecoveryDelay: order.DefaultRecoveryDelay}
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(q *db.Queries, tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if err := fn(db.New(tx), tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// CreateOrder implements order.Store. The unique index on (external_id,
// user_id) decides between concurrent creates of the same order: the loser's
// INSERT waits for the winner's commit, then finds its row. With
// BatchCreates, concurrent creates share one statement and one commit
// (combine.go).
func (s *Store) CreateOrder(ctx context.Context, in order.CreateInput, total order.Decimal) (o order.Order, ev order.Event, created bool, err error) {
	r, err := newCreateReq(ctx, in, total)
	if err != nil {
		return o, ev, false, err
	}
	// Only a create whose user is its principal's own may share a statement
	// bound to several users; any other runs alone, bound to its principal.
	if s.creates != nil && rlsUser(ctx, r.uid.String()) == r.uid.String() {
		if res := s.creates.do(r); !res.alone {
			return res.o, res.ev, res.created, res.err
		}
	}
	return s.createAlone(ctx, in, r.uid, r.items, r.payload, total)
}

// newCreateReq prepares a create for either statement: the user's UUID,
// the items' JSON and the create event's payload (done is set by a create
// that joins the combiner).
func newCreateReq(ctx context.Context, in order.CreateInput, total order.Decimal) (*createReq, error) {
	uid, err := userUUID(in.UserID)
	if err != nil {
		return nil, err
	}
	items, err := json.Marshal(in.Items)
	if err != nil {
		return nil, fmt.Errorf("encode items: %w", err)
	}
	return &createReq{ctx: ctx, in: in, uid: uid, items: items, payload: createPayload(items, len(in.Items)), total: total}, nil
}

// createAlone is CreateOrder in a statement of its own.
func (s *Store) createAlone(ctx context.Context, in order.CreateInput, uid uuid.UUID, items, pl []byte, total order.Decimal) (o order.Order, ev order.Event, created bool, err error) {
	q := asUser(s.pool, rlsUser(ctx, uid.String())) // row-level security: rls.go
	// One statement: the order and its create event, one round trip, one commit.
	inserted, err := q.InsertOrderWithEvent(ctx, db.InsertOrderWithEventParams{
		ExternalID: in.ExternalID, UserID: uid, Items: items, Total: numeric(total), Payload: pl,
		RecoveryDelaySeconds: s.RecoveryDelay.Seconds(),
	})
	switch {
	case err == nil:
		if o, err = insertedOrder(db.Order(inserted), in.Items); err != nil {
			return order.Order{}, order.Event{}, false, err
		}
		ev = order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: in.Items, ItemsJSON: items}
		return o, ev, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return order.Order{}, order.Event{}, false, mapErr("insert order", err)
	}
	// It exists (the unique index made us wait for a concurrent creator's
	// commit): return it with its create event, for the idempotency check.
	row, err := q.GetOrderByExternalID(ctx, db.GetOrderByExternalIDParams{ExternalID: in.ExternalID, UserID: uid})
	if err != nil {
		return order.Order{}, order.Event{}, false, mapErr("read existing order", err)
	}
	if o, err = toOrder(row); err != nil {
		return order.Order{}, order.Event{}, false, err
	}
	evRow, err := q.GetEvent(ctx, db.GetEventParams{OrderID: row.ID, EventID: 0})
	if err != nil {
		return order.Order{}, order.Event{}, false, mapErr("read create event", err)
	}
	return o, toEvent(o, evRow), false, nil
}

// AppendEvent implements order.Store.
func (s *Store) AppendEvent(ctx context.Context, externalID, userID string, decide func(order.Order) (*order.Event, error)) (order.Order, *order.Event, error) {
	uid, err := userUUID(userID)
	if err != nil {
		return order.Order{}, nil, err
	}
	var (
		o  order.Order
		ev *order.Event
	)
	err = s.inTx(ctx, func(q *db.Queries, tx pgx.Tx) error {
		// The first statement sets the row-level security user for the
		// whole transaction (rls.go).
		row, err := asUser(tx, rlsUser(ctx, uid.String())).LockOrderByExternalID(ctx, db.LockOrderByExternalIDParams{ExternalID: externalID, UserID: uid})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound(externalID)
		}
		if err != nil {
			return err
		}
		if o, err = toOrder(row); err != nil {
			return err
		}
		if ev, err = decide(o); err != nil || ev == nil {
			return err
		}
		row, err = q.AcceptEvent(ctx, db.AcceptEventParams{ID: row.ID, LastEventType: string(ev.Type)})
		if err != nil {
			return err
		}
		pl, err := json.Marshal(payload{Items: ev.Items, Reason: ev.Reason})
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if err := q.InsertEvent(ctx, db.InsertEventParams{OrderID: row.ID, UserID: row.UserID, EventID: row.EventID, Type: string(ev.Type), Payload: pl,
			RecoveryDelaySeconds: s.RecoveryDelay.Seconds()}); err != nil {
			return err
		}
		// Subscriptions: the order is NEW again (announced at commit).
		if err := q.NotifyStatus(ctx, []int64{row.ID}); err != nil {
			return err
		}
		if o, err = toOrder(row); err != nil {
			return err
		}
		ev.OrderID, ev.ExternalID, ev.UserID, ev.EventID = o.ID, o.ExternalID, o.UserID, o.EventID
		return nil
	})
	if err != nil {
		return order.Order{}, nil, mapErr("append order event", err)
	}
	return o, ev, nil
}

func errNotFound(externalID string) error {
	return order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
}

// queueMarkProcessing queues MarkProcessingMany (PROCESSING on each order of
// keys whose events up to the key's are not all applied) on p, in a
// transaction of its own that commits without waiting for the WAL flush
// (synchronous_commit off, local to that transaction). Only for writes that
// may be lost in a crash of PostgreSQL: PROCESSING is shown to clients but
// nothing depends on it (after such a crash the order is NEW again and the
// worker, which redelivers from Kafka, processes it). A later synchronous
// commit flushes it anyway, as WAL is written in order.
func queueMarkProcessing(ctx context.Context, p *pipe, keys []order.EventKey) {
	ids := make([]int64, len(keys))
	evs := make([]int32, len(keys))
	for i, k := range keys {
		ids[i], evs[i] = k.OrderID, int32(k.EventID)
	}
	queueAsyncTx(ctx, p, func(q *db.Queries) {
		q.MarkProcessingMany(ctx, db.MarkProcessingManyParams{Ids: ids, EventIds: evs})
	})
}

// queueAsyncTx queues the statements fn queues on p in a transaction of
// their own that commits without waiting for the WAL flush.
func queueAsyncTx(ctx context.Context, p *pipe, fn func(q *db.Queries)) {
	p.Exec(ctx, "BEGIN")
	p.Exec(ctx, "SELECT set_config('synchronous_commit', 'off', true)")
	fn(db.New(p))
	p.Exec(ctx, "COMMIT")
}

// ProcessBatch implements order.BatchStore in two round trips to
// PostgreSQL. The first sends PROCESSING in a transaction of its own
// (committed without waiting for the WAL flush: see queueMarkProcessing),
// then begins the apply transaction with its lock and read; the second
// saves the plan, announces the changes and commits (PostgreSQL commits iff
// the statements succeed). A plan that also recalls outcomes of earlier
// events reads them in between.
func (s *Store) ProcessBatch(ctx context.Context, keys []order.EventKey, plan func([]order.Pending) (order.Plan, error)) (order.Saved, error) {
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.OrderID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return order.Saved{}, mapErr("process events", err)
	}
	p := &pipe{conn: conn}
	defer p.release(ctx)
	q := db.New(p)
	queueMarkProcessing(ctx, p, keys) // sent with the lock below
	p.Exec(ctx, "BEGIN")
	saved, err := func() (order.Saved, error) {
		locked, err := q.LockOrdersWithPendingEvents(ctx, ids)
		if err != nil {
			return order.Saved{}, err
		}
		pending, err := toPending(locked)
		if err != nil {
			return order.Saved{}, err
		}
		pl, err := plan(pending)
		if err != nil {
			return order.Saved{}, err
		}
		var out order.Saved
		committed := false
		if len(pl.Recall) > 0 {
			if len(pl.Orders) == 0 {
				// Redeliveries only, nothing to save: the COMMIT rides behind this read.
				p.after = true
				p.Exec(ctx, "COMMIT")
				committed = true
			}
			if out.Recalled, err = s.recall(ctx, q, pl.Recall); err != nil {
				return order.Saved{}, err
			}
		}
		if len(pl.Orders) > 0 {
			sa, err := saveParams(pl, pending)
			if err != nil {
				return order.Saved{}, err
			}
			// Sent with the save, in one round trip: the NOTIFY per changed
			// order for subscriptions (delivered at commit) and the COMMIT.
			p.after = true
			q.NotifyStatus(ctx, sa.Ids)
			p.Exec(ctx, "COMMIT")
			rows, err := q.SaveApplied(ctx, sa)
			if err != nil {
				return order.Saved{}, err
			}
			if out.Orders, err = savedOrders(rows, pl.Orders); err != nil {
				return order.Saved{}, err
			}
			committed = true
		}
		if !committed {
			// Nothing to save or read: end the transaction.
			p.Exec(ctx, "COMMIT")
			if err := p.flush(ctx); err != nil {
				return order.Saved{}, err
			}
		}
		return out, nil
	}()
	if err != nil {
		return order.Saved{}, mapErr(fmt.Sprintf("process events of %d orders", len(ids)), err)
	}
	return saved, nil
}

// ApplyCreates implements order.CreateStore in one round trip to
// PostgreSQL: PROCESSING in a transaction of its own (as in ProcessBatch),
// then the creates, their NOTIFY and the COMMIT (ApplyCreates, one
// statement). An order that is not as planned is left to ProcessBatch.
func (s *Store) ApplyCreates(ctx context.Context, keys []order.EventKey, creates []order.Create) ([]order.Order, error) {
	creates = slices.SortedFunc(slices.Values(creates), func(a, b order.Create) int { return cmp.Compare(a.Order.ID, b.Order.ID) }) // locks in id order, as ProcessBatch does
	var ap db.ApplyCreatesParams
	items := make(map[int64][]order.Item, len(creates))
	for _, c := range creates {
		o := c.Order
		ap.Ids, ap.Items = append(ap.Ids, o.ID), append(ap.Items, string(c.Items))
		ap.Statuses, ap.Totals = append(ap.Statuses, string(o.Status)), append(ap.Totals, o.Total.String())
		items[o.ID] = o.Items
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr("apply creates", err)
	}
	p := &pipe{conn: conn}
	defer p.release(ctx)
	queueMarkProcessing(ctx, p, keys)
	p.Exec(ctx, "BEGIN")
	p.after = true
	p.Exec(ctx, "COMMIT")
	rows, err := db.New(p).ApplyCreates(ctx, ap)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("apply creates of %d orders", len(creates)), err)
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		if out[i], err = insertedOrder(db.Order(r), items[r.ID]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// savedOrders converts the rows SaveApplied returns: the items are those
// of the plan's orders, which the statement wrote or kept, so their JSON is
// not decoded again.
func savedOrders(rows []db.Order, planned []order.Order) ([]order.Order, error) {
	items := make(map[int64][]order.Item, len(planned))
	for _, o := range planned {
		items[o.ID] = o.Items
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		it, ok := items[r.ID]
		if !ok {
			return nil, fmt.Errorf("save returned order %d, which the plan does not hold", r.ID)
		}
		var err error
		if out[i], err = insertedOrder(r, it); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// toPending groups the rows of LockOrdersWithPendingEvents (one per pending
// event, in order id then event id order) by order.
func toPending(rows []db.LockOrdersWithPendingEventsRow) ([]order.Pending, error) {
	var pending []order.Pending
	for _, r := range rows {
		if n := len(pending); n == 0 || pending[n-1].Order.ID != r.Order.ID {
			o, err := toOrder(r.Order)
			if err != nil {
				return nil, err
			}
			pending = append(pending, order.Pending{Order: o})
		}
		if r.PendingEventID.Valid {
			pe := &pending[len(pending)-1]
			pe.Events = append(pe.Events, toPendingEvent(pe.Order, r.Order.Items, db.OrderEvent{OrderID: r.Order.ID, EventID: r.PendingEventID.Int32,
				Type: r.PendingType.String, Payload: r.PendingPayload}))
		}
	}
	return pending, nil
}

// recall reads the stored outcomes of keys.
func (s *Store) recall(ctx context.Context, q *db.Queries, keys []order.EventKey) ([]order.Applied, error) {
	orders, events := make([]int64, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		orders[i], events[i] = k.OrderID, int32(k.EventID)
	}
	rows, err := q.GetEvents(ctx, db.GetEventsParams{OrderIds: orders, EventIds: events})
	if err != nil {
		return nil, err
	}
	out := make([]order.Applied, len(rows))
	for i, r := range rows {
		out[i] = order.Applied{Key: order.EventKey{OrderID: r.OrderID, EventID: int(r.EventID)}, Outcome: outcome(r)}
	}
	return out, nil
}

// saveParams lays out a plan as the arrays of SaveApplied. An order whose
// items are those it had when locked (in pending) gets empty items, which
// keep the stored ones: a create does not change them.
func saveParams(pl order.Plan, pending []order.Pending) (db.SaveAppliedParams, error) {
	var sa db.SaveAppliedParams
	for _, a := range pl.Applied {
		sa.OrderIds, sa.EventIds = append(sa.OrderIds, a.Key.OrderID), append(sa.EventIds, int32(a.Key.EventID))
		sa.Codes, sa.Reasons = append(sa.Codes, a.Outcome.Code), append(sa.Reasons, a.Outcome.Reason)
	}
	locked := make(map[int64][]order.Item, len(pending))
	for _, p := range pending {
		locked[p.Order.ID] = p.Order.Items
	}
	for _, o := range pl.Orders {
		var items []byte
		if before, ok := locked[o.ID]; !ok || !slices.Equal(before, o.Items) {
			var err error
			if items, err = json.Marshal(o.Items); err != nil {
				return sa, fmt.Errorf("encode items: %w", err)
			}
		}
		cancelledAt := ""
		if o.CancelledAt != nil {
			cancelledAt = o.CancelledAt.UTC().Format(time.RFC3339Nano)
		}
		sa.Ids, sa.Statuses = append(sa.Ids, o.ID), append(sa.Statuses, string(o.Status))
		sa.AppliedEventIds, sa.Items = append(sa.AppliedEventIds, int32(o.AppliedEventID)), append(sa.Items, string(items))
		sa.Totals, sa.CancelReasons = append(sa.Totals, o.Total.String()), append(sa.CancelReasons, o.CancelReason)
		sa.FailureReasons, sa.CancelledAts = append(sa.FailureReasons, o.FailureReason), append(sa.CancelledAts, cancelledAt)
	}
	return sa, nil
}

// ClaimDueEvents implements order.Outbox: it returns up to max unapplied
// events whose publish is due and pushes their next publish back by retry,
// doubled with each attempt, at most maxBackoff. Concurrent callers never
// get the same event.
func (s *Store) ClaimDueEvents(ctx context.Context, limit int, retry, maxBackoff time.Duration) ([]order.Event, error) {
	rows, err := db.New(s.pool).ClaimDueEvents(ctx, db.ClaimDueEventsParams{
		MaxEvents: int32(limit), RetrySeconds: retry.Seconds(), MaxBackoffSeconds: max(maxBackoff, retry).Seconds()})
	if err != nil {
		return nil, mapErr("claim due events", err)
	}
	evs := make([]order.Event, len(rows))
	for i, r := range rows {
		o := order.Order{ExternalID: r.ExternalID, UserID: r.UserID.String()}
		evs[i] = toEvent(o, db.OrderEvent{OrderID: r.OrderID, EventID: r.EventID, Type: r.Type, Payload: r.Payload})
	}
	return evs, nil
}

// MarkUnpublishable implements order.Outbox: the order of ev, an event the
// recovery loop claimed, is marked FAILED with reason and its pending
// events closed (fail_unpublishable_event, the API's second and last way
// across users).
func (s *Store) MarkUnpublishable(ctx context.Context, ev order.Event, reason string) error {
	_, err := db.New(s.pool).FailUnpublishableEvent(ctx, db.FailUnpublishableEventParams{
		OrderID: ev.OrderID, EventID: int32(ev.EventID), Reason: reason})
	return mapErr("mark unpublishable event", err)
}

// MarkFailed marks an order FAILED after one of its events was dead-lettered.
// Its pending events are closed with the reason so nothing republishes them.
// It changes nothing when every event of the order is applied already.
func (s *Store) MarkFailed(ctx context.Context, orderID int64, reason string) error {
	_, err := db.New(s.pool).MarkFailed(ctx, db.MarkFailedParams{ID: orderID, Reason: reason})
	return mapErr("mark order failed", err)
}

// ListOrders implements order.Store: ListOrders, or ListOrdersBackward
// for q.Backward, both over the (user_id, created_at, id) index.
func (s *Store) ListOrders(ctx context.Context, q order.ListQuery) ([]order.Order, error) {
	uid, err := userUUID(q.UserID)
	if err != nil {
		return nil, err
	}
	p := db.ListOrdersParams{UserID: uid, Lim: int32(q.Limit)}
	if q.Status != "" {
		p.Status = pgtype.Text{String: string(q.Status), Valid: true}
	}
	if q.After != nil {
		t := q.After.CreatedAt
		p.AfterCreatedAt = &t
		p.AfterID = pgtype.Int8{Int64: q.After.ID, Valid: true}
	}
	if q.Before != nil {
		t := q.Before.CreatedAt
		p.BeforeCreatedAt = &t
		p.BeforeID = pgtype.Int8{Int64: q.Before.ID, Valid: true}
	}
	qs := asUser(s.pool, rlsUser(ctx, uid.String()))
	var rows []db.Order
	if q.Backward {
		rows, err = qs.ListOrdersBackward(ctx, db.ListOrdersBackwardParams(p))
	} else {
		rows, err = qs.ListOrders(ctx, p)
	}
	if err != nil {
		return nil, mapErr("list orders", err)
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		if out[i], err = toOrder(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OrderByID implements order.Store.
func (s *Store) OrderByID(ctx context.Context, id int64, userID string) (order.Order, error) {
	uid, err := userUUID(userID)
	if err != nil {
		return order.Order{}, err
	}
	row, err := asUser(s.pool, rlsUser(ctx, uid.String())).GetOrderByID(ctx, db.GetOrderByIDParams{ID: id, UserID: uid})
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, order.Errorf(order.ENOTFOUND, "order %d not found", id)
	}
	if err != nil {
		return order.Order{}, mapErr("get order", err)
	}
	return toOrder(row)
}
