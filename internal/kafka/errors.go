package kafka

import (
	"errors"
	"strings"

	"github.com/IBM/sarama"
)

// Permanent reports whether err, the failure to produce one message, is
// about the message itself, so that sending it again can never succeed:
// it is too large, or the broker refuses it as invalid. Everything else
// (no leader, not enough in-sync replicas, timeouts, a broker down,
// authorization, a missing topic) is about the cluster, and is transient:
// retried until the cluster is back. docs/RELIABILITY.md has the table.
func Permanent(err error) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrMessageSizeTooLarge, // MESSAGE_TOO_LARGE
			sarama.ErrInvalidMessage,              // CORRUPT_MESSAGE
			sarama.ErrInvalidMessageSize,          // INVALID_FETCH_SIZE, never for a produce, kept for completeness
			sarama.ErrMessageSetSizeTooLarge,      // RECORD_LIST_TOO_LARGE
			sarama.ErrInvalidRecord,               // INVALID_RECORD
			sarama.ErrInvalidTimestamp,            // INVALID_TIMESTAMP
			sarama.ErrUnsupportedForMessageFormat, // UNSUPPORTED_FOR_MESSAGE_FORMAT
			sarama.ErrPolicyViolation:             // POLICY_VIOLATION
			return true
		}
		return false
	}
	var enc sarama.PacketEncodingError
	if errors.As(err, &enc) {
		return true
	}
	if errors.Is(err, sarama.ErrInvalidPartition) {
		return true
	}
	// sarama refuses a message over Producer.MaxMessageBytes before sending
	// it, with a ConfigurationError of its own wording.
	var cerr sarama.ConfigurationError
	return errors.As(err, &cerr) && strings.Contains(string(cerr), "larger than configured Producer.MaxMessageBytes")
}
