package e2e

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/devstack"
)

// TestServicesProvisionTopics: the API and the worker create their missing
// topics with the configured partition count (KAFKA_CREATE_TOPICS, the
// default), refuse to start when a topic has another count than
// KAFKA_PARTITIONS (the modulo partitioner's N), and, with
// KAFKA_CREATE_TOPICS=false, when a topic is missing.
func TestServicesProvisionTopics(t *testing.T) {
	e := newInfra(t)
	ctx := t.Context()
	startFails := func(kind string, want string, extra ...string) {
		t.Helper()
		var err error
		var svc *devstack.Service
		if kind == "api" {
			svc, err = e.stack.StartAPI(ctx, "api-"+uuid.NewString()[:6], e.apiCfg, append(e.extra, extra...)...)
		} else {
			svc, err = e.stack.StartWorker(ctx, "worker-"+uuid.NewString()[:6], e.workerCfg, append(e.extra, extra...)...)
		}
		if err == nil {
			svc.Kill()
			t.Fatalf("%s with %v started; want it refused", kind, extra)
		}
		if logs := svc.Logs(); !strings.Contains(logs, want) {
			t.Errorf("%s with %v: its log does not say %q:\n%s", kind, extra, want, tail(logs, 2000))
		}
	}
	// The topics of newInfra have 8 partitions.
	startFails("api", "has 8 partitions, want 4", "KAFKA_PARTITIONS=4")
	startFails("worker", "has 8 partitions, want 4", "KAFKA_PARTITIONS=4")
	missing := "orders-missing-" + uuid.NewString()[:8]
	startFails("api", missing, "KAFKA_CREATE_TOPICS=false", "KAFKA_ORDERS_TOPIC="+missing)

	// Missing topics are created with KAFKA_PARTITIONS.
	fresh := "orders-fresh-" + uuid.NewString()[:8]
	dlq := "dlq-fresh-" + uuid.NewString()[:8]
	svc, err := e.stack.StartWorker(ctx, "worker-fresh", e.workerCfg, "KAFKA_ORDERS_TOPIC="+fresh, "KAFKA_DLQ_TOPIC="+dlq, "KAFKA_PARTITIONS=8")
	if err != nil {
		t.Fatalf("worker on fresh topics: %v", err)
	}
	defer svc.Kill()
	parts, err := devstack.TopicPartitions(e.stack.Brokers(), fresh, dlq)
	if err != nil || parts[fresh] != 8 || parts[dlq] != 8 {
		t.Errorf("created topics: %v, %v; want %s and %s with 8 partitions each", parts, err, fresh, dlq)
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
