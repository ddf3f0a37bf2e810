package kafkatest_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/orderstream/orderstream/internal/kafka"
	"github.com/orderstream/orderstream/internal/kafkatest"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }

func checkTopics(t *testing.T, b *kafkatest.Broker) {
	t.Helper()
	if len(b.Brokers) == 0 || b.OrdersTopic == "" || b.AcksTopic == "" || b.DLQTopic == "" || b.Partitions != 8 {
		t.Fatalf("broker = %+v", b)
	}
	cfg := sarama.NewConfig()
	cfg.Version = kafka.Version
	admin, err := sarama.NewClusterAdmin(b.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics([]string{b.OrdersTopic, b.AcksTopic, b.DLQTopic})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if m.Err != sarama.ErrNoError || len(m.Partitions) != int(b.Partitions) {
			t.Errorf("topic %s: err %v, %d partitions", m.Name, m.Err, len(m.Partitions))
		}
	}
}

func TestNewHasTopics(t *testing.T) {
	t.Parallel()
	checkTopics(t, kafkatest.New(t))
}

func TestNewIsolated(t *testing.T) {
	t.Parallel()
	a, b := kafkatest.New(t), kafkatest.New(t)
	if a.Brokers[0] == b.Brokers[0] && a.OrdersTopic == b.OrdersTopic {
		t.Fatalf("two brokers share %s topic %s", a.Brokers[0], a.OrdersTopic)
	}
}

// TestNewApacheShared: two tests' topics on the one shared Apache cluster.
func TestNewApacheShared(t *testing.T) {
	t.Parallel()
	a, b := kafkatest.NewApache(t, 1), kafkatest.NewApache(t, 1)
	if a.Kind != kafkatest.KindApache || a.Cluster != nil {
		t.Fatalf("Kind = %q, Cluster = %v", a.Kind, a.Cluster)
	}
	if a.Brokers[0] != b.Brokers[0] || a.OrdersTopic == b.OrdersTopic {
		t.Fatalf("want one cluster, two topic sets: %v %s, %v %s", a.Brokers, a.OrdersTopic, b.Brokers, b.OrdersTopic)
	}
	checkTopics(t, a)
	checkTopics(t, b)
}

func TestNewCluster(t *testing.T) {
	t.Parallel()
	k := kafkatest.NewCluster(t, 1)
	if len(k.Brokers()) != 1 || k.PID(1) == 0 {
		t.Fatalf("Brokers() = %v, PID(1) = %d", k.Brokers(), k.PID(1))
	}
	checkTopics(t, kafkatest.Topics(t, k.Brokers()))
}

// The JVMs of the shared cluster die with the test binary, whether it is
// killed or panics: the child below is this test binary, started again.
const envChild = "KAFKATEST_CHILD"

func TestDeathSignalChild(t *testing.T) {
	how := os.Getenv(envChild)
	if how == "" {
		return // only run as the child of TestJVMsDieWithTheTestBinary
	}
	kafkatest.NewApache(t, 1)
	fmt.Printf("PIDS %s\n", strings.Join(jvmPIDs(t), ","))
	if how == "panic" {
		panic("child panics on purpose")
	}
	time.Sleep(time.Hour) // until killed
}

// jvmPIDs lists the java processes whose parent is this process.
func jvmPIDs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid()), "java").Output()
	if err != nil {
		t.Fatalf("pgrep: %v", err)
	}
	return strings.Fields(string(out))
}

func TestJVMsDieWithTheTestBinary(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"kill", "panic"} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeathSignalChild$", "-test.v")
			// The child's cluster directory goes in TMPDIR, which the
			// child cannot remove when it dies.
			cmd.Env = append(os.Environ(), envChild+"="+how, "TMPDIR="+t.TempDir())
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			defer func() {
				if t.Failed() {
					t.Logf("child's stderr:\n%s", stderr.String())
				}
			}()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill() //nolint:errcheck // killed or exited already
			var pids []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
					pids = strings.Split(rest, ",")
					break
				}
			}
			if len(pids) == 0 || pids[0] == "" {
				t.Fatal("the child printed no JVM pids")
			}
			if how == "kill" {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				for sc.Scan() { // drain
				}
			}()
			cmd.Wait() //nolint:errcheck // it fails by design
			deadline := time.Now().Add(30 * time.Second)
			for _, p := range pids {
				pid, _ := strconv.Atoi(p)
				for syscall.Kill(pid, 0) == nil {
					if time.Now().After(deadline) {
						t.Fatalf("JVM %d still runs after the test binary %s", pid, how)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}
