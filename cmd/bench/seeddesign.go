package main

// The seed design, written plainly: the baseline OrderStream's create path
// is compared with. An HTTP handler INSERTs the order, sends {order_id} with
// a sarama SyncProducer and waits for the worker's ACK on a plain partition
// consumer; a consumer-group worker takes one message at a time, UPDATEs
// the order to processing and to done (two commits), sends the ACK with a
// SyncProducer and marks the message. No batching, no outbox, no
// idempotency, no row-level security, no GraphQL. It runs in a child
// process of the bench binary (designChildArg) so that its CPU is measured
// apart, on its own database, table and topics on the same PostgreSQL and
// broker as OrderStream.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/devstack"
	"github.com/orderstream/orderstream/internal/kafka"
)

const (
	// designChildArg makes this binary serve the seed design instead of
	// benchmarking.
	designChildArg    = "-internal-seed-design"
	designDatabase    = "orderstream_bench_seed"
	designOrdersTopic = "seed-orders"
	designAcksTopic   = "seed-acks"
	designGroup       = "seed-worker"
	// designAckTimeout is how long a request waits for its ACK, as the
	// API's default ACK_TIMEOUT.
	designAckTimeout  = 30 * time.Second
	designStopTimeout = 15 * time.Second
)

// Environment of the seed child.
const (
	envDesignDatabase   = "SEED_DATABASE_URL"
	envDesignBrokers    = "SEED_KAFKA_BROKERS"
	envDesignPartitions = "SEED_PARTITIONS"
	envDesignAPIPool    = "SEED_API_POOL"
	envDesignWorkerPool = "SEED_WORKER_POOL"
	envDesignTopics     = "SEED_TOPICS" // orders,acks
	envDesignGroup      = "SEED_GROUP"
)

// designConfig is what the seed design runs on.
type designConfig struct {
	dbURL               string
	brokers             []string
	partitions          int32
	apiPool, workerPool int32 // 0: pgx's default
	ordersTopic         string
	acksTopic           string
	group               string
}

// env is cfg as the child's environment.
func (c designConfig) env() []string {
	return []string{
		envDesignDatabase + "=" + c.dbURL,
		envDesignBrokers + "=" + strings.Join(c.brokers, ","),
		envDesignPartitions + "=" + strconv.Itoa(int(c.partitions)),
		envDesignAPIPool + "=" + strconv.Itoa(int(c.apiPool)),
		envDesignWorkerPool + "=" + strconv.Itoa(int(c.workerPool)),
		envDesignTopics + "=" + c.ordersTopic + "," + c.acksTopic,
		envDesignGroup + "=" + c.group,
	}
}

// designConfigFrom reads the child's configuration from its environment.
func designConfigFrom(getenv func(string) string) (designConfig, error) {
	c := designConfig{dbURL: getenv(envDesignDatabase), group: getenv(envDesignGroup)}
	if b := getenv(envDesignBrokers); b != "" {
		c.brokers = strings.Split(b, ",")
	}
	c.ordersTopic, c.acksTopic, _ = strings.Cut(getenv(envDesignTopics), ",")
	var errs []error
	for _, v := range []struct {
		name string
		dst  *int32
		min  int
	}{{envDesignPartitions, &c.partitions, 1}, {envDesignAPIPool, &c.apiPool, 0}, {envDesignWorkerPool, &c.workerPool, 0}} {
		n, err := strconv.Atoi(getenv(v.name))
		if err != nil || n < v.min || n > 1<<20 {
			errs = append(errs, fmt.Errorf("%s=%q: want a number from %d", v.name, getenv(v.name), v.min))
			continue
		}
		*v.dst = int32(n)
	}
	if c.dbURL == "" || len(c.brokers) == 0 || c.ordersTopic == "" || c.acksTopic == "" || c.group == "" {
		errs = append(errs, fmt.Errorf("%s, %s, %s and %s must be set", envDesignDatabase, envDesignBrokers, envDesignTopics, envDesignGroup))
	}
	return c, errors.Join(errs...)
}

