package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/order"
)

// Kafka headers of request-reply. The event carries where its ACK goes; the
// ACK carries the correlation id back.
const (
	HeaderCorrelationID  = "orderstream-correlation-id"
	HeaderReplyTopic     = "orderstream-reply-topic"
	HeaderReplyPartition = "orderstream-reply-partition"
	HeaderContentType    = "content-type"
	contentTypeJSON      = "application/json"
)

// wireEvent is the JSON of an event on the orders topic: which event it is
// and, for a create, the items it stored (a hint, below). The worker reads
// what an event does from the database (the outbox), so a message can never
// carry other items than those stored; the routing and tracing travel in
// headers. Messages of earlier versions also carried external_id, user_id,
// type and reason: they decode too (the extra fields are ignored), so that
// workers can be upgraded while old messages are still in the topic.
// Upgrade the workers before the API instances: an old worker refuses a
// message without a type.
//
// Items, on event 0 only, lets the worker plan the create before it reads
// the order, and apply it in one round trip to PostgreSQL
// (order.PlanCreates); the store applies it only when the order's items and
// its event 0's equal these, and otherwise reads the order as for any other
// event. Left out when longer than MaxItemsHint.
type wireEvent struct {
	OrderID int64           `json:"order_id"`
	EventID int             `json:"event_id"`
	Items   json.RawMessage `json:"items,omitempty"`
}

// MaxItemsHint is the longest items JSON a create's message carries; a
// longer create's message names the event only.
const MaxItemsHint = 4096

// wireOrder is the JSON of an order inside an ACK.
type wireOrder struct {
	ID             int64         `json:"id"`
	ExternalID     string        `json:"external_id"`
	UserID         string        `json:"user_id"`
	Status         string        `json:"status"`
	EventID        int           `json:"event_id"`
	AppliedEventID int           `json:"applied_event_id"`
	LastEventType  string        `json:"last_event_type"`
	Items          []order.Item  `json:"items"`
	Total          order.Decimal `json:"total"`
	CancelReason   string        `json:"cancel_reason,omitempty"`
	FailureReason  string        `json:"failure_reason,omitempty"`
	CancelledAt    *time.Time    `json:"cancelled_at,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

// wireAck is the JSON of an ACK on the ACK topic.
type wireAck struct {
	OrderID   int64  `json:"order_id"`
	EventID   int    `json:"event_id"`
	OK        bool   `json:"ok"`
	Code      string `json:"code,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Order is absent when OrderOmitted: the ACK would not fit with it.
	Order        *wireOrder `json:"order,omitempty"`
	OrderOmitted bool       `json:"order_omitted,omitempty"`
}

// EncodeEvent returns the message value of ev: its order and event ids,
// and a create's items (see wireEvent), the JSON of wireEvent written
// directly so that the items' JSON the store encoded for the insert
// (Event.ItemsJSON) is copied, not encoded or compacted again.
func EncodeEvent(ev order.Event) ([]byte, error) {
	var items []byte
	if ev.EventID == 0 && ev.Type == order.EventCreate && ev.Items != nil {
		items = ev.ItemsJSON
		if items == nil {
			var err error
			if items, err = json.Marshal(ev.Items); err != nil {
				return nil, err
			}
		}
		if len(items) > MaxItemsHint {
			items = nil
		}
	}
	b := make([]byte, 0, 48+len(items))
	b = append(b, `{"order_id":`...)
	b = strconv.AppendInt(b, ev.OrderID, 10)
	b = append(b, `,"event_id":`...)
	b = strconv.AppendInt(b, int64(ev.EventID), 10)
	if items != nil {
		b = append(b, `,"items":`...)
		b = append(b, items...)
	}
	return append(b, '}'), nil
}

// DecodeEvent parses a message value of the orders topic, of this version
// or an earlier one, and returns the event it names and, for event 0, the
// items' JSON the message carries (nil: none).
func DecodeEvent(b []byte) (order.EventKey, []byte, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return order.EventKey{}, nil, fmt.Errorf("decode event: %w", err)
	}
	if w.OrderID <= 0 {
		return order.EventKey{}, nil, errors.New("decode event: order_id must be positive")
	}
	if w.EventID < 0 {
		return order.EventKey{}, nil, errors.New("decode event: event_id must not be negative")
	}
	var items []byte
	if w.EventID == 0 && len(w.Items) > 0 && w.Items[0] == '[' {
		items = w.Items
	}
	return order.EventKey{OrderID: w.OrderID, EventID: w.EventID}, items, nil
}

// EncodeAck returns the message value of ack.
func EncodeAck(ack order.Ack) ([]byte, error) {
	w := wireAck{
		OrderID: ack.OrderID, EventID: ack.EventID, OK: ack.Outcome.OK, Code: ack.Outcome.Code,
		Reason: ack.Outcome.Reason, Duplicate: ack.Duplicate, OrderOmitted: ack.OrderOmitted,
	}
	if !ack.OrderOmitted {
		o := ack.Order
		w.Order = &wireOrder{
			ID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Status: string(o.Status),
			EventID: o.EventID, AppliedEventID: o.AppliedEventID, LastEventType: string(o.LastEventType),
			Items: o.Items, Total: o.Total, CancelReason: o.CancelReason, FailureReason: o.FailureReason,
			CancelledAt: o.CancelledAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		}
	}
	return json.Marshal(w)
}

// DecodeAck parses a message value of the ACK topic.
func DecodeAck(b []byte) (order.Ack, error) {
	var w wireAck
	if err := json.Unmarshal(b, &w); err != nil {
		return order.Ack{}, fmt.Errorf("decode ack: %w", err)
	}
	ack := order.Ack{
		OrderID: w.OrderID, EventID: w.EventID, Duplicate: w.Duplicate,
		Outcome:      order.Outcome{OK: w.OK, Code: w.Code, Reason: w.Reason},
		OrderOmitted: w.Order == nil,
	}
	if o := w.Order; o != nil {
		ack.Order = order.Order{
			ID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Status: order.Status(o.Status),
			EventID: o.EventID, AppliedEventID: o.AppliedEventID, LastEventType: order.EventType(o.LastEventType),
			Items: o.Items, Total: o.Total, CancelReason: o.CancelReason, FailureReason: o.FailureReason,
			CancelledAt: o.CancelledAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		}
	}
	return ack, nil
}

// Header returns the value of the header key of m, or "".
func Header(m *sarama.ConsumerMessage, key string) string {
	return ConsumerHeaders(m.Headers).Get(key)
}
