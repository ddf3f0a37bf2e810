package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// Store keeps orders and their events. It implements order.Store for the
// API and ApplyEvents for the worker.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// RecoveryDelay is how long after its commit an unapplied event becomes
	// due for the recovery loop to publish again.
	RecoveryDelay time.Duration
}

var _ order.Store = (*Store)(nil)

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now, RecoveryDelay: 5 * time.Second}
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
// INSERT waits for the winner's commit, then finds its row.
func (s *Store) CreateOrder(ctx context.Context, in order.CreateInput, total order.Decimal) (o order.Order, ev order.Event, created bool, err error) {
	uid, err := userUUID(in.UserID)
	if err != nil {
		return o, ev, false, err
	}
	items, err := json.Marshal(in.Items)
	if err != nil {
		return o, ev, false, fmt.Errorf("encode items: %w", err)
	}
	pl, err := json.Marshal(payload{Items: in.Items})
	if err != nil {
		return o, ev, false, fmt.Errorf("encode event: %w", err)
	}
	q := asUser(s.pool, rlsUser(ctx, uid.String())) // row-level security: rls.go
	// One statement: the order and its create event, one round trip, one commit.
	inserted, err := q.InsertOrderWithEvent(ctx, db.InsertOrderWithEventParams{
		ExternalID: in.ExternalID, UserID: uid, Items: items, Total: numeric(total), Payload: pl,
		RecoveryDelaySeconds: s.RecoveryDelay.Seconds(),
	})
	switch {
	case err == nil:
		if o, err = toOrder(db.Order(inserted)); err != nil {
			return order.Order{}, order.Event{}, false, err
		}
		ev = order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: in.Items}
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

// OrderByExternalID implements order.Store.
func (s *Store) OrderByExternalID(ctx context.Context, externalID, userID string) (order.Order, error) {
	uid, err := userUUID(userID)
	if err != nil {
		return order.Order{}, err
	}
	row, err := asUser(s.pool, rlsUser(ctx, uid.String())).GetOrderByExternalID(ctx, db.GetOrderByExternalIDParams{ExternalID: externalID, UserID: uid})
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, errNotFound(externalID)
	}
	if err != nil {
		return order.Order{}, mapErr("get order", err)
	}
	return toOrder(row)
}

func errNotFound(externalID string) error {
	return order.Errorf(order.ENOTFOUND, "order %q not found", externalID)
}

// ApplyEvents applies every pending event of one order and returns the ACK
// for event eventID: ApplyMany for one message.
func (s *Store) ApplyEvents(ctx context.Context, orderID int64, eventID int) (order.Ack, error) {
	acks, err := s.ApplyMany(ctx, []EventKey{{OrderID: orderID, EventID: eventID}})
	if err != nil {
		return order.Ack{}, err
	}
	return acks[0], nil
}

// EventKey names one event: the worker received its message.
type EventKey struct {
	OrderID int64
	EventID int
}

// MarkProcessingMany sets PROCESSING, in one statement, on each order of keys whose
// events up to the key's event are not all applied yet, so that clients see the
// worker has picked it up; it changes nothing otherwise.
func (s *Store) MarkProcessingMany(ctx context.Context, keys []EventKey) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr("mark orders processing", err)
	}
	p := &pipe{conn: conn}
	defer p.release(ctx)
	queueMarkProcessing(ctx, p, keys)
	return mapErr("mark orders processing", p.flush(ctx))
}