// designTableSQL is the seed design's table, in a database of its own.
const designTableSQL = `CREATE TABLE seed_orders (
    id          bigserial PRIMARY KEY,
    external_id text NOT NULL,
    user_id     uuid NOT NULL,
    status      text NOT NULL,
    items       jsonb NOT NULL,
    total       numeric NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
)`

// designWarmSQL gives seed_orders smallTableRows done orders and
// statistics before the load, as warmTables does for OrderStream's tables.
var designWarmSQL = fmt.Sprintf(`INSERT INTO seed_orders (external_id, user_id, status, items, total)
SELECT 'warm-' || i, md5('bench-user-' || (i %% %d))::uuid, 'done', '[{"name": "Gift wrap", "quantity": 1, "price": 2.50}]', 2.50
FROM generate_series(0, %d - 1) AS i;
ANALYZE seed_orders`, seedUsers, smallTableRows)

// --- bench side ---

// errNoDesignBroker says that the broker of an API given with -api is not
// known: the seed phase is skipped.
var errNoDesignBroker = errors.New("with -api, the seed design needs KAFKA_BROKERS (the API's broker)")

// seedDesign is the running seed child, as the bench sees it.
type seedDesign struct {
	url      string
	proc     *devstack.Process
	stopping atomic.Bool
}

// setupSeedDesign creates the seed design's database, table and topics and starts
// its child process; it returns once an order has gone through it.
func (b *bench) setupSeedDesign(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	brokers, partitions, err := b.seedDesignBroker()
	if err != nil {
		return err
	}
	dbURL, err := withDatabase(b.st.dbURL, designDatabase)
	if err != nil {
		return err
	}
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + designDatabase, "CREATE DATABASE " + designDatabase} {
		if err := execOnce(ctx, b.st.dbURL, sql); err != nil {
			return fmt.Errorf("seed design database: %w", err)
		}
	}
	b.designDB = true
	if err := execOnce(ctx, dbURL, designTableSQL); err != nil {
		return fmt.Errorf("seed design table: %w", err)
	}
	if !b.cfg.coldTables {
		// As warmTables does for OrderStream's tables: a table in use, with
		// statistics.
		if err := execOnce(ctx, dbURL, designWarmSQL); err != nil {
			return fmt.Errorf("seed design table: %w", err)
		}
	}
	specs := []kafka.TopicSpec{{Name: designOrdersTopic, Partitions: partitions}, {Name: designAcksTopic, Partitions: partitions}}
	if err := kafka.EnsureTopicsAt(ctx, brokers, false, specs...); err != nil {
		return fmt.Errorf("seed design topics: %w", err)
	}
	sd, err := startSeedDesignChild(ctx, designConfig{dbURL: dbURL, brokers: brokers, partitions: partitions,
		apiPool: int32(apiPoolSize), workerPool: int32(workerPoolSize),
		ordersTopic: designOrdersTopic, acksTopic: designAcksTopic, group: designGroup}, b.wrap())
	if err != nil {
		return err
	}
	b.design = sd
	b.st.procs = append(b.st.procs, watched{name: procSeed, pid: sd.proc.Pid()})
	go func() {
		<-sd.proc.Done()
		if !sd.stopping.Load() {
			// Its requests fail from now on, and are counted as errors.
			b.log.Error("the seed design exited on its own", "status", sd.proc.ExitStatus())
		}
	}()

	// The worker joins its group after the child is up: the first order
	// waits in the topic until it has.
	op := restCreate([]string{sd.url}, newHTTPClient(1, 1), b.gen)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for {
		code := op(ctx, 0, rng)
		if code == "" {
			break
		}
		if ctx.Err() != nil || sd.proc.Exited() || code != "ACK_TIMEOUT" {
			return fmt.Errorf("first order of the seed design failed: %s", code)
		}
	}
	b.log.Info("seed design ready: first order done", "url", sd.url, "took", time.Since(start).Round(time.Millisecond))
	b.notes = append(b.notes, fmt.Sprintf("Seed design (the baseline of the *vs seed design* column, cmd/bench/seeddesign.go): a child process of the bench with an HTTP server (POST /orders: INSERT as 'new' into seed_orders of database %s, one commit; send {order_id} with a sarama SyncProducer to %s, partition = id mod %d; wait for the ACK on a plain partition consumer of %s; answer 201) and a consumer-group worker (group %s) taking one message at a time (UPDATE to processing, commit; UPDATE to done, commit; ACK with a SyncProducer; mark). DB pools of %d (server) and %d (worker) connections, as OrderStream's API and worker; the table warmed like OrderStream's (unless -cold-tables); no batching, outbox, idempotency, row-level security or GraphQL.",
		designDatabase, designOrdersTopic, partitions, designAcksTopic, designGroup, apiPoolSize, workerPoolSize))
	return nil
}

