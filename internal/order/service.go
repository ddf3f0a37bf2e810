package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Store keeps orders and their events. Implementations return *Error values
// with ENOTFOUND and EUNAVAILABLE where those apply.
type Store interface {
	// CreateOrder stores a new order with status NEW together with its create
	// event (event 0), in one transaction. When the user already has an order
	// with that external id it stores nothing and returns the existing order,
	// its create event and created=false.
	CreateOrder(ctx context.Context, in CreateInput, total Decimal) (o Order, create Event, created bool, err error)
	// AppendEvent locks the user's order, asks decide for the next event and,
	// when decide returns one, stores it as event EventID+1 and sets the
	// order's status to NEW, in one transaction. It returns the order after
	// the change and the stored event (nil when decide returned none).
	// ENOTFOUND when the user has no such order.
	AppendEvent(ctx context.Context, externalID, userID string, decide func(Order) (*Event, error)) (Order, *Event, error)
	// OrderByExternalID returns the user's order; ENOTFOUND when the user has none.
	OrderByExternalID(ctx context.Context, externalID, userID string) (Order, error)
	// OrderByID returns the user's order with that id; ENOTFOUND when the user has none.
	OrderByID(ctx context.Context, id int64, userID string) (Order, error)
	// ListOrders returns up to q.Limit of the user's orders older than the
	// cursor q.After and newer than q.Before (each optional), with q.Status:
	// the q.Limit newest of them, newest first, or with q.Backward the q.Limit
	// oldest, oldest first.
	ListOrders(ctx context.Context, q ListQuery) ([]Order, error)
}

// Dispatcher sends an order event to the worker and blocks until it ACKs.
// It returns ctx's error if ctx ends first (the event stays sent) and an
// EUNAVAILABLE *Error when the event cannot be sent.
type Dispatcher interface {
	Dispatch(ctx context.Context, ev Event) (Ack, error)
}

// Service implements the order use cases on top of a Store and a Dispatcher.
type Service struct {
	store      Store
	dispatcher Dispatcher
	log        *slog.Logger
	// AckTimeout bounds the wait for the worker's ACK.
	AckTimeout time.Duration
	// WriteTimeout bounds a database write. Writes do not depend on the
	// caller's context: once accepted, an order is stored and sent even if
	// the client goes away.
	WriteTimeout time.Duration
	// AfterCommit, when set, runs after an event is committed and before it
	// is sent: the fault suite's crash point between the two.
	AfterCommit func(Event)
	// RequirePrincipal refuses requests whose context carries no Principal
	// (EUNAUTHENTICATED). Set when authentication is on, so that a route
	// that forgot the authentication middleware fails closed.
	RequirePrincipal bool
	// Changes is the feed of committed status changes that Watch follows
	// (nil: Watch fails with EUNAVAILABLE).
	Changes Changes
	// MaxMessageBytes is the largest message the dispatcher can send
	// (0: no bound). An order whose ACK could exceed it is refused at
	// validation (EINVALID), before anything is stored: see CheckSize.
	MaxMessageBytes int
}

// Defaults of the service and the recovery loop; internal/config's defaults
// of ACK_TIMEOUT, RECOVERY_DELAY, RECOVERY_INTERVAL and RECOVERY_MAX_BACKOFF
// are these.
const (
	DefaultAckTimeout         = 30 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultRecoveryDelay      = 5 * time.Second
	DefaultRecoveryInterval   = time.Second
	DefaultRecoveryMaxBackoff = 30 * time.Second
	DefaultRecoveryBatch      = 200
)

// NewService returns a Service with the default ACK timeout.
func NewService(store Store, d Dispatcher, log *slog.Logger) *Service {
	return &Service{store: store, dispatcher: d, log: log, AckTimeout: DefaultAckTimeout, WriteTimeout: DefaultWriteTimeout}
}

