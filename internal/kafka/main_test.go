package kafka_test

import (
	"testing"

	"github.com/orderstream/orderstream/internal/kafkatest"
)

// TestMain stops the Apache Kafka cluster that the tests of this package
// share (kafkatest.NewApache, or KAFKA_KIND=apache).
func TestMain(m *testing.M) { kafkatest.Main(m) }