// seedDesignBroker returns the broker and partition count the seed design uses:
// OrderStream's.
func (b *bench) seedDesignBroker() ([]string, int32, error) {
	if b.st.ds != nil {
		return b.st.ds.Brokers(), b.st.ds.Partitions, nil
	}
	addrs, err := brokersFromEnv()
	if err != nil || addrs == nil {
		return nil, 0, cmp.Or(err, errNoDesignBroker)
	}
	return addrs, int32(b.cfg.partitions), nil
}

// stopSeedDesign stops the seed child and drops its database from a server that
// is not ours.
func (b *bench) stopSeedDesign() {
	if b.design != nil {
		b.design.stopping.Store(true)
		if b.cfg.callgrindDir != "" {
			b.design.proc.Signal(syscall.SIGKILL) //nolint:errcheck // see stack.stop; an exited child is fine
			<-b.design.proc.Done()
		} else if err := b.design.proc.Stop(syscall.SIGTERM, designStopTimeout); err != nil {
			b.log.Warn("stop the seed design", "err", err)
		}
	}
	if b.st.ownPG || !b.designDB {
		return // ours is deleted whole
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execOnce(ctx, b.st.dbURL, "DROP DATABASE IF EXISTS "+designDatabase); err != nil {
		b.log.Warn("drop the seed design database", "err", err)
	}
}

// measureSeedDesign measures the seed design's POST /orders at level.
func (b *bench) measureSeedDesign(ctx context.Context, level, round int) error {
	client := newHTTPClient(level, 1)
	b.measure(ctx, phaseSeed, level, round, restCreate([]string{b.design.url}, client, b.gen))
	client.CloseIdleConnections()
	return ctx.Err()
}

// startSeedDesignChild starts this binary in designChildArg mode; the child
// prints SEED_URL=http://… once it serves.
func startSeedDesignChild(ctx context.Context, cfg designConfig, wrap []string) (*seedDesign, error) {
	proc, url, err := startChild(ctx, "SEED_URL=", cfg.env(), wrap, designStopTimeout, designChildArg)
	if err != nil {
		return nil, fmt.Errorf("start the seed design: %w", err)
	}
	return &seedDesign{url: url, proc: proc}, nil
}

// --- child side: the seed design itself ---

// designEvent is the order event and the ACK on the wire.
type designEvent struct {
	OrderID int64  `json:"order_id"`
	Status  string `json:"status,omitempty"` // ACK only
}

// designOrder is the order as POST /orders answers it.
type designOrder struct {
	ID         int64           `json:"id"`
	ExternalID string          `json:"external_id"`
	UserID     string          `json:"user_id"`
	Status     string          `json:"status"`
	Items      json.RawMessage `json:"items"`
	Total      string          `json:"total"`
	CreatedAt  time.Time       `json:"created_at"`
}

// serveSeedDesign is the designChildArg mode: the seed design's server and worker
// until SIGTERM, SIGINT or the death of the parent.
func serveSeedDesign() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("process", "seed design")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := designConfigFrom(os.Getenv)
	if err == nil {
		err = runSeedDesign(ctx, cfg, log, func(url string) { fmt.Printf("SEED_URL=%s\n", url) })
	}
	if err != nil {
		log.Error("seed design", "err", err)
		return 1
	}
	return 0
}