// Create creates an order and waits until the worker has processed it.
// created is false when an identical order existed already (idempotent
// retry); then the existing order is returned, once its creation is processed.
// Errors: EINVALID, EFORBIDDEN (another user's userId), ECONFLICT (same
// external id, other items), ETIMEOUT, EPROCESSING, EUNAVAILABLE.
func (s *Service) Create(ctx context.Context, in CreateInput) (o Order, created bool, err error) {
	if err := in.Validate(); err != nil {
		return Order{}, false, err
	}
	if err := CheckSize(in.Items, s.MaxMessageBytes); err != nil {
		return Order{}, false, err
	}
	if err := s.authorizeCreate(ctx, in.UserID); err != nil {
		return Order{}, false, err
	}
	total, _ := Total(in.Items)
	wctx, cancel := s.writeContext(ctx)
	o, ev, created, err := s.store.CreateOrder(wctx, in, total)
	cancel()
	if err != nil {
		return Order{}, false, fmt.Errorf("create order %q: %w", in.ExternalID, err)
	}
	if !created {
		if !SameItems(ev.Items, in.Items) {
			return Order{}, false, Errorf(ECONFLICT, "order %q exists already with other items", in.ExternalID)
		}
		if o.AppliedEventID >= 0 {
			return o, false, nil
		}
		// The creation is not processed yet (in flight, or its ACK was
		// lost): send it again; the worker applies it once and ACKs us too.
	}
	o, err = s.dispatch(ctx, o, ev)
	return o, created, err
}

// Update replaces the items of an order and waits for the worker.
// Errors: EINVALID, ENOTFOUND (also another user's order), ECONFLICT (stale expectedEventId, order
// cancelled), ETIMEOUT, EPROCESSING, EUNAVAILABLE.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Order, error) {
	if err := in.Validate(); err != nil {
		return Order{}, err
	}
	if err := CheckSize(in.Items, s.MaxMessageBytes); err != nil {
		return Order{}, err
	}
	if err := s.authorizeOrder(ctx, in.ExternalID, in.UserID); err != nil {
		return Order{}, err
	}
	wctx, cancel := s.writeContext(ctx)
	o, ev, err := s.store.AppendEvent(wctx, in.ExternalID, in.UserID, func(cur Order) (*Event, error) {
		if err := checkExpected(in.ExpectedEventID, cur); err != nil {
			return nil, err
		}
		if cur.Cancelled() || cur.CancelPending() {
			return nil, Errorf(ECONFLICT, "order %q is cancelled", in.ExternalID)
		}
		return &Event{Type: EventUpdate, Items: in.Items}, nil
	})
	cancel()
	if err != nil {
		return Order{}, fmt.Errorf("update order %q: %w", in.ExternalID, err)
	}
	return s.dispatch(ctx, o, *ev)
}

// Cancel cancels an order and waits for the worker. Cancelling a cancelled
// order returns it unchanged, whatever expectedEventId says, so that a retried
// cancel succeeds. Errors: EINVALID, ENOTFOUND, ECONFLICT (stale
// expectedEventId), ETIMEOUT, EPROCESSING, EUNAVAILABLE.
func (s *Service) Cancel(ctx context.Context, in CancelInput) (Order, error) {
	if err := in.Validate(); err != nil {
		return Order{}, err
	}
	if err := s.authorizeOrder(ctx, in.ExternalID, in.UserID); err != nil {
		return Order{}, err
	}
	wctx, cancel := s.writeContext(ctx)
	o, ev, err := s.store.AppendEvent(wctx, in.ExternalID, in.UserID, func(cur Order) (*Event, error) {
		if cur.Cancelled() && cur.CancelPending() && cur.Settled() {
			return nil, nil // already cancelled: unchanged
		}
		if err := checkExpected(in.ExpectedEventID, cur); err != nil {
			return nil, err
		}
		return &Event{Type: EventCancel, Reason: in.Reason}, nil
	})
	cancel()
	if err != nil {
		return Order{}, fmt.Errorf("cancel order %q: %w", in.ExternalID, err)
	}
	if ev == nil {
		return o, nil
	}
	return s.dispatch(ctx, o, *ev)
}

// ByExternalID returns the user's order. Another user's order is ENOTFOUND,
// exactly like a missing one, and so is any order of a user the caller's
// Principal may not act for. Errors: EINVALID, ENOTFOUND, EUNAVAILABLE.
func (s *Service) ByExternalID(ctx context.Context, externalID, userID string) (Order, error) {
	uid, err := ValidateKey(externalID, userID)
	if err != nil {
		return Order{}, err
	}
	if err := s.authorizeOrder(ctx, externalID, uid); err != nil {
		return Order{}, err
	}
	return s.store.OrderByExternalID(ctx, externalID, uid)
}

