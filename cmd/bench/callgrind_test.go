package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// callgrindChildEnv makes the test binary a child that does measured work
// (callgrindChild) instead of running tests.
const callgrindChildEnv = "BENCH_CALLGRIND_CHILD"

// callgrindChild reads a number per line from stdin, hashes that many
// times, and answers "done"; it prints "ready" first.
func callgrindChild() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	var h [32]byte
	for in.Scan() {
		n, _ := strconv.Atoi(in.Text())
		for range n {
			h = sha256.Sum256(h[:])
		}
		fmt.Println("done", h[0])
	}
}

// TestCallgrindCountsTheWorkOfAWindow runs a child under the bench's
// callgrind wrapper with a USER and HOST of its own (the services run with
// HOST=127.0.0.1), and counts two windows: ten times the work must count
// about ten times the instructions.
func TestCallgrindCountsTheWorkOfAWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wrap := callgrindWrap(dir)
	cmd := exec.CommandContext(ctx, wrap[0], append(slices.Clone(wrap[1:]), self, "-test.run=^$")...)
	cmd.Env = append(append(os.Environ(), callgrindEnv...), callgrindChildEnv+"=1",
		"HOST=callgrind-test-host", "USER=callgrind-test-user")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start valgrind (make valgrind installs it): %v", err)
	}
	defer func() {
		cmd.Process.Kill() //nolint:errcheck // see stack.stop: callgrind asserts on SIGTERM
		cmd.Wait()         //nolint:errcheck // killed
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || out.Text() != "ready" {
		t.Fatalf("child said %q; want ready", out.Text())
	}
	procs := []watched{{name: procAPI, pid: cmd.Process.Pid}, {name: procLoad, pid: os.Getpid()}}
	cg := callgrind{dir: dir}
	window := func(n int) int64 {
		t.Helper()
		if _, err := cg.window(ctx, procs, true); err != nil {
			t.Fatalf("zero: %v", err)
		}
		fmt.Fprintln(stdin, n)
		if !out.Scan() {
			t.Fatalf("child ended: %v", out.Err())
		}
		counts, err := cg.window(ctx, procs, false)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		if _, ok := counts[procLoad]; ok {
			t.Errorf("counts %v: the load generator does not run under callgrind", counts)
		}
		return counts[procAPI]
	}
	small := window(2_000)
	big := window(20_000)
	if pipes, _ := filepath.Glob(fmt.Sprintf("/tmp/vgdb-pipe-*-%d-*", cmd.Process.Pid)); len(pipes) > 0 {
		t.Errorf("gdbserver pipes in /tmp %v; want them in the run's directory", pipes)
	}
	if pipes, _ := filepath.Glob(vgdbPrefix(dir) + "-*"); len(pipes) == 0 {
		t.Errorf("no gdbserver pipes under %s", vgdbPrefix(dir))
	}
	ratio := float64(big) / float64(small)
	t.Logf("instructions: %d for 2,000 hashes, %d for 20,000: %.2f×", small, big, ratio)
	if small <= 0 || ratio < 6 || ratio > 12 {
		t.Errorf("ten times the work counted %.2f× the instructions (%d, then %d); want about 10×", ratio, small, big)
	}
}

func TestVgdbEnvTakesTheTargetsUserAndHost(t *testing.T) {
	own := []string{"PATH=/bin", "USER=root", "HOST=mine", "HOME=/root"}
	for _, tc := range []struct {
		name   string
		target []string
		want   []string
	}{
		{"OK", []string{"USER=svc", "HOST=127.0.0.1", "X=1"}, []string{"PATH=/bin", "HOME=/root", "USER=svc", "HOST=127.0.0.1"}},
		{"TargetHasNone", []string{"X=1"}, []string{"PATH=/bin", "HOME=/root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := vgdbEnv(own, tc.target); !slices.Equal(got, tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}
