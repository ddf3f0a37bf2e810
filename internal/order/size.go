package order

import "encoding/json"

// AckReserve is the room an ACK takes besides its order's items: ids,
// status, timestamps, the external id, the cancel and failure reasons (each
// character escaped to 6 bytes, the worst JSON can do), the Kafka headers
// and the record's framing. CheckSize keeps it free under the message limit.
const AckReserve = 16 << 10

// CheckSize refuses items whose order could not be answered in one Kafka
// message of at most maxMessageBytes (0: no bound): the worker's ACK
// carries the order, items included, in JSON, where a name of 500 `<` takes
// 3,000 bytes. It returns an EINVALID *Error naming items.
func CheckSize(items []Item, maxMessageBytes int) error {
	if maxMessageBytes <= 0 {
		return nil
	}
	b, err := json.Marshal(items)
	if err != nil {
		return Invalid("items", "cannot be encoded: %v", err)
	}
	if limit := maxMessageBytes - AckReserve; len(b) > limit {
		return Invalid("items", "the order is too large: its items take %d bytes encoded, at most %d are allowed", len(b), limit)
	}
	return nil
}