func checkExpected(expected *int, cur Order) error {
	if expected != nil && *expected != cur.EventID {
		return &Error{Code: ECONFLICT, Field: "expectedEventId",
			Message: fmt.Sprintf("expectedEventId %d does not match the order's eventId %d", *expected, cur.EventID)}
	}
	return nil
}

func (s *Service) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.WriteTimeout)
}

// dispatch sends ev and turns the ACK into the order or an error.
func (s *Service) dispatch(ctx context.Context, o Order, ev Event) (Order, error) {
	if s.AfterCommit != nil {
		s.AfterCommit(ev)
	}
	wctx, cancel := context.WithTimeout(ctx, s.AckTimeout)
	defer cancel()
	ack, err := s.dispatcher.Dispatch(wctx, ev)
	if err != nil {
		if ctx.Err() != nil {
			return Order{}, fmt.Errorf("wait for ack of order %d event %d: %w", ev.OrderID, ev.EventID, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return Order{}, s.timeoutError(ctx, o, ev)
		}
		var oe *Error
		if errors.As(err, &oe) && oe.Code == EUNAVAILABLE {
			// The event is committed: it is not lost, the recovery loop sends it.
			return Order{}, &Error{Code: EUNAVAILABLE, Order: &o, Err: err, Message: fmt.Sprintf(
				"Kafka is unavailable: event %d of order %q is stored and completes when Kafka is back; query it or retry later",
				ev.EventID, o.ExternalID)}
		}
		return Order{}, fmt.Errorf("dispatch order %d event %d: %w", ev.OrderID, ev.EventID, err)
	}
	if problem := ackProblem(ack, ev); problem != "" {
		// The dispatcher checks this; an answer about another order must
		// never reach a client, whatever goes wrong below us.
		s.log.ErrorContext(ctx, "ack does not answer its request", "order_id", ev.OrderID, "event_id", ev.EventID, "problem", problem)
		return Order{}, fmt.Errorf("ack of order %d event %d: %s", ev.OrderID, ev.EventID, problem)
	}
	if ack.OrderOmitted {
		// The ACK did not fit with the order in it: read the order.
		rctx, cancel := s.writeContext(ctx)
		cur, err := s.store.OrderByExternalID(rctx, o.ExternalID, o.UserID)
		cancel()
		if err != nil {
			return Order{}, fmt.Errorf("read order %d after its ack: %w", ev.OrderID, err)
		}
		ack.Order = cur
	}
	if !ack.Outcome.OK {
		code := ack.Outcome.Code
		if code == "" {
			code = EPROCESSING
		}
		return Order{}, &Error{Code: code, Message: ack.Outcome.Reason, Order: &ack.Order}
	}
	return ack.Order, nil
}

// ackProblem says why ack does not answer ev, "" when it does.
func ackProblem(ack Ack, ev Event) string {
	switch {
	case ack.OrderID != ev.OrderID || ack.EventID != ev.EventID:
		return fmt.Sprintf("it is the ack of order %d event %d", ack.OrderID, ack.EventID)
	case ack.OrderOmitted || ack.Order.ID == 0:
		return "" // a NACK without the order, or one that says to read it
	case ack.Order.ID != ev.OrderID:
		return fmt.Sprintf("it carries order %d", ack.Order.ID)
	case ack.Order.UserID != ev.UserID:
		return "it carries another user's order"
	}
	return ""
}

// timeoutError builds the ETIMEOUT error with the order's current state.
func (s *Service) timeoutError(ctx context.Context, o Order, ev Event) error {
	rctx, cancel := s.writeContext(ctx)
	defer cancel()
	if cur, err := s.store.OrderByExternalID(rctx, o.ExternalID, o.UserID); err == nil {
		o = cur
	} else {
		s.log.WarnContext(ctx, "read order after ack timeout", "order_id", o.ID, "event_id", ev.EventID, "err", err)
	}
	s.log.WarnContext(ctx, "ack timeout", "order_id", ev.OrderID, "event_id", ev.EventID, "timeout", s.AckTimeout)
	return &Error{Code: ETIMEOUT, Order: &o, Message: fmt.Sprintf(
		"the worker did not confirm event %d of order %q within %s; the order is kept and completes when the worker catches up: query it or retry later",
		ev.EventID, o.ExternalID, s.AckTimeout)}
}
