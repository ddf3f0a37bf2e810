package config

import "time"

// DefaultMergeStall: a merged batch processed this long lets another loop
// take the batches waiting meanwhile.
const DefaultMergeStall = 10 * time.Millisecond

// Worker is the worker's configuration (worker/main.go).
type Worker struct {
	Common
	Group    string // KAFKA_GROUP
	DLQTopic string // KAFKA_DLQ_TOPIC
	// MaxAttempts is how often a message that fails for a reason other
	// than an unavailable database or broker is tried before it is
	// dead-lettered (MAX_ATTEMPTS).
	MaxAttempts int
	BatchSize   int // WORKER_BATCH_SIZE: most messages applied in one transaction
	// MergeLoops is how many merged batches are taken and processed at a
	// time while none is stalled (WORKER_MERGE_LOOPS; 0 = each partition's
	// batch alone).
	MergeLoops int
	// MergeStall is how long a merged batch may be processed before
	// another loop may take the batches waiting meanwhile
	// (WORKER_MERGE_STALL; 0 = never).
	MergeStall time.Duration
	// CreatesFromMessages lets the worker plan a create from the items its
	// message carries and apply it in one round trip when the stored order
	// matches (WORKER_CREATES_FROM_MESSAGES; off: every event is read first).
	CreatesFromMessages bool
	HealthPort          string // HEALTH_PORT ("" = no health endpoint)
	// Pprof serves net/http/pprof on the health endpoint's /debug/pprof/ (PPROF).
	Pprof bool
}

func (c *Worker) bind(b *binder) {
	c.Common.bind(b, 16)
	b.str(&c.Group, "KAFKA_GROUP", DefaultGroup)
	b.str(&c.DLQTopic, "KAFKA_DLQ_TOPIC", DefaultDLQTopic)
	b.integer(&c.MaxAttempts, "MAX_ATTEMPTS", DefaultMaxAttempts)
	b.integer(&c.BatchSize, "WORKER_BATCH_SIZE", DefaultWorkerBatchSize)
	b.integer(&c.MergeLoops, "WORKER_MERGE_LOOPS", 1)
	b.duration(&c.MergeStall, "WORKER_MERGE_STALL", DefaultMergeStall, zeroOK)
	b.boolean(&c.CreatesFromMessages, "WORKER_CREATES_FROM_MESSAGES", true)
	b.str(&c.HealthPort, "HEALTH_PORT", "")
	b.boolean(&c.Pprof, "PPROF", false)
}

// LoadWorker reads the worker's configuration from get (nil: the process
// environment). The error names every bad variable.
func LoadWorker(get Lookup) (Worker, error) { return load[Worker](get) }

// DefaultWorker is the worker's configuration with every default.
func DefaultWorker() Worker {
	c, _ := LoadWorker(Lines())
	return c
}

// Env renders c as environment lines; LoadWorker(Lines(c.Env()...)) gives c
// back.
func (c Worker) Env() []string { return renderOf(c.bind) }

// WorkerNames lists the variables of Worker.
func WorkerNames() []string { return nameList[Worker]() }
