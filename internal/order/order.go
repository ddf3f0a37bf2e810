// Package order is the domain of OrderStream: orders, their events, the rules
// that validate and apply them, and the Service behind the GraphQL and REST APIs.
// It depends on the standard library only; adapters implement its interfaces.
package order

import "time"

// Status is where an order stands in its processing.
type Status string

// The statuses. NEW: an event is accepted and waits for the worker;
// PROCESSING: the worker has picked it up; DONE and CANCELLED are final for
// the latest event; FAILED: an event could not be applied.
const (
	StatusNew        Status = "NEW"
	StatusProcessing Status = "PROCESSING"
	StatusDone       Status = "DONE"
	StatusCancelled  Status = "CANCELLED"
	StatusFailed     Status = "FAILED"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusNew, StatusProcessing, StatusDone, StatusCancelled, StatusFailed:
		return true
	}
	return false
}

// EventType says what an event does to its order.
type EventType string

// The event types. Event 0 of an order is always EventCreate.
const (
	EventCreate EventType = "create"
	EventUpdate EventType = "update"
	EventCancel EventType = "cancel"
)

// Item is one line of an order.
type Item struct {
	Name     string  `json:"name"`
	Quantity int64   `json:"quantity"`
	Price    Decimal `json:"price"`
}

// Order is an order as stored.
type Order struct {
	ID         int64
	ExternalID string
	UserID     string // a UUID in canonical lowercase form
	Status     Status
	// EventID is the sequence number of the latest accepted event: 0 after
	// the creation, +1 for each update or cancel.
	EventID int
	// AppliedEventID is the latest event the worker has applied (-1: none).
	AppliedEventID int
	// LastEventType is the type of event EventID.
	LastEventType EventType
	Items         []Item
	Total         Decimal
	CancelReason  string
	FailureReason string
	CancelledAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Cancelled reports whether a cancel has been applied to o.
func (o *Order) Cancelled() bool { return o.CancelledAt != nil }

// CancelPending reports whether o's latest accepted event is a cancel.
func (o *Order) CancelPending() bool { return o.LastEventType == EventCancel }

// Settled reports whether the worker has applied every accepted event.
func (o *Order) Settled() bool { return o.AppliedEventID >= o.EventID }

// Event is one change to an order, in the order's event sequence.
type Event struct {
	OrderID    int64
	ExternalID string
	UserID     string
	EventID    int
	Type       EventType
	Items      []Item // create and update
	Reason     string // cancel
	// ItemsJSON is Items as JSON when the store has it at hand (a create
	// it just inserted), so that the event's message need not encode the
	// items again; nil otherwise.
	ItemsJSON []byte
}

// Outcome is the result of applying one event.
type Outcome struct {
	OK     bool
	Code   string // when !OK: ECONFLICT, EPROCESSING
	Reason string // when !OK
}

// Ack is the worker's answer to one event: its outcome and the order's state
// once the event has been applied.
type Ack struct {
	OrderID int64
	EventID int
	Outcome Outcome
	Order   Order
	// Duplicate is true when the event had been applied before and was only ACKed again.
	Duplicate bool
	// OrderOmitted is true when the ACK does not carry the order (it would
	// not fit in a Kafka message): the API reads it from the store.
	OrderOmitted bool
}

// Total returns the sum of quantity*price over items, or false on overflow
// or when it exceeds MaxTotal.
func Total(items []Item) (Decimal, bool) {
	var sum Decimal
	for _, it := range items {
		line, ok := it.Price.MulInt(it.Quantity)
		if !ok || line > MaxTotal {
			return 0, false
		}
		sum += line
		if sum > MaxTotal {
			return 0, false
		}
	}
	return sum, true
}

// SameItems reports whether a and b list the same items in the same order.
func SameItems(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
