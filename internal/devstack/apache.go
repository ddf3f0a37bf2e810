package devstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/orderstream/internal/kafka"
)

// EnvKafkaLibs names the environment variable that points the harness at a
// folder of Apache Kafka's jars instead of the project's cache
// (.cache/kafka/<version>/libs, filled by `make kafka`).
const EnvKafkaLibs = "ORDERSTREAM_KAFKA_LIBS"

// MaxHeapMB is the largest JVM heap a node may have (and the default).
const MaxHeapMB = 512

// ApacheOptions configures StartApacheKafka.
type ApacheOptions struct {
	// Nodes is the number of combined broker+controller nodes (node ids 1
	// to Nodes, all of them quorum voters); 0 means 1.
	Nodes int
	// Dir holds one folder per node (node-1, …: server.properties, data/,
	// kafka.log). It must not hold a cluster already: storage is formatted
	// fresh. "" makes a temporary directory, removed by Close.
	Dir string
	// LibDir is the folder of the broker's jars; "" means $ORDERSTREAM_KAFKA_LIBS,
	// else the cache of the OrderStream checkout found upward from the
	// working directory (the folder holding deploy/kafka/pom.xml).
	LibDir string
	// HeapMB is each node's JVM heap (-Xmx); 0 means 512, the most allowed.
	HeapMB int
	// Ports are the client (PLAINTEXT) ports of the nodes, by index; a
	// missing or 0 entry picks a free port. Controller ports are always
	// free ports.
	Ports []int
	// Properties are added to (or override) every node's server.properties.
	Properties map[string]string
	// QuickStart runs the JVMs with the C1 JIT compiler only
	// (-XX:TieredStopAtLevel=1): on two cores a node is ready in a third
	// less time. In producer runs of up to 13 s it also used half the
	// broker CPU of the default C1+C2 (C2's compiling costs more than it
	// saves there, docs/KAFKA.md); longer runs were not measured.
	QuickStart bool
	// JVMOptions are added to the java command line of every node.
	JVMOptions []string
	// Log receives the harness's progress; nil discards it. The brokers'
	// own logs go to their files (LogPath).
	Log *slog.Logger

	noCDS bool // set while building the class-data archive
}

// ApacheKafka is a KRaft cluster of Apache Kafka nodes, each a broker and a
// controller, listening on 127.0.0.1. Each node is a JVM that is sent SIGKILL
// if this process dies.
type ApacheKafka struct {
	log       *slog.Logger
	dir       string
	removeDir bool // dir is a temporary directory
	clusterID string
	version   string
	java      string
	args      []string // java arguments before the main class
	nodes     []*apacheNode

	mu     sync.Mutex
	closed bool
}

type apacheNode struct {
	id             int32
	port, ctrlPort int
	dir            string
	props          string // path of server.properties
	logPath        string

	// Guarded by ApacheKafka.mu.
	proc   *Process
	paused bool
	up     bool // launched, and not stopped or killed on purpose since
	starts int
}

