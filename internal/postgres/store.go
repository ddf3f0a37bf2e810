package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
func (s *Store) inTx(ctx context.Context, fn func(q *db.Queries) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if err := fn(db.New(tx)); err != nil {
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
	err = s.inTx(ctx, func(q *db.Queries) error {
		row, err := q.InsertOrder(ctx, db.InsertOrderParams{ExternalID: in.ExternalID, UserID: uid, Items: items, Total: numeric(total)})
		if errors.Is(err, pgx.ErrNoRows) {
			// It exists: return it with its create event, for the idempotency check.
			row, err = q.GetOrderByExternalID(ctx, db.GetOrderByExternalIDParams{ExternalID: in.ExternalID, UserID: uid})
			if err != nil {
				return err
			}
			if o, err = toOrder(row); err != nil {
				return err
			}
			evRow, err := q.GetEvent(ctx, db.GetEventParams{OrderID: row.ID, EventID: 0})
			if err != nil {
				return fmt.Errorf("read create event: %w", err)
			}
			ev = toEvent(o, evRow)
			return nil
		}
		if err != nil {
			return err
		}
		if err := q.InsertEvent(ctx, db.InsertEventParams{OrderID: row.ID, EventID: 0, Type: string(order.EventCreate), Payload: pl,
			RecoveryDelaySeconds: s.RecoveryDelay.Seconds()}); err != nil {
			return err
		}
		if o, err = toOrder(row); err != nil {
			return err
		}
		created = true
		ev = order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: in.Items}
		return nil
	})
	if err != nil {
		return order.Order{}, order.Event{}, false, mapErr("insert order", err)
	}
	return o, ev, created, nil
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
	err = s.inTx(ctx, func(q *db.Queries) error {
		row, err := q.LockOrderByExternalID(ctx, db.LockOrderByExternalIDParams{ExternalID: externalID, UserID: uid})
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
		if err := q.InsertEvent(ctx, db.InsertEventParams{OrderID: row.ID, EventID: row.EventID, Type: string(ev.Type), Payload: pl,
			RecoveryDelaySeconds: s.RecoveryDelay.Seconds()}); err != nil {
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
	row, err := db.New(s.pool).GetOrderByExternalID(ctx, db.GetOrderByExternalIDParams{ExternalID: externalID, UserID: uid})
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

// MarkProcessing sets PROCESSING on an order whose events up to eventID are
// not all applied yet, so that clients see the worker has picked it up.
func (s *Store) MarkProcessing(ctx context.Context, orderID int64, eventID int) error {
	_, err := db.New(s.pool).MarkProcessing(ctx, db.MarkProcessingParams{ID: orderID, EventID: int32(eventID)})
	return mapErr("mark order processing", err)
}

// ApplyEvents applies, in one transaction and in event_id order, every
// accepted event of the order that the worker has not applied yet, and
// returns the ACK for event eventID. An event applied before is not applied
// again: its stored outcome is returned with Duplicate set. Events are read
// from the database, so a late, lost or reordered message can neither skip
// nor reorder one.
func (s *Store) ApplyEvents(ctx context.Context, orderID int64, eventID int) (order.Ack, error) {
	ack := order.Ack{OrderID: orderID, EventID: eventID}
	err := s.inTx(ctx, func(q *db.Queries) error {
		row, err := q.LockOrder(ctx, orderID)
		if errors.Is(err, pgx.ErrNoRows) {
			ack.Outcome = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("order %d does not exist", orderID)}
			return nil
		}
		if err != nil {
			return err
		}
		o, err := toOrder(row)
		if err != nil {
			return err
		}
		ack.Order = o
		if eventID > o.EventID || eventID < 0 {
			ack.Outcome = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("event %d of order %d was never accepted", eventID, orderID)}
			return nil
		}
		if eventID <= o.AppliedEventID {
			evRow, err := q.GetEvent(ctx, db.GetEventParams{OrderID: orderID, EventID: int32(eventID)})
			if err != nil {
				return fmt.Errorf("read applied event: %w", err)
			}
			ack.Outcome, ack.Duplicate = outcome(evRow), true
			return nil
		}
		rows, err := q.ListEventsAfter(ctx, db.ListEventsAfterParams{OrderID: orderID, EventID: int32(o.AppliedEventID)})
		if err != nil {
			return err
		}
		now := s.now()
		ack.Outcome = order.Outcome{Code: order.EPROCESSING, Reason: fmt.Sprintf("event %d of order %d is missing", eventID, orderID)}
		for _, r := range rows {
			var out order.Outcome
			o, out = order.Apply(o, toEvent(o, r), now)
			if err := q.SaveOutcome(ctx, db.SaveOutcomeParams{OrderID: orderID, EventID: r.EventID, OutcomeCode: out.Code, OutcomeReason: out.Reason}); err != nil {
				return err
			}
			if int(r.EventID) == eventID {
				ack.Outcome = out
			}
		}
		items, err := json.Marshal(o.Items)
		if err != nil {
			return fmt.Errorf("encode items: %w", err)
		}
		row, err = q.SaveApplied(ctx, db.SaveAppliedParams{
			ID: orderID, Status: string(o.Status), AppliedEventID: int32(o.AppliedEventID), Items: items, Total: numeric(o.Total),
			CancelReason: o.CancelReason, FailureReason: o.FailureReason, CancelledAt: o.CancelledAt,
		})
		if err != nil {
			return err
		}
		ack.Order, err = toOrder(row)
		return err
	})
	if err != nil {
		return order.Ack{}, mapErr(fmt.Sprintf("apply events of order %d", orderID), err)
	}
	return ack, nil
}

// ClaimDueEvents implements order.Outbox: it returns up to max unapplied
// events whose publish is due and pushes their next publish back by retry,
// doubled with each attempt (at most 32 times). Concurrent callers never get
// the same event.
func (s *Store) ClaimDueEvents(ctx context.Context, max int, retry time.Duration) ([]order.Event, error) {
	rows, err := db.New(s.pool).ClaimDueEvents(ctx, db.ClaimDueEventsParams{MaxEvents: int32(max), RetrySeconds: retry.Seconds()})
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
