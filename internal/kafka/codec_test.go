package kafka_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/order"
)

const codecUserID = "123e4567-e89b-12d3-a456-426614174000"

func TestEventRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ev   order.Event
	}{
		{"create", order.Event{OrderID: 42, ExternalID: "o-1", UserID: codecUserID, EventID: 0, Type: order.EventCreate,
			Items: []order.Item{{Name: "pen", Quantity: 3, Price: 10}}}},
		{"update with max values", order.Event{OrderID: 1<<53 + 1, EventID: 17, Type: order.EventUpdate,
			Items: []order.Item{{Name: "x\n\"quoted\"", Quantity: order.MaxQuantity, Price: order.MaxPrice}}}},
		{"cancel", order.Event{OrderID: 7, EventID: 3, Type: order.EventCancel, Reason: "changed <my> mind & more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := kafka.EncodeEvent(tt.ev)
			if err != nil {
				t.Fatalf("EncodeEvent: %v", err)
			}
			got, hint, err := kafka.DecodeEvent(b)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", b, err)
			}
			if want := (order.EventKey{OrderID: tt.ev.OrderID, EventID: tt.ev.EventID}); got != want {
				t.Errorf("round trip: got %+v; want %+v", got, want)
			}
			// A create's message carries its items (the worker's hint); no other event's does.
			var items []order.Item
			if hint != nil {
				if err := json.Unmarshal(hint, &items); err != nil {
					t.Fatalf("items hint %s: %v", hint, err)
				}
			}
			if tt.ev.Type != order.EventCreate {
				if hint != nil {
					t.Errorf("%s event carries items %s; want none", tt.ev.Type, hint)
				}
			} else if !reflect.DeepEqual(items, tt.ev.Items) {
				t.Errorf("create's items hint: got %+v; want %+v", items, tt.ev.Items)
			}
		})
	}
}

// TestEncodeEventCarriesOnlyIDs: the items and reason stay in the database,
// so a message is small whatever the order holds. Only a create's items
// travel, as the worker's hint, and only up to MaxItemsHint bytes.
func TestEncodeEventCarriesOnlyIDs(t *testing.T) {
	items := make([]order.Item, order.MaxItems)
	for i := range items {
		items[i] = order.Item{Name: strings.Repeat("<", order.MaxNameLen), Quantity: 1, Price: 1}
	}
	small := []order.Item{{Name: "pen", Quantity: 2, Price: 150}}
	tests := []struct {
		name string
		ev   order.Event
		want string
	}{
		{"update", order.Event{OrderID: 42, ExternalID: "o-1", UserID: codecUserID, EventID: 3, Type: order.EventUpdate,
			Items: items, Reason: strings.Repeat("<", order.MaxReasonLen)}, `{"order_id":42,"event_id":3}`},
		{"cancel", order.Event{OrderID: 42, EventID: 4, Type: order.EventCancel, Reason: "r"}, `{"order_id":42,"event_id":4}`},
		{"create over the hint's limit", order.Event{OrderID: 43, EventID: 0, Type: order.EventCreate, Items: items}, `{"order_id":43,"event_id":0}`},
		{"create", order.Event{OrderID: 44, ExternalID: "o-1", UserID: codecUserID, EventID: 0, Type: order.EventCreate, Items: small},
			`{"order_id":44,"event_id":0,"items":[{"name":"pen","quantity":2,"price":1.50}]}`},
		// The store's encoding of the items, when it has one, is copied as it is.
		{"create with the store's items JSON", order.Event{OrderID: 45, EventID: 0, Type: order.EventCreate, Items: small,
			ItemsJSON: []byte(`[{"name":"pen","quantity":2,"price":"1.5"}]`)}, `{"order_id":45,"event_id":0,"items":[{"name":"pen","quantity":2,"price":"1.5"}]}`},
	}
	for _, tt := range tests {
		b, err := kafka.EncodeEvent(tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("EncodeEvent(%s): got %s; want %s", tt.name, got, tt.want)
		}
	}
}

// TestDecodeEventOfEarlierVersions: messages written before the event was
// reduced to its ids (with external id, user, type, items, reason) still
// decode, for a rolling upgrade.
func TestDecodeEventOfEarlierVersions(t *testing.T) {
	tests := []struct {
		in    string
		want  order.EventKey
		items string // the hint: a create's items only
	}{
		{`{"order_id":1,"external_id":"o-1","user_id":"` + codecUserID + `","event_id":0,"type":"create","items":[{"name":"a","quantity":2,"price":"0.1"}]}`,
			order.EventKey{OrderID: 1, EventID: 0}, `[{"name":"a","quantity":2,"price":"0.1"}]`},
		{`{"order_id":7,"external_id":"o-7","user_id":"` + codecUserID + `","event_id":3,"type":"cancel","reason":"r"}`,
			order.EventKey{OrderID: 7, EventID: 3}, ``},
		{`{"order_id":9,"event_id":1,"type":"update","items":[{"name":"b","quantity":1,"price":29.99}]}`,
			order.EventKey{OrderID: 9, EventID: 1}, ``},
		{`{"order_id":10,"event_id":0,"items":null}`, order.EventKey{OrderID: 10, EventID: 0}, ``},
		{`{"order_id":11,"event_id":0,"items":{"a":1}}`, order.EventKey{OrderID: 11, EventID: 0}, ``},
	}
	for _, tt := range tests {
		got, items, err := kafka.DecodeEvent([]byte(tt.in))
		if err != nil || got != tt.want || string(items) != tt.items {
			t.Errorf("DecodeEvent(%s): got %+v, %s, %v; want %+v, %s", tt.in, got, items, err, tt.want, tt.items)
		}
	}
}

func TestDecodeEventRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"not JSON", `hello`},
		{"truncated", `{"order_id":1,`},
		{"array", `[1,2]`},
		{"order_id 0", `{"order_id":0,"event_id":0}`},
		{"order_id missing", `{"event_id":0}`},
		{"order_id negative", `{"order_id":-5,"event_id":0}`},
		{"order_id as string", `{"order_id":"5","event_id":0}`},
		{"order_id fraction", `{"order_id":5.5,"event_id":0}`},
		{"negative event_id", `{"order_id":5,"event_id":-1}`},
		{"event_id as string", `{"order_id":5,"event_id":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ev, _, err := kafka.DecodeEvent([]byte(tt.in)); err == nil {
				t.Errorf("DecodeEvent(%s): got %+v, nil; want an error", tt.in, ev)
			}
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	updated := created.Add(time.Second)
	cancelled := created.Add(2 * time.Second)
	tests := []struct {
		name string
		ack  order.Ack
	}{
		{"ok", order.Ack{OrderID: 42, EventID: 1, Outcome: order.Outcome{OK: true}, Order: order.Order{
			ID: 42, ExternalID: "o-1", UserID: codecUserID, Status: order.StatusDone, EventID: 1, AppliedEventID: 1,
			LastEventType: order.EventUpdate, Items: []order.Item{{Name: "pen", Quantity: 2, Price: 10}, {Name: "book", Quantity: 1, Price: 2999}},
			Total: 3019, CreatedAt: created, UpdatedAt: updated,
		}}},
		{"cancelled duplicate", order.Ack{OrderID: 42, EventID: 2, Outcome: order.Outcome{OK: true}, Duplicate: true, Order: order.Order{
			ID: 42, ExternalID: "o-1", UserID: codecUserID, Status: order.StatusCancelled, EventID: 2, AppliedEventID: 2,
			LastEventType: order.EventCancel, Items: []order.Item{{Name: "pen", Quantity: 2, Price: 10}}, Total: 20,
			CancelReason: "too slow", CancelledAt: &cancelled, CreatedAt: created, UpdatedAt: cancelled,
		}}},
		{"nack conflict", order.Ack{OrderID: 42, EventID: 3, Outcome: order.Outcome{Code: order.ECONFLICT, Reason: "order is cancelled"}, Order: order.Order{
			ID: 42, ExternalID: "o-1", UserID: codecUserID, Status: order.StatusCancelled, EventID: 3, AppliedEventID: 3,
			LastEventType: order.EventUpdate, Items: []order.Item{{Name: "pen", Quantity: 2, Price: 10}}, Total: 20,
			CancelReason: "too slow", CancelledAt: &cancelled, CreatedAt: created, UpdatedAt: cancelled,
		}}},
		{"nack failed", order.Ack{OrderID: 9, EventID: 0, Outcome: order.Outcome{Code: order.EPROCESSING, Reason: "invalid items: must list at least one item"}, Order: order.Order{
			ID: 9, ExternalID: "o-9", UserID: codecUserID, Status: order.StatusFailed, EventID: 0, AppliedEventID: 0,
			LastEventType: order.EventCreate, FailureReason: "invalid items: must list at least one item", CreatedAt: created, UpdatedAt: updated,
		}}},
		{"undecodable event nack", order.Ack{Outcome: order.Outcome{Code: order.EPROCESSING, Reason: "undecodable event"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := kafka.EncodeAck(tt.ack)
			if err != nil {
				t.Fatalf("EncodeAck: %v", err)
			}
			got, err := kafka.DecodeAck(b)
			if err != nil {
				t.Fatalf("DecodeAck(%s): %v", b, err)
			}
			if !got.Order.CreatedAt.Equal(tt.ack.Order.CreatedAt) || !got.Order.UpdatedAt.Equal(tt.ack.Order.UpdatedAt) {
				t.Errorf("times: got %v, %v; want %v, %v", got.Order.CreatedAt, got.Order.UpdatedAt, tt.ack.Order.CreatedAt, tt.ack.Order.UpdatedAt)
			}
			switch w, g := tt.ack.Order.CancelledAt, got.Order.CancelledAt; {
			case w == nil && g != nil, w != nil && g == nil:
				t.Errorf("CancelledAt: got %v; want %v", g, w)
			case w != nil && !g.Equal(*w):
				t.Errorf("CancelledAt: got %v; want %v", *g, *w)
			}
			// Compare the rest exactly, times aside.
			want := tt.ack
			want.Order.CreatedAt, want.Order.UpdatedAt, want.Order.CancelledAt = time.Time{}, time.Time{}, nil
			got.Order.CreatedAt, got.Order.UpdatedAt, got.Order.CancelledAt = time.Time{}, time.Time{}, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeAckRejectsNonJSON(t *testing.T) {
	for _, in := range []string{``, `nope`, `{"order_id":`, `{"order":{"total":"1.234"}}`} {
		if _, err := kafka.DecodeAck([]byte(in)); err == nil {
			t.Errorf("DecodeAck(%q): got nil error; want an error", in)
		}
	}
}

func TestHeader(t *testing.T) {
	m := &sarama.ConsumerMessage{Headers: []*sarama.RecordHeader{
		nil,
		{Key: []byte(kafka.HeaderContentType), Value: []byte("application/json")},
		{Key: []byte(kafka.HeaderCorrelationID), Value: []byte("api-1:7")},
		{Key: []byte(kafka.HeaderCorrelationID), Value: []byte("second")},
		{Key: []byte(kafka.HeaderReplyPartition), Value: nil},
	}}
	tests := []struct {
		key, want string
	}{
		{kafka.HeaderCorrelationID, "api-1:7"}, // the first one wins
		{kafka.HeaderContentType, "application/json"},
		{kafka.HeaderReplyPartition, ""},
		{kafka.HeaderReplyTopic, ""},
		{"ORDERSTREAM-CORRELATION-ID", ""}, // keys are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := kafka.Header(m, tt.key); got != tt.want {
				t.Errorf("Header(%q): got %q; want %q", tt.key, got, tt.want)
			}
		})
	}
	if got := kafka.Header(&sarama.ConsumerMessage{}, kafka.HeaderCorrelationID); got != "" {
		t.Errorf("Header of a message without headers: got %q; want \"\"", got)
	}
}

// sameEvent compares events, treating nil and empty items alike (an empty
// list is omitted from the JSON).
func FuzzDecodeEvent(f *testing.F) {
	seeds := []string{
		`{"order_id":1,"external_id":"o-1","user_id":"` + codecUserID + `","event_id":0,"type":"create","items":[{"name":"pen","quantity":3,"price":0.10}]}`,
		`{"order_id":2,"event_id":3,"type":"cancel","reason":"why"}`,
		`{"order_id":2,"event_id":1,"type":"update","items":[]}`,
		`{"order_id":2,"event_id":1,"type":"update","items":[null,{"price":"29.99"}]}`,
		`{"order_id":0,"type":"create"}`,
		`{"order_id":1,"event_id":-1,"type":"create"}`,
		`{"order_id":1,"type":"refund"}`,
		`{"ORDER_ID":1,"Type":"create","items":[{"price":1e3}]}`,
		`not json`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, hint, err := kafka.DecodeEvent(b)
		if err != nil {
			return
		}
		if ev.OrderID <= 0 || ev.EventID < 0 {
			t.Fatalf("DecodeEvent(%q): got ids %d/%d; want a positive order id and a non-negative event id", b, ev.OrderID, ev.EventID)
		}
		if hint != nil && (ev.EventID != 0 || !json.Valid(hint) || hint[0] != '[') {
			t.Fatalf("DecodeEvent(%q): items hint %q on event %d; want a JSON array on event 0 only", b, hint, ev.EventID)
		}
		enc, err := kafka.EncodeEvent(order.Event{OrderID: ev.OrderID, EventID: ev.EventID})
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", ev, err)
		}
		again, _, err := kafka.DecodeEvent(enc)
		if err != nil {
			t.Fatalf("DecodeEvent of re-encoded %s (from %q): %v", enc, b, err)
		}
		if again != ev {
			t.Fatalf("re-encoded event differs:\n first %+v\nsecond %+v\n(from %q via %s)", ev, again, b, enc)
		}
	})
}

// benchAck is an ACK as the worker sends for a created order of two items.
func benchAck() order.Ack {
	created := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	return order.Ack{OrderID: 123456, EventID: 0, Outcome: order.Outcome{OK: true}, Order: order.Order{
		ID: 123456, ExternalID: "bench-123456", UserID: codecUserID, Status: order.StatusDone, EventID: 0, AppliedEventID: 0,
		LastEventType: order.EventCreate, Items: []order.Item{{Name: "pen", Quantity: 2, Price: 150}, {Name: "notebook", Quantity: 1, Price: 499}},
		Total: 799, CreatedAt: created, UpdatedAt: created.Add(3 * time.Millisecond),
	}}
}

func BenchmarkEncodeAck(b *testing.B) {
	ack := benchAck()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kafka.EncodeAck(ack); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAck(b *testing.B) {
	v, err := kafka.EncodeAck(benchAck())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kafka.DecodeAck(v); err != nil {
			b.Fatal(err)
		}
	}
}
