package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
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

// wireEvent is the JSON of an event on the orders topic.
type wireEvent struct {
	OrderID    int64        `json:"order_id"`
	ExternalID string       `json:"external_id"`
	UserID     string       `json:"user_id"`
	EventID    int          `json:"event_id"`
	Type       string       `json:"type"`
	Items      []order.Item `json:"items,omitempty"`
	Reason     string       `json:"reason,omitempty"`
}

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
	OrderID   int64     `json:"order_id"`
	EventID   int       `json:"event_id"`
	OK        bool      `json:"ok"`
	Code      string    `json:"code,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Order     wireOrder `json:"order"`
}

// EncodeEvent returns the message value of ev.
func EncodeEvent(ev order.Event) ([]byte, error) {
	return json.Marshal(wireEvent{
		OrderID: ev.OrderID, ExternalID: ev.ExternalID, UserID: ev.UserID,
		EventID: ev.EventID, Type: string(ev.Type), Items: ev.Items, Reason: ev.Reason,
	})
}

// DecodeEvent parses a message value of the orders topic. It checks the
// envelope only (ids and type); the worker applies the stored event.
func DecodeEvent(b []byte) (order.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return order.Event{}, fmt.Errorf("decode event: %w", err)
	}
	if w.OrderID <= 0 {
		return order.Event{}, errors.New("decode event: order_id must be positive")
	}
	if w.EventID < 0 {
		return order.Event{}, errors.New("decode event: event_id must not be negative")
	}
	switch t := order.EventType(w.Type); t {
	case order.EventCreate, order.EventUpdate, order.EventCancel:
	default:
		return order.Event{}, fmt.Errorf("decode event: unknown type %q", w.Type)
	}
	return order.Event{
		OrderID: w.OrderID, ExternalID: w.ExternalID, UserID: w.UserID,
		EventID: w.EventID, Type: order.EventType(w.Type), Items: w.Items, Reason: w.Reason,
	}, nil
}

// EncodeAck returns the message value of ack.
func EncodeAck(ack order.Ack) ([]byte, error) {
	o := ack.Order
	return json.Marshal(wireAck{
		OrderID: ack.OrderID, EventID: ack.EventID, OK: ack.Outcome.OK, Code: ack.Outcome.Code,
		Reason: ack.Outcome.Reason, Duplicate: ack.Duplicate,
		Order: wireOrder{
			ID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Status: string(o.Status),
			EventID: o.EventID, AppliedEventID: o.AppliedEventID, LastEventType: string(o.LastEventType),
			Items: o.Items, Total: o.Total, CancelReason: o.CancelReason, FailureReason: o.FailureReason,
			CancelledAt: o.CancelledAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		},
	})
}

// DecodeAck parses a message value of the ACK topic.
func DecodeAck(b []byte) (order.Ack, error) {
	var w wireAck
	if err := json.Unmarshal(b, &w); err != nil {
		return order.Ack{}, fmt.Errorf("decode ack: %w", err)
	}
	o := w.Order
	return order.Ack{
		OrderID: w.OrderID, EventID: w.EventID, Duplicate: w.Duplicate,
		Outcome: order.Outcome{OK: w.OK, Code: w.Code, Reason: w.Reason},
		Order: order.Order{
			ID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Status: order.Status(o.Status),
			EventID: o.EventID, AppliedEventID: o.AppliedEventID, LastEventType: order.EventType(o.LastEventType),
			Items: o.Items, Total: o.Total, CancelReason: o.CancelReason, FailureReason: o.FailureReason,
			CancelledAt: o.CancelledAt, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		},
	}, nil
}

// Header returns the value of the header key of m, or "".
func Header(m *sarama.ConsumerMessage, key string) string {
	return ConsumerHeaders(m.Headers).Get(key)
}
