package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/pgtest"
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

// TestServicesOnAClusterWithKafkaDefaults: a three-node Apache Kafka
// cluster configured as an operator who changed nothing would have it
// (automatic topic creation on, one replica by default, min.insync.replicas
// 1), given to the services only as KAFKA_BROKERS. The API and the worker
// must create their topics themselves, with three replicas and
// min.insync.replicas 2, not leave them to the broker's automatic creation
// (one partition, one replica), and serve orders. docs/KAFKA.md, "Against a
// cluster the project did not start".
func TestServicesOnAClusterWithKafkaDefaults(t *testing.T) {
	api, worker := binaries(t)
	ctx := t.Context()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	k, err := devstack.StartApacheKafka(sctx, devstack.ApacheOptions{Nodes: 3, QuickStart: true, Properties: map[string]string{
		// Kafka's own defaults, where the harness sets others.
		"auto.create.topics.enable":  "true",
		"default.replication.factor": "1",
		"min.insync.replicas":        "1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	urls := pgtest.NewDBs(t)
	topics := devstack.Topics{Orders: "o-" + uuid.NewString()[:8], Acks: "a-" + uuid.NewString()[:8], DLQ: "d-" + uuid.NewString()[:8]}
	s, err := devstack.StartStack(ctx, devstack.StackOptions{
		Dir:      t.TempDir(),
		Database: &devstack.DatabaseURLs{Owner: urls.Owner, API: urls.API, Worker: urls.Worker},
		Broker:   devstack.External(k.Brokers()),
		Topics:   topics,
		APIBin:   api, WorkerBin: worker,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	apiCfg, workerCfg := s.APIConfig(), s.WorkerConfig()
	apiCfg.Auth.Disabled = true
	if _, err := s.StartWorker(ctx, "worker", workerCfg); err != nil {
		t.Fatalf("worker: %v", err)
	}
	svc, err := s.StartAPI(ctx, "api", apiCfg)
	if err != nil {
		t.Fatalf("API: %v", err)
	}
	e := &env{t: t, base: svc.URL()}
	r := e.graphql(`mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status } } }`, map[string]any{"in": map[string]any{
		"externalId": "defaults-1", "userId": uuid.NewString(), "items": []any{map[string]any{"name": "A", "quantity": 1, "price": "1.00"}}}})
	if o := decodeField[struct{ Order gqlOrder }](t, r, "createOrder"); o.Order.Status != "DONE" {
		t.Fatalf("createOrder on the cluster: %+v; want DONE", o)
	}

	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	admin, err := sarama.NewClusterAdmin(k.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	names := []string{topics.Orders, topics.Acks, topics.DLQ}
	metas, err := admin.DescribeTopics(names)
	if err != nil || len(metas) != 3 {
		t.Fatalf("describe %v: %v, %v", names, metas, err)
	}
	for _, m := range metas {
		if m.Err != sarama.ErrNoError || len(m.Partitions) != int(s.Partitions) {
			t.Errorf("topic %s: %v, %d partitions; want %d", m.Name, m.Err, len(m.Partitions), s.Partitions)
		}
		for _, p := range m.Partitions {
			if len(p.Replicas) != 3 {
				t.Errorf("topic %s partition %d: replicas %v; want 3 (the services' replication factor, not the broker's default 1)", m.Name, p.ID, p.Replicas)
			}
		}
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"min.insync.replicas"}})
		if err != nil || len(entries) != 1 || entries[0].Value != "2" {
			t.Errorf("topic %s: min.insync.replicas %+v, %v; want 2", m.Name, entries, err)
		}
	}
}