// runSeedDesign serves the seed design until ctx ends; ready gets the
// server's URL once it serves and reads the ACK topic.
func runSeedDesign(ctx context.Context, cfg designConfig, log *slog.Logger, ready func(url string)) error {
	apiDB, err := designPool(ctx, cfg.dbURL, cfg.apiPool)
	if err != nil {
		return err
	}
	defer apiDB.Close()
	workerDB, err := designPool(ctx, cfg.dbURL, cfg.workerPool)
	if err != nil {
		return err
	}
	defer workerDB.Close()

	srv, err := newDesignServer(apiDB, cfg, log)
	if err != nil {
		return err
	}
	defer srv.close()

	w, err := newDesignWorker(workerDB, cfg)
	if err != nil {
		return err
	}
	group, err := sarama.NewConsumerGroup(cfg.brokers, cfg.group, designKafkaConfig("seed-worker"))
	if err != nil {
		w.producer.Close()
		return fmt.Errorf("seed worker group: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{cfg.ordersTopic}, w); err != nil && ctx.Err() == nil {
				log.Warn("seed worker session", "err", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
	defer func() {
		wg.Wait()
		group.Close()
		w.producer.Close()
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", srv.createOrder)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ready("http://" + ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

func designPool(ctx context.Context, dbURL string, size int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("seed design database: %w", err)
	}
	if size > 0 {
		cfg.MaxConns = size
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// designKafkaConfig is sarama's default configuration with what the seed
// design needs (the protocol version, successes for the SyncProducer, the
// partition set by hand, a fresh group reading from the oldest offset),
// plus two settings of OrderStream's own so that the comparison is of the
// designs, not of client knobs: acks from all in-sync replicas and a fetch
// long-poll of 100 ms.
func designKafkaConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = clientID
	c.Version = kafka.Version
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	return c
}

// designServer is the HTTP side: POST /orders.
type designServer struct {
	db       *pgxpool.Pool
	producer sarama.SyncProducer
	consumer sarama.Consumer
	cfg      designConfig
	log      *slog.Logger

	mu      sync.Mutex
	waiting map[int64]chan designEvent // by order id
}

// newDesignServer connects the producer and reads every partition of the ACK
// topic from its newest offset, positioned before it returns: an ACK
// produced after that is seen.
func newDesignServer(db *pgxpool.Pool, cfg designConfig, log *slog.Logger) (*designServer, error) {
	p, err := sarama.NewSyncProducer(cfg.brokers, designKafkaConfig("seed-server"))
	if err != nil {
		return nil, fmt.Errorf("seed producer: %w", err)
	}
	c, err := sarama.NewConsumer(cfg.brokers, designKafkaConfig("seed-server-acks"))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("seed ACK consumer: %w", err)
	}
	s := &designServer{db: db, producer: p, consumer: c, cfg: cfg, log: log, waiting: map[int64]chan designEvent{}}
	for part := range cfg.partitions {
		pc, err := c.ConsumePartition(cfg.acksTopic, part, sarama.OffsetNewest)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("seed ACK consumer, partition %d: %w", part, err)
		}
		go s.readAcks(pc)
	}
	return s, nil
}

func (s *designServer) close() {
	s.consumer.Close() // closes the partition consumers, which ends readAcks
	s.producer.Close()
}

func (s *designServer) readAcks(pc sarama.PartitionConsumer) {
	for m := range pc.Messages() {
		var ack designEvent
		if err := json.Unmarshal(m.Value, &ack); err != nil {
			s.log.Warn("bad ACK", "offset", m.Offset, "err", err)
			continue
		}
		s.mu.Lock()
		ch, ok := s.waiting[ack.OrderID]
		delete(s.waiting, ack.OrderID)
		s.mu.Unlock()
		if ok {
			ch <- ack // buffered: never blocks
		}
	}
}

// createOrder is POST /orders with OrderStream's REST body: INSERT, send
// the event, wait for the ACK, answer 201.
func (s *designServer) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ExternalID string `json:"external_id"`
		UserID     string `json:"user_id"`
		Payload    struct {
			Items json.RawMessage `json:"items"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.ExternalID == "" || len(in.Payload.Items) == 0 {
		designError(w, http.StatusBadRequest, "INVALID_INPUT")
		return
	}
	// Once accepted, the order completes even if the client goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), designAckTimeout)
	defer cancel()
	o := designOrder{ExternalID: in.ExternalID, UserID: in.UserID}
	err := s.db.QueryRow(ctx, `INSERT INTO seed_orders (external_id, user_id, status, items, total)
SELECT $1, $2, 'new', $3::jsonb, coalesce(sum((i->>'quantity')::int * (i->>'price')::numeric), 0)
FROM jsonb_array_elements($3::jsonb) AS i
RETURNING id, items, total::text, created_at`, in.ExternalID, in.UserID, string(in.Payload.Items)).Scan(&o.ID, &o.Items, &o.Total, &o.CreatedAt)
	if err != nil {
		s.log.Warn("insert order", "external_id", in.ExternalID, "err", err)
		designError(w, http.StatusInternalServerError, dbCode(ctx, err))
		return
	}

	// The waiter is registered before the event is sent: the ACK can win
	// the race.
	ch := make(chan designEvent, 1)
	s.mu.Lock()
	s.waiting[o.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, o.ID)
		s.mu.Unlock()
	}()
	value, _ := json.Marshal(designEvent{OrderID: o.ID})
	if _, _, err := s.producer.SendMessage(&sarama.ProducerMessage{Topic: s.cfg.ordersTopic, Partition: int32(o.ID % int64(s.cfg.partitions)),
		Value: sarama.ByteEncoder(value)}); err != nil {
		s.log.Warn("send event", "order_id", o.ID, "err", err)
		designError(w, http.StatusServiceUnavailable, "UNAVAILABLE")
		return
	}
	select {
	case ack := <-ch:
		o.Status = ack.Status
	case <-ctx.Done():
		designError(w, http.StatusGatewayTimeout, "ACK_TIMEOUT")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(o) //nolint:errcheck // the client may be gone
}

// designError answers with OrderStream's REST error shape.
func designError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q}}`+"\n", code)
}

// designWorker is the consumer-group worker: one message at a time.
type designWorker struct {
	db       *pgxpool.Pool
	producer sarama.SyncProducer
	cfg      designConfig
}

func newDesignWorker(db *pgxpool.Pool, cfg designConfig) (*designWorker, error) {
	p, err := sarama.NewSyncProducer(cfg.brokers, designKafkaConfig("seed-worker-acks"))
	if err != nil {
		return nil, fmt.Errorf("seed worker producer: %w", err)
	}
	return &designWorker{db: db, producer: p, cfg: cfg}, nil
}

func (*designWorker) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*designWorker) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim runs in sarama's goroutine, one per partition.
func (w *designWorker) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			if err := w.apply(s.Context(), m); err != nil {
				return fmt.Errorf("apply offset %d: %w", m.Offset, err) // unmarked: redelivered
			}
			s.MarkMessage(m, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// apply is the worker's per-order work: two commits, then the ACK.
func (w *designWorker) apply(ctx context.Context, m *sarama.ConsumerMessage) error {
	var ev designEvent
	if err := json.Unmarshal(m.Value, &ev); err != nil {
		return nil // not ours to retry: dropped
	}
	if _, err := w.db.Exec(ctx, `UPDATE seed_orders SET status = 'processing' WHERE id = $1`, ev.OrderID); err != nil {
		return err
	}
	if _, err := w.db.Exec(ctx, `UPDATE seed_orders SET status = 'done' WHERE id = $1`, ev.OrderID); err != nil {
		return err
	}
	value, _ := json.Marshal(designEvent{OrderID: ev.OrderID, Status: "done"})
	_, _, err := w.producer.SendMessage(&sarama.ProducerMessage{Topic: w.cfg.acksTopic, Partition: int32(ev.OrderID % int64(w.cfg.partitions)),
		Value: sarama.ByteEncoder(value)})
	return err
}
