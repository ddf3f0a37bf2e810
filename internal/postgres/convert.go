package postgres

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// payload is the JSON stored in order_events.payload.
type payload struct {
	Items  []order.Item `json:"items,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

func numeric(d order.Decimal) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(d)), Exp: -2, Valid: true}
}

var ten = big.NewInt(10)

func decimal(n pgtype.Numeric) (order.Decimal, error) {
	if !n.Valid || n.NaN || n.InfinityModifier != pgtype.Finite || n.Int == nil {
		return 0, errors.New("numeric is not a finite number")
	}
	v := new(big.Int).Set(n.Int)
	rem := new(big.Int)
	for exp := n.Exp + 2; exp != 0; {
		if exp > 0 {
			v.Mul(v, ten)
			exp--
			continue
		}
		v.QuoRem(v, ten, rem)
		if rem.Sign() != 0 {
			return 0, fmt.Errorf("numeric %s has more than 2 decimals", n.Int)
		}
		exp++
	}
	if !v.IsInt64() {
		return 0, errors.New("numeric out of range")
	}
	return order.Decimal(v.Int64()), nil
}

func toOrder(r db.Order) (order.Order, error) {
	var items []order.Item
	if err := json.Unmarshal(r.Items, &items); err != nil {
		return order.Order{}, fmt.Errorf("decode items of order %d: %w", r.ID, err)
	}
	return insertedOrder(r, items)
}

// insertedOrder converts a row that was just written with items (inserted
// by a create, saved by the worker): the items JSON that comes back is the
// one encoded from them, so it is not decoded again (the create path's
// largest JSON decode after the ACK's).
func insertedOrder(r db.Order, items []order.Item) (order.Order, error) {
	o := order.Order{
		ID:             r.ID,
		ExternalID:     r.ExternalID,
		UserID:         r.UserID.String(),
		Status:         order.Status(r.Status),
		EventID:        int(r.EventID),
		AppliedEventID: int(r.AppliedEventID),
		LastEventType:  order.EventType(r.LastEventType),
		Items:          items,
		CancelReason:   r.CancelReason,
		FailureReason:  r.FailureReason,
		CancelledAt:    r.CancelledAt,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
	}
	total, err := decimal(r.Total)
	if err != nil {
		return o, fmt.Errorf("decode total of order %d: %w", r.ID, err)
	}
	o.Total = total
	return o, nil
}

// createPayload is the JSON of payload{Items: items} built from the items'
// JSON, which the create has encoded already for the order's row.
func createPayload(itemsJSON []byte, n int) []byte {
	if n == 0 {
		return []byte("{}") // omitempty
	}
	b := make([]byte, 0, len(`{"items":}`)+len(itemsJSON))
	b = append(b, `{"items":`...)
	b = append(b, itemsJSON...)
	return append(b, '}')
}

// toEvent converts a stored event. A payload that does not decode gives an
// event without items, which order.Apply rejects: the order is marked FAILED
// instead of blocking its partition.
func toEvent(o order.Order, r db.OrderEvent) order.Event {
	ev := eventOf(o, r)
	var p payload
	if err := json.Unmarshal(r.Payload, &p); err == nil {
		ev.Items, ev.Reason = p.Items, p.Reason
	}
	return ev
}

// eventOf is the event r of order o, without what its payload holds.
func eventOf(o order.Order, r db.OrderEvent) order.Event {
	return order.Event{
		OrderID:    r.OrderID,
		ExternalID: o.ExternalID,
		UserID:     o.UserID,
		EventID:    int(r.EventID),
		Type:       order.EventType(r.Type),
	}
}

// toPendingEvent is toEvent for an event read with its order's row
// (orderItems, the row's items JSON, already decoded into o.Items): a
// payload that is {"items": orderItems}, as a create's is, takes o.Items
// instead of decoding the same JSON again. Both are jsonb as PostgreSQL
// writes them, so equal items are equal bytes; anything else is decoded.
func toPendingEvent(o order.Order, orderItems []byte, r db.OrderEvent) order.Event {
	items, ok := bytes.CutPrefix(r.Payload, []byte(`{"items": `))
	if items, ok2 := bytes.CutSuffix(items, []byte("}")); ok && ok2 && bytes.Equal(items, orderItems) {
		ev := eventOf(o, r)
		ev.Items = o.Items
		return ev
	}
	return toEvent(o, r)
}

func outcome(r db.OrderEvent) order.Outcome {
	if r.OutcomeCode == "" {
		return order.Outcome{OK: true}
	}
	return order.Outcome{Code: r.OutcomeCode, Reason: r.OutcomeReason}
}

func userUUID(s string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, order.Invalid("userId", "must be a UUID")
	}
	return u, nil
}