// StartApacheKafka formats storage for opts.Nodes nodes, starts them all
// together (the quorum needs a majority before any broker is ready) and
// waits until every broker lists every node in its metadata and a topic
// replicated on all of them can be created, or ctx ends.
//
// The settings that break small clusters are set for the cluster size:
// replication factors of the internal topics, min.insync.replicas and
// default.replication.factor (kafka.Replication: 1 and 1 on one or two
// nodes, 3 and 2 on three or more), no initial rebalance delay, no
// automatic topic creation.
func StartApacheKafka(ctx context.Context, opts ApacheOptions) (*ApacheKafka, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.HeapMB <= 0 {
		opts.HeapMB = MaxHeapMB
	}
	if opts.HeapMB > MaxHeapMB {
		return nil, fmt.Errorf("start apache kafka: HeapMB %d is above the limit of %d", opts.HeapMB, MaxHeapMB)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	libDir := opts.LibDir
	if libDir == "" {
		var err error
		if libDir, err = FindKafkaLibs(); err != nil {
			return nil, fmt.Errorf("start apache kafka: %w", err)
		}
	}
	version, err := kafkaVersion(libDir)
	if err != nil {
		return nil, fmt.Errorf("start apache kafka: %w", err)
	}
	java, err := javaBinary()
	if err != nil {
		return nil, fmt.Errorf("start apache kafka: %w", err)
	}

	a := &ApacheKafka{log: log, dir: opts.Dir, version: version, java: java, clusterID: newKafkaUUID()}
	if a.dir == "" {
		sweepTempDirs(log)
		if a.dir, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, fmt.Errorf("start apache kafka: %w", err)
		}
		a.removeDir = true
		// Whose it is, for sweepTempDirs.
		if err := os.WriteFile(filepath.Join(a.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			a.cleanup()
			return nil, fmt.Errorf("start apache kafka: %w", err)
		}
	}
	a.args = []string{
		"-Xmx" + strconv.Itoa(opts.HeapMB) + "m",
		// Kafka's own GC settings (bin/kafka-run-class.sh).
		"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
		"-XX:+ExplicitGCInvokesConcurrent",
		"-Djava.awt.headless=true",
	}
	if cfg := filepath.Join(filepath.Dir(libDir), "log4j2.xml"); fileExists(cfg) {
		a.args = append(a.args, "-Dlog4j2.configurationFile="+cfg)
	} else {
		log.Warn("no log4j2.xml beside the Kafka jars: the brokers log errors only", "lib_dir", libDir)
	}
	if opts.QuickStart {
		a.args = append(a.args, "-XX:TieredStopAtLevel=1")
	}
	if !opts.noCDS {
		if archive := classArchive(ctx, libDir, java, log); archive != "" {
			a.args = append(a.args, "-XX:SharedArchiveFile="+archive)
		}
	}
	a.args = append(a.args, opts.JVMOptions...)
	a.args = append(a.args, "-cp", filepath.Join(libDir, "*"))

	if err := a.layout(opts); err != nil {
		a.cleanup()
		return nil, fmt.Errorf("start apache kafka: %w", err)
	}
	start := time.Now()
	if err := a.format(ctx); err != nil {
		return nil, a.failStart(err)
	}
	formatted := time.Now()
	a.mu.Lock()
	for _, n := range a.nodes {
		if err := a.launch(n); err != nil {
			a.mu.Unlock()
			return nil, a.failStart(err)
		}
	}
	a.mu.Unlock()
	if err := a.WaitReady(ctx); err != nil {
		return nil, a.failStart(err)
	}
	if err := a.probeTopic(ctx); err != nil {
		return nil, a.failStart(err)
	}
	log.Info("apache kafka ready", "version", version, "nodes", len(a.nodes), "brokers", a.Brokers(),
		"format", formatted.Sub(start).Round(time.Millisecond), "start", time.Since(formatted).Round(time.Millisecond), "dir", a.dir)
	return a, nil
}

// layout picks the ports and writes each node's server.properties.
func (a *ApacheKafka) layout(opts ApacheOptions) error {
	taken := map[int]bool{}
	pick := func(want int) (int, error) {
		if want != 0 {
			taken[want] = true
			return want, nil
		}
		for range 100 {
			p, err := FreePort()
			if err != nil {
				return 0, err
			}
			if !taken[p] {
				taken[p] = true
				return p, nil
			}
		}
		return 0, errors.New("no distinct free port")
	}
	for _, p := range opts.Ports {
		if p != 0 {
			taken[p] = true
		}
	}
	for i := range opts.Nodes {
		want := 0
		if i < len(opts.Ports) {
			want = opts.Ports[i]
		}
		port, err := pick(want)
		if err != nil {
			return err
		}
		ctrl, err := pick(0)
		if err != nil {
			return err
		}
		dir := filepath.Join(a.dir, fmt.Sprintf("node-%d", i+1))
		if fileExists(filepath.Join(dir, "data", "meta.properties")) {
			return fmt.Errorf("%s already holds a formatted node: give a fresh Dir", dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		a.nodes = append(a.nodes, &apacheNode{
			id: int32(i + 1), port: port, ctrlPort: ctrl, dir: dir,
			props: filepath.Join(dir, "server.properties"), logPath: filepath.Join(dir, "kafka.log"),
		})
	}
	voters := make([]string, len(a.nodes))
	for i, n := range a.nodes {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", n.id, n.ctrlPort)
	}
	rf, minISR := kafka.Replication(len(a.nodes))
	for _, n := range a.nodes {
		props := [][2]string{
			{"process.roles", "broker,controller"},
			{"node.id", strconv.Itoa(int(n.id))},
			{"controller.quorum.voters", strings.Join(voters, ",")},
			{"controller.listener.names", "CONTROLLER"},
			{"listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", n.port, n.ctrlPort)},
			{"advertised.listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.port)},
			{"inter.broker.listener.name", "PLAINTEXT"},
			{"listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
			{"log.dirs", filepath.Join(n.dir, "data")},
			// Kafka's defaults assume three brokers or more.
			{"default.replication.factor", strconv.Itoa(int(rf))},
			{"min.insync.replicas", strconv.Itoa(int(minISR))},
			{"offsets.topic.replication.factor", strconv.Itoa(int(rf))},
			{"transaction.state.log.replication.factor", strconv.Itoa(int(rf))},
			{"transaction.state.log.min.isr", strconv.Itoa(int(minISR))},
			{"share.coordinator.state.topic.replication.factor", strconv.Itoa(int(rf))},
			{"share.coordinator.state.topic.min.isr", strconv.Itoa(int(minISR))},
			// The first join of a group would wait 3 s for more members.
			{"group.initial.rebalance.delay.ms", "0"},
			// A topic must be provisioned (kafka.EnsureTopics), never
			// auto-created with one partition.
			{"auto.create.topics.enable", "false"},
		}
		keys := make([]string, 0, len(opts.Properties))
		for k := range opts.Properties {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			props = slices.DeleteFunc(props, func(p [2]string) bool { return p[0] == k })
			props = append(props, [2]string{k, opts.Properties[k]})
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# node %d of an OrderStream test cluster (internal/devstack/apache.go)\n", n.id)
		for _, p := range props {
			fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
		}
		if err := os.WriteFile(n.props, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// format runs Kafka's StorageTool on every node's properties, all at once,
// with the one cluster id; with static voters no --standalone is given.
func (a *ApacheKafka) format(ctx context.Context) error {
	errs := make([]error, len(a.nodes))
	var wg sync.WaitGroup
	for i, n := range a.nodes {
		wg.Go(func() {
			out, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				errs[i] = err
				return
			}
			defer out.Close()
			fmt.Fprintf(out, "=== devstack: formatting node %d storage (cluster %s) at %s\n", n.id, a.clusterID, time.Now().Format(time.RFC3339Nano))
			// A short-lived JVM: the C1 compiler alone is faster.
			args := append(slices.Clone(a.args), "-XX:TieredStopAtLevel=1", "kafka.tools.StorageTool", "format", "-t", a.clusterID, "-c", n.props)
			cmd := exec.CommandContext(ctx, a.java, args...)
			cmd.Stdout, cmd.Stderr = out, out
			cmd.Dir = n.dir
			p, err := StartProcess(cmd, syscall.SIGKILL)
			if err != nil {
				errs[i] = err
				return
			}
			<-p.Done()
			if p.Err() != nil {
				errs[i] = fmt.Errorf("format node %d storage: %s\n%s", n.id, p.ExitStatus(), tail(n.logPath, 15))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// launch starts node n's JVM, its output appended to its log file. Called
// with a.mu held.
func (a *ApacheKafka) launch(n *apacheNode) error {
	out, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	n.starts++
	fmt.Fprintf(out, "=== devstack: starting node %d (start %d) at %s\n", n.id, n.starts, time.Now().Format(time.RFC3339Nano))
	args := append(slices.Clone(a.args), "-Dkafka.logs.dir="+n.dir, "kafka.Kafka", n.props)
	cmd := exec.Command(a.java, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = n.dir
	// A process group of its own: a Ctrl-C in the terminal of `make run`
	// reaches devstack, which stops the services before the broker, not the
	// broker first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := StartProcess(cmd, syscall.SIGKILL)
	if err != nil {
		return fmt.Errorf("start node %d: %w", n.id, err)
	}
	n.proc, n.paused, n.up = p, false, true
	a.log.Debug("apache kafka node started", "node", n.id, "pid", p.Pid(), "port", n.port)
	return nil
}

// failStart stops what StartApacheKafka started, keeps the nodes' logs
// (SaveLogs) and returns err with where they are.
func (a *ApacheKafka) failStart(err error) error {
	a.killAll()
	where := a.dir
	if a.removeDir {
		if saved, serr := a.SaveLogs("kafka-start-" + time.Now().Format("20060102-150405.000")); serr == nil {
			where = saved
		}
	}
	a.cleanup()
	return fmt.Errorf("start apache kafka: %w (node logs in %s)", err, where)
}

// WaitReady waits until every running node (not stopped, killed or paused)
// answers a metadata request that lists all the running nodes and gives
// every partition of every topic a leader among them, or ctx ends: the
// cluster serves all its data again (a partition whose replicas are all on
// stopped nodes keeps it waiting). It fails at once if a node's process
// exits by itself.
func (a *ApacheKafka) WaitReady(ctx context.Context) error {
	var last error
	for {
		a.mu.Lock()
		var running []*apacheNode
		var ids []int32
		for _, n := range a.nodes {
			if n.up && n.proc.Exited() {
				a.mu.Unlock()
				return fmt.Errorf("node %d exited (%s)\n%s", n.id, n.proc.ExitStatus(), tail(n.logPath, 20))
			}
			if n.running() {
				running = append(running, n)
				ids = append(ids, n.id)
			}
		}
		a.mu.Unlock()
		last = nil
		for _, n := range running {
			if last = n.serves(ids); last != nil {
				last = fmt.Errorf("node %d: %w", n.id, last)
				break
			}
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for brokers: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serves checks that the node's metadata lists exactly the brokers ids
// (sorted) and gives each partition a leader among them.
func (n *apacheNode) serves(ids []int32) error {
	md, err := n.metadata(nil)
	if err != nil {
		return err
	}
	var listed []int32
	for _, b := range md.Brokers {
		listed = append(listed, b.ID())
	}
	slices.Sort(listed)
	if !slices.Equal(listed, ids) {
		return fmt.Errorf("lists brokers %v, want %v", listed, ids)
	}
	for _, t := range md.Topics {
		if !errors.Is(t.Err, sarama.ErrNoError) {
			continue // being created or deleted
		}
		for _, p := range t.Partitions {
			if !slices.Contains(ids, p.Leader) {
				return fmt.Errorf("partition %s-%d has leader %d, not a running node", t.Name, p.ID, p.Leader)
			}
		}
	}
	return nil
}

// probeTopic creates a topic replicated on every node, waits for its
// leader, and deletes it: the controller works, and so do the brokers.
func (a *ApacheKafka) probeTopic(ctx context.Context) error {
	client, err := kafka.NewClient(a.Brokers(), "devstack-apache")
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return err
	}
	defer admin.Close() // and the client
	rf := int16(len(a.nodes))
	spec := kafka.TopicSpec{Name: "orderstream-ready-" + a.clusterID[:8], Partitions: 1, ReplicationFactor: rf, MinInsyncReplicas: 1}
	if err := kafka.EnsureTopics(ctx, client, spec); err != nil {
		return fmt.Errorf("probe topic: %w", err)
	}
	if err := admin.DeleteTopic(spec.Name); err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	return nil
}

// Version returns the Kafka version of the jars, such as "4.4.0".
func (a *ApacheKafka) Version() string { return a.version }

// Dir returns the directory holding the nodes' folders.
func (a *ApacheKafka) Dir() string { return a.dir }

// Brokers returns the client addresses of all nodes, running or not, such
// as "127.0.0.1:9092".
func (a *ApacheKafka) Brokers() []string {
	out := make([]string, len(a.nodes))
	for i, n := range a.nodes {
		out[i] = n.addr()
	}
	return out
}

// NodeIDs returns the node ids, 1 to the number of nodes.
func (a *ApacheKafka) NodeIDs() []int32 {
	out := make([]int32, len(a.nodes))
	for i, n := range a.nodes {
		out[i] = n.id
	}
	return out
}

// Broker returns the client address of node id.
func (a *ApacheKafka) Broker(id int32) (string, error) {
	n, err := a.node(id)
	if err != nil {
		return "", err
	}
	return n.addr(), nil
}

// LogPath returns the file that node id's output (log4j2 to stderr) goes to.
// Each start of the node appends to it after a "=== devstack:" line.
func (a *ApacheKafka) LogPath(id int32) string {
	n, err := a.node(id)
	if err != nil {
		return ""
	}
	return n.logPath
}

// LogTail returns the last lines of node id's log file.
func (a *ApacheKafka) LogTail(id int32, lines int) string {
	return tail(a.LogPath(id), lines)
}

// PID returns the process id of node id's JVM, or 0 when it is not running.
func (a *ApacheKafka) PID(id int32) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.node(id)
	if err != nil || n.proc == nil || n.proc.Exited() {
		return 0
	}
	return n.proc.Pid()
}

// Running reports whether node id's JVM is alive (paused counts as alive).
func (a *ApacheKafka) Running(id int32) bool { return a.PID(id) != 0 }

// Kill sends node id SIGKILL and waits for its JVM to exit.
func (a *ApacheKafka) Kill(id int32) error {
	p, err := a.goingDown(id)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.Done()
	return nil
}

// Stop sends node id SIGTERM (resuming it first if paused) and waits up to
// timeout for a graceful shutdown (controlled shutdown: the node gives up
// its leaderships), then kills it. It returns an error if it had to be
// killed.
func (a *ApacheKafka) Stop(id int32, timeout time.Duration) error {
	p, err := a.goingDown(id)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	err = p.Stop(syscall.SIGTERM, timeout)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() == 143 {
		err = nil // the JVM's exit status after a clean SIGTERM shutdown
	}
	if err != nil {
		return fmt.Errorf("stop node %d: %w", id, err)
	}
	return nil
}

// Start starts node id again, stopped or killed, with its ports, properties
// and data; it returns once the JVM is launched (WaitReady waits for it to
// serve).
func (a *ApacheKafka) Start(id int32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("apache kafka: closed")
	}
	n, err := a.node(id)
	if err != nil {
		return err
	}
	if n.proc != nil && !n.proc.Exited() {
		return fmt.Errorf("node %d is running", id)
	}
	return a.launch(n)
}

// Pause freezes node id with SIGSTOP: its connections stay open and
// nothing answers, as with a long GC pause or a hung host.
func (a *ApacheKafka) Pause(id int32) error {
	p, err := a.liveProc(id)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	a.setPaused(id, true)
	return nil
}

// Resume continues node id after Pause (SIGCONT).
func (a *ApacheKafka) Resume(id int32) error {
	p, err := a.liveProc(id)
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	a.setPaused(id, false)
	return nil
}

// Leader returns the node id leading partition of topic, or -1 when it has
// none, as a running node's metadata says.
func (a *ApacheKafka) Leader(ctx context.Context, topic string, partition int32) (int32, error) {
	md, err := a.topicMetadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	for _, p := range md.Partitions {
		if p.ID == partition {
			return p.Leader, nil
		}
	}
	return 0, fmt.Errorf("topic %s has no partition %d", topic, partition)
}

// LeaderCounts returns how many partitions of topic each node leads, as a
// running node's metadata says (key -1: partitions without a leader).
func (a *ApacheKafka) LeaderCounts(ctx context.Context, topic string) (map[int32]int, error) {
	md, err := a.topicMetadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	counts := map[int32]int{}
	for _, p := range md.Partitions {
		counts[p.Leader]++
	}
	return counts, nil
}

// TopLeader returns the node that leads the most partitions of topic (the
// lowest id among equals) and how many it leads.
func (a *ApacheKafka) TopLeader(ctx context.Context, topic string) (id int32, partitions int, err error) {
	counts, err := a.LeaderCounts(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	id = -1
	for _, n := range a.NodeIDs() {
		if counts[n] > partitions {
			id, partitions = n, counts[n]
		}
	}
	if id < 0 {
		return 0, 0, fmt.Errorf("no partition of %s has a leader", topic)
	}
	return id, partitions, nil
}

func (a *ApacheKafka) topicMetadata(ctx context.Context, topic string) (*sarama.TopicMetadata, error) {
	return retry(ctx, func() (*sarama.TopicMetadata, error) {
		var errs []error
		for _, n := range a.reachable() {
			md, err := n.metadata([]string{topic})
			if err != nil {
				errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
				continue
			}
			for _, t := range md.Topics {
				if t.Name == topic {
					if !errors.Is(t.Err, sarama.ErrNoError) {
						return nil, fmt.Errorf("topic %s: %w", topic, t.Err)
					}
					return t, nil
				}
			}
			return nil, fmt.Errorf("topic %s: not in the metadata", topic)
		}
		return nil, fmt.Errorf("metadata of %s: no running node answered: %w", topic, errors.Join(errs...))
	})
}

// ActiveController returns the id of the active controller: the leader of
// the KRaft quorum, as DescribeQuorum reports it (-1 while there is none).
// The controller id of a metadata response is not it: in KRaft, brokers
// answer with a random live broker.
func (a *ApacheKafka) ActiveController(ctx context.Context) (int32, error) {
	return retry(ctx, func() (int32, error) {
		var errs []error
		for _, n := range a.reachable() {
			leader, err := n.quorumLeader(ctx)
			if err == nil {
				return leader, nil
			}
			errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
		}
		return 0, fmt.Errorf("describe quorum: %w", errors.Join(errs...))
	})
}

// Coordinator returns the id of the node that coordinates consumer group
// group (FindCoordinator), retrying while the coordinator is not available
// yet (the offsets topic is created on first use) until ctx ends.
func (a *ApacheKafka) Coordinator(ctx context.Context, group string) (int32, error) {
	return retry(ctx, func() (int32, error) {
		var errs []error
		for _, n := range a.reachable() {
			id, err := n.coordinator(group)
			if err == nil {
				return id, nil
			}
			errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
		}
		return 0, fmt.Errorf("find coordinator of group %s: %w", group, errors.Join(errs...))
	})
}

// SaveLogs copies every node's log file and server.properties into
// ArtifactsDir()/name (for a failed test: the cluster's own directory may
// be temporary) and returns that directory.
func (a *ApacheKafka) SaveLogs(name string) (string, error) {
	dst := filepath.Join(ArtifactsDir(), name)
	var errs []error
	for _, n := range a.nodes {
		nd := filepath.Join(dst, fmt.Sprintf("node-%d", n.id))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return "", err
		}
		for _, f := range []string{n.logPath, n.props} {
			if err := copyFile(f, filepath.Join(nd, filepath.Base(f))); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return dst, errors.Join(errs...)
}

// ArtifactsDir is where test harnesses keep what a failed test leaves:
// $ARTIFACTS_DIR, or /tmp/orderstream-artifacts.
func ArtifactsDir() string {
	if d := os.Getenv("ARTIFACTS_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "orderstream-artifacts")
}

// Close kills every node (SIGKILL: a test cluster's data is thrown away,
// and a graceful shutdown of a whole KRaft cluster stalls once the quorum
// is gone) and removes the directory if it was temporary. It is safe to
// call more than once.
func (a *ApacheKafka) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	a.killAll()
	a.cleanup()
}

func (a *ApacheKafka) killAll() {
	a.mu.Lock()
	procs := make([]*Process, 0, len(a.nodes))
	for _, n := range a.nodes {
		if n.proc != nil {
			procs = append(procs, n.proc)
		}
	}
	for _, n := range a.nodes {
		n.up = false
	}
	a.mu.Unlock()
	for _, p := range procs {
		p.Signal(syscall.SIGKILL) //nolint:errcheck // an exited process is fine
	}
	for _, p := range procs {
		<-p.Done()
	}
}

func (a *ApacheKafka) cleanup() {
	if a.removeDir {
		os.RemoveAll(a.dir)
	}
}

func (a *ApacheKafka) node(id int32) (*apacheNode, error) {
	if id < 1 || int(id) > len(a.nodes) {
		return nil, fmt.Errorf("no node %d (nodes are 1 to %d)", id, len(a.nodes))
	}
	return a.nodes[id-1], nil
}

func (a *ApacheKafka) liveProc(id int32) (*Process, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.node(id)
	if err != nil {
		return nil, err
	}
	if n.proc == nil || n.proc.Exited() {
		return nil, fmt.Errorf("node %d is not running", id)
	}
	return n.proc, nil
}

// goingDown returns node id's process and marks the node as stopped on
// purpose, for Kill and Stop.
func (a *ApacheKafka) goingDown(id int32) (*Process, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.node(id)
	if err != nil {
		return nil, err
	}
	if n.proc == nil || n.proc.Exited() {
		return nil, fmt.Errorf("node %d is not running", id)
	}
	n.up, n.paused = false, false
	return n.proc, nil
}

func (a *ApacheKafka) setPaused(id int32, paused bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, err := a.node(id); err == nil {
		n.paused = paused
	}
}

// reachable returns the nodes that are running and not paused.
func (a *ApacheKafka) reachable() []*apacheNode {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*apacheNode
	for _, n := range a.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

func (n *apacheNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// running reports whether the node's JVM is alive and not paused. Called
// with ApacheKafka.mu held.
func (n *apacheNode) running() bool {
	return n.proc != nil && !n.proc.Exited() && !n.paused
}

// clientConfig is the sarama configuration of the harness's own requests:
// short timeouts, since a node may be dead or frozen.
func clientConfig() *sarama.Config {
	cfg := kafka.NewConfig("devstack-apache")
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	return cfg
}

// metadata asks this node alone for the metadata of topics (nil: all
// topics).
func (n *apacheNode) metadata(topics []string) (*sarama.MetadataResponse, error) {
	b := sarama.NewBroker(n.addr())
	if err := b.Open(clientConfig()); err != nil {
		return nil, err
	}
	defer b.Close()
	return b.GetMetadata(sarama.NewMetadataRequest(kafka.Version, topics))
}

// coordinator asks this node for the coordinator of group.
func (n *apacheNode) coordinator(group string) (int32, error) {
	b := sarama.NewBroker(n.addr())
	if err := b.Open(clientConfig()); err != nil {
		return 0, err
	}
	defer b.Close()
	resp, err := b.FindCoordinator(&sarama.FindCoordinatorRequest{
		Version: 2, CoordinatorKey: group, CoordinatorType: sarama.CoordinatorGroup,
	})
	if err != nil {
		return 0, err
	}
	if !errors.Is(resp.Err, sarama.ErrNoError) {
		return 0, resp.Err
	}
	return resp.Coordinator.ID(), nil
}

// quorumLeader sends DescribeQuorum for the metadata log to this node's
// broker listener, which forwards it to the active controller, and returns
// the quorum's leader. sarama has no DescribeQuorum; franz-go's kmsg has.
func (n *apacheNode) quorumLeader(ctx context.Context) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr()), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = "__cluster_metadata"
	part := kmsg.NewDescribeQuorumRequestTopicPartition()
	part.Partition = 0
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		return 0, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, errors.New("describe quorum: no partition in the response")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, err
	}
	return p.LeaderID, nil
}

// retry calls f until it succeeds or ctx ends, returning f's last error
// then.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// classArchive returns the path of a class-data sharing archive (AppCDS)
// of the broker's classes for this java binary and these jars, building it
// first if it is missing: a node loads some 10,000 classes from the jars at
// start, and mapping them from the archive instead cuts its start-up by a
// third or more. The archive sits beside libDir; it is built once, by a
// one-node cluster started with -XX:ArchiveClassesAtExit and stopped with
// SIGTERM (the JVM writes it at a normal exit), under a file lock so that
// concurrent test binaries build it once. It returns "" (and the nodes run
// without it) when the folder is not writable or building fails. A JVM
// that finds the archive stale (other jars, another JDK build) ignores it.
func classArchive(ctx context.Context, libDir, java string, log *slog.Logger) string {
	id := java
	if fi, err := os.Stat(java); err == nil {
		id += fi.ModTime().String()
	}
	sum := sha256.Sum256([]byte(id))
	archive := filepath.Join(filepath.Dir(libDir), "jvm-"+hex.EncodeToString(sum[:6])+".jsa")
	if fileExists(archive) {
		return archive
	}
	lock, err := os.OpenFile(archive+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		log.Debug("no class-data archive: folder not writable", "err", err)
		return ""
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return ""
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if fileExists(archive) {
		return archive // built by another process meanwhile
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.%d.tmp", archive, os.Getpid())
	defer os.Remove(tmp)
	k, err := StartApacheKafka(ctx, ApacheOptions{
		Nodes: 1, LibDir: libDir, JVMOptions: []string{"-XX:ArchiveClassesAtExit=" + tmp}, Log: log, noCDS: true,
	})
	if err != nil {
		log.Warn("no class-data archive for the Kafka JVMs", "err", err)
		return ""
	}
	err = k.Stop(1, time.Minute)
	k.Close()
	if err == nil && !fileExists(tmp) {
		err = errors.New("the JVM wrote no archive")
	}
	if err == nil {
		err = os.Rename(tmp, archive)
	}
	if err != nil {
		log.Warn("no class-data archive for the Kafka JVMs", "err", err)
		return ""
	}
	log.Info("built the class-data archive of the Kafka JVMs", "path", archive, "took", time.Since(start).Round(time.Millisecond))
	return archive
}

const (
	tempPrefix = "orderstream-kafka-"
	ownerFile  = "owner.pid"
)

// sweepTempDirs removes the temporary cluster directories whose owning
// process is gone: a process that was killed or panicked could not remove
// its own (its JVMs died with it).
func sweepTempDirs(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			log.Debug("removed the directory of a cluster whose process is gone", "dir", dir, "pid", pid)
		}
	}
}

// FindKafkaLibs returns the folder of Apache Kafka's jars:
// $ORDERSTREAM_KAFKA_LIBS, else .cache/kafka/<version>/libs of the
// OrderStream checkout that holds the working directory (found by its
// deploy/kafka/pom.xml, whose kafka.version gives the version). It fails
// when the cache is missing or older than the pom or the log4j2 config:
// `make kafka` (scripts/ensure-kafka.sh) fills it.
func FindKafkaLibs() (string, error) {
	if d := os.Getenv(EnvKafkaLibs); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		deploy := filepath.Join(dir, "deploy", "kafka")
		pom, err := os.ReadFile(filepath.Join(deploy, "pom.xml"))
		if err == nil {
			return cachedLibs(dir, deploy, pom)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no Apache Kafka jars: set %s to a folder of them, or work inside the OrderStream checkout (deploy/kafka/pom.xml) and run `make kafka`", EnvKafkaLibs)
		}
	}
}

var pomVersion = regexp.MustCompile(`<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>`)

func cachedLibs(root, deploy string, pom []byte) (string, error) {
	m := pomVersion.FindSubmatch(pom)
	if m == nil {
		return "", fmt.Errorf("no <kafka.version> in %s", filepath.Join(deploy, "pom.xml"))
	}
	cache := filepath.Join(root, ".cache", "kafka", string(m[1]))
	stamp, err := os.ReadFile(filepath.Join(cache, ".stamp"))
	if err != nil {
		return "", fmt.Errorf("Apache Kafka %s is not installed in %s: run `make kafka`", m[1], cache)
	}
	log4j, err := os.ReadFile(filepath.Join(deploy, "log4j2.xml"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(slices.Clone(pom), log4j...))
	if strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]) {
		return "", fmt.Errorf("the Apache Kafka jars in %s are older than deploy/kafka/pom.xml or log4j2.xml: run `make kafka`", cache)
	}
	return filepath.Join(cache, "libs"), nil
}

var kafkaJar = regexp.MustCompile(`^kafka_2\.\d+-(\d[^-]*)\.jar$`)

// kafkaVersion reads the broker version off the kafka_2.13-<version>.jar in
// libDir.
func kafkaVersion(libDir string) (string, error) {
	entries, err := os.ReadDir(libDir)
	if err != nil {
		return "", fmt.Errorf("read Kafka jars: %w", err)
	}
	for _, e := range entries {
		if m := kafkaJar.FindStringSubmatch(e.Name()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("no kafka_2.13-<version>.jar in %s", libDir)
}

// javaBinary returns $JAVA_HOME/bin/java, else java on PATH.
func javaBinary() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if j := filepath.Join(home, "bin", "java"); fileExists(j) {
			return j, nil
		}
	}
	j, err := exec.LookPath("java")
	if err != nil {
		return "", errors.New("java not found: Apache Kafka needs Java 17 or newer (set JAVA_HOME or put java on PATH)")
	}
	return j, nil
}

// newKafkaUUID returns a random Kafka Uuid in its string form (base64url of
// 16 bytes, unpadded), as `kafka-storage random-uuid` prints; like Kafka's
// Uuid.randomUuid it avoids a leading '-', which a command line would take
// for an option.
func newKafkaUUID() string {
	for {
		b := make([]byte, 16)
		rand.Read(b) //nolint:errcheck // never fails
		s := base64.RawURLEncoding.EncodeToString(b)
		if s[0] != '-' {
			return s
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// tail returns the last lines of the file at path ("" if unreadable).
func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil || lines <= 0 {
		return ""
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
		if len(out) > lines {
			out = out[1:]
		}
	}
	return strings.Join(out, "\n")
}
