package postgres

import (
	"encoding/json"

	"github.com/orderstream/orderstream/internal/order"
)

// QueuedCreates is how many creates wait in the combiner for a batch (tests).
func (s *Store) QueuedCreates() int {
	if s.creates == nil {
		return 0
	}
	s.creates.mu.Lock()
	defer s.creates.mu.Unlock()
	return len(s.creates.pending)
}

// CreatePayload is createPayload, for the tests of package postgres_test.
func CreatePayload(items []order.Item) ([]byte, error) {
	b, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	return createPayload(b, len(items)), nil
}

// MarshalPayload is what createPayload stands for: the event payload of a
// create, encoded whole.
func MarshalPayload(items []order.Item) ([]byte, error) { return json.Marshal(payload{Items: items}) }