// queueMarkProcessing queues MarkProcessingMany on p in a transaction of its
// own that commits without waiting for the WAL flush (synchronous_commit
// off, local to that transaction). Only for writes that may be lost in a
// crash of PostgreSQL: PROCESSING is shown to clients but nothing depends
// on it (after such a crash the order is NEW again and the worker, which
// redelivers from Kafka, processes it). A later synchronous commit flushes
// it anyway, as WAL is written in order.
func queueMarkProcessing(ctx context.Context, p *pipe, keys []EventKey) {
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

// ProcessMany is the worker's batch: MarkProcessingMany, then ApplyMany,
// in two round trips to PostgreSQL. The first sends PROCESSING in a
// transaction of its own (committed without waiting for the WAL flush, as
// MarkProcessingMany does) and starts the apply transaction with its lock;
// the second saves the batch, announces the changes and commits.
func (s *Store) ProcessMany(ctx context.Context, keys []EventKey) ([]order.Ack, error) {
	return s.applyMany(ctx, keys, true)
}

// ApplyMany applies, in one transaction, every accepted event not applied
// yet of the orders named in keys, in event_id order, and returns the ACK for
// each key, in order. An event applied before is not applied again: its
// stored outcome is returned with Duplicate set. Events are read from the
// database, so a late, lost or reordered message can neither skip nor
// reorder one. Order rows are locked in id order, so concurrent batches
// cannot deadlock.
func (s *Store) ApplyMany(ctx context.Context, keys []EventKey) ([]order.Ack, error) {
	return s.applyMany(ctx, keys, false)
}

func (s *Store) applyMany(ctx context.Context, keys []EventKey, markProcessing bool) ([]order.Ack, error) {
	ids := make([]int64, 0, len(keys))
	seen := map[int64]bool{}
	for _, k := range keys {
		if !seen[k.OrderID] {
			seen[k.OrderID] = true
			ids = append(ids, k.OrderID)
		}
	}
	slices.Sort(ids)
	acks := make([]order.Ack, len(keys))
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr("apply events", err)
	}
	p := &pipe{conn: conn}
	defer p.release(ctx)
	q := db.New(p)
	if markProcessing {
		queueMarkProcessing(ctx, p, keys) // sent with the lock below
	}
	p.Exec(ctx, "BEGIN")
	err = func() error {
		locked, err := q.LockOrdersWithPendingEvents(ctx, ids)
		if err != nil {
			return err
		}
		orders := make(map[int64]order.Order, len(ids))
		appliedBefore := make(map[int64]int, len(ids))
		var pending []db.OrderEvent
		for _, r := range locked {
			if _, ok := orders[r.Order.ID]; !ok {
				o, err := toOrder(r.Order)
				if err != nil {
					return err
				}
				orders[o.ID], appliedBefore[o.ID] = o, o.AppliedEventID
			}
			if r.PendingEventID.Valid {
				pending = append(pending, db.OrderEvent{OrderID: r.Order.ID, EventID: r.PendingEventID.Int32,
					Type: r.PendingType.String, Payload: r.PendingPayload})
			}
		}

		// Outcomes of events applied before this batch: their messages are redeliveries.
		var dupOrders []int64
		var dupEvents []int32
		for _, k := range keys {
			if o, ok := orders[k.OrderID]; ok && k.EventID >= 0 && k.EventID <= o.AppliedEventID {
				dupOrders, dupEvents = append(dupOrders, k.OrderID), append(dupEvents, int32(k.EventID))
			}
		}
		outcomes := map[EventKey]order.Outcome{}
		committed := false
		if len(dupOrders) > 0 {
			if len(pending) == 0 {
				// Redeliveries only, nothing to save: the COMMIT rides behind this read.
				p.after = true
				p.Exec(ctx, "COMMIT")
				committed = true
			}
			rows, err := q.GetEvents(ctx, db.GetEventsParams{OrderIds: dupOrders, EventIds: dupEvents})
			if err != nil {
				return err
			}
			for _, r := range rows {
				outcomes[EventKey{r.OrderID, int(r.EventID)}] = outcome(r)
			}
		}

		if len(pending) > 0 {
			now := s.now()
			var sa db.SaveAppliedParams
			changed := map[int64]bool{}
			for _, r := range pending {
				o := orders[r.OrderID]
				var out order.Outcome
				o, out = order.Apply(o, toEvent(o, r), now)
				orders[r.OrderID], changed[r.OrderID] = o, true
				outcomes[EventKey{r.OrderID, int(r.EventID)}] = out
				sa.OrderIds, sa.EventIds = append(sa.OrderIds, r.OrderID), append(sa.EventIds, r.EventID)
				sa.Codes, sa.Reasons = append(sa.Codes, out.Code), append(sa.Reasons, out.Reason)
			}
			for _, id := range ids {
				if !changed[id] {
					continue
				}
				o := orders[id]
				items, err := json.Marshal(o.Items)
				if err != nil {
					return fmt.Errorf("encode items: %w", err)
				}
				cancelledAt := ""
				if o.CancelledAt != nil {
					cancelledAt = o.CancelledAt.UTC().Format(time.RFC3339Nano)
				}
				sa.Ids, sa.Statuses = append(sa.Ids, id), append(sa.Statuses, string(o.Status))
				sa.AppliedEventIds, sa.Items = append(sa.AppliedEventIds, int32(o.AppliedEventID)), append(sa.Items, string(items))
				sa.Totals, sa.CancelReasons = append(sa.Totals, o.Total.String()), append(sa.CancelReasons, o.CancelReason)
				sa.FailureReasons, sa.CancelledAts = append(sa.FailureReasons, o.FailureReason), append(sa.CancelledAts, cancelledAt)
			}
			// Sent with the save, in one round trip: the NOTIFY per changed
			// order for subscriptions (delivered at commit) and the COMMIT.
			// PostgreSQL commits iff the statements succeed.
			p.after = true
			q.NotifyStatus(ctx, sa.Ids)
			p.Exec(ctx, "COMMIT")
			saved, err := q.SaveApplied(ctx, sa)
			if err != nil {
				return err
			}
			for _, r := range saved {
				if orders[r.ID], err = toOrder(r); err != nil {
					return err
				}
			}
		}

		if len(pending) == 0 && !committed {
			// Nothing to save or read: end the transaction.
			p.Exec(ctx, "COMMIT")
			if err := p.flush(ctx); err != nil {
				return err
			}
		}

		for i, k := range keys {
			ack := order.Ack{OrderID: k.OrderID, EventID: k.EventID}
			o, ok := orders[k.OrderID]
			switch {
			case !ok:
				ack.Outcome = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("order %d does not exist", k.OrderID)}
			case k.EventID < 0 || k.EventID > o.EventID:
				ack.Order = o
				ack.Outcome = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("event %d of order %d was never accepted", k.EventID, k.OrderID)}
			default:
				ack.Order = o
				out, found := outcomes[k]
				if !found {
					out = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("event %d of order %d is missing", k.EventID, k.OrderID)}
				}
				ack.Outcome, ack.Duplicate = out, k.EventID <= appliedBefore[k.OrderID]
			}
			acks[i] = ack
		}
		return nil
	}()
	if err != nil {
		return nil, mapErr(fmt.Sprintf("apply events of %d orders", len(ids)), err)
	}
	return acks, nil
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

// MarkFailed marks an order FAILED after one of its events was dead-lettered.
// Its pending events are closed with the reason so nothing republishes them.
// It changes nothing when every event of the order is applied already.
func (s *Store) MarkFailed(ctx context.Context, orderID int64, reason string) error {
	_, err := db.New(s.pool).MarkFailed(ctx, db.MarkFailedParams{ID: orderID, Reason: reason})
	return mapErr("mark order failed", err)
}

// ListOrders implements order.Store.
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
	rows, err := asUser(s.pool, rlsUser(ctx, uid.String())).ListOrders(ctx, p)
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
