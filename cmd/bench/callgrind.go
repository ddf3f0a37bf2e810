package main

// Instruction counts (-callgrind DIR): the API and the worker run under
// valgrind's callgrind, whose counters are zeroed as a measurement window
// starts and dumped as it ends, through callgrind_control. A count of
// instructions is the same on a busy machine and a quiet one, where CPU
// seconds are not (this machine kind has no hardware counters for perf).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// callgrindWrap is the command that runs a service under callgrind,
// writing its dumps into dir as callgrind.<pid>.out.<n>. The pipes of
// valgrind's gdbserver, through which callgrind_control reaches it, are
// made in dir too: a service killed at the end leaves them behind, and
// they belong with the run rather than in /tmp.
func callgrindWrap(dir string) []string {
	return []string{"valgrind", "--tool=callgrind", "--quiet",
		"--vgdb-prefix=" + vgdbPrefix(dir),
		"--callgrind-out-file=" + filepath.Join(dir, "callgrind.%p.out")}
}

// vgdbPrefix is where the gdbserver pipes of the services of dir are.
func vgdbPrefix(dir string) string { return filepath.Join(dir, "vgdb") }

// callgrindEnv is what a Go service needs under callgrind: Go's
// asynchronous preemption signals (SIGURG) trip valgrind's signal handling,
// so it is off; goroutines are then preempted at function calls only.
var callgrindEnv = []string{"GODEBUG=asyncpreemptoff=1"}

// vgdbEnv is the environment callgrind_control needs to reach pid: vgdb
// names its pipes after USER and HOST as the target process saw them
// (the services run with HOST=127.0.0.1), so they are taken from the
// target's environment, and left unset where it has none.
func vgdbEnv(own []string, target []string) []string {
	keep := func(kv string) bool {
		return !strings.HasPrefix(kv, "USER=") && !strings.HasPrefix(kv, "HOST=")
	}
	var env []string
	for _, kv := range own {
		if keep(kv) {
			env = append(env, kv)
		}
	}
	for _, kv := range target {
		if !keep(kv) {
			env = append(env, kv)
		}
	}
	return env
}

// procEnviron reads the environment of pid.
func procEnviron(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range bytes.Split(b, []byte{0}) {
		if len(kv) > 0 {
			env = append(env, string(kv))
		}
	}
	return env, nil
}

// callgrind zeroes and dumps the counters of processes run under
// callgrindWrap(dir).
type callgrind struct {
	dir string
}

// control runs callgrind_control with one option on pid.
func (c callgrind) control(ctx context.Context, pid int, option string) error {
	target, err := procEnviron(pid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "callgrind_control", "--vgdb-prefix="+vgdbPrefix(c.dir), option, strconv.Itoa(pid))
	cmd.Env = vgdbEnv(os.Environ(), target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s %d: %w: %s", option, pid, err, bytes.TrimSpace(out))
	}
	if bytes.Contains(out, []byte("not detected")) || bytes.Contains(out, []byte("error opening")) {
		return fmt.Errorf("callgrind_control %s %d: %s", option, pid, bytes.TrimSpace(out))
	}
	return nil
}

// zero sets pid's counters to zero.
func (c callgrind) zero(ctx context.Context, pid int) error { return c.control(ctx, pid, "-z") }

// dump writes pid's counters to a new part file and returns the
// instructions it counts (its totals line).
func (c callgrind) dump(ctx context.Context, pid int) (int64, error) {
	before := c.parts(pid)
	if err := c.control(ctx, pid, "-d"); err != nil {
		return 0, err
	}
	after := c.parts(pid)
	if len(after) == len(before) {
		return 0, fmt.Errorf("callgrind dump of %d: no new part file in %s", pid, c.dir)
	}
	return totals(after[len(after)-1])
}

// parts lists pid's dump files, oldest part first.
func (c callgrind) parts(pid int) []string {
	files, _ := filepath.Glob(filepath.Join(c.dir, fmt.Sprintf("callgrind.%d.out.*", pid)))
	part := func(f string) int {
		n, _ := strconv.Atoi(f[strings.LastIndexByte(f, '.')+1:])
		return n
	}
	sort.Slice(files, func(i, j int) bool { return part(files[i]) < part(files[j]) })
	return files
}

// totals reads the instruction total of a callgrind dump.
func totals(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "totals:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no totals line", path)
}

// window zeroes (start) or dumps (end) the counters of every process of
// procs whose kind runs under callgrind, all at once, so that the window
// of each starts and ends at about the same moment. At the end it returns
// the instructions of each kind, summed over its processes; a kind with a
// process that could not be read is left out.
func (c callgrind) window(ctx context.Context, procs []watched, start bool) (map[string]int64, error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	counts := map[string]int64{}
	failed := map[string]bool{}
	for _, p := range procs {
		if p.name != procAPI && p.name != procWorker && p.name != procSeed {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			var err error
			if start {
				err = c.zero(ctx, p.pid)
			} else {
				n, err = c.dump(ctx, p.pid)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
				failed[p.name] = true
				return
			}
			counts[p.name] += n
		}()
	}
	wg.Wait()
	for name := range failed {
		delete(counts, name)
	}
	return counts, errors.Join(errs...)
}

// wrap is the command the seed design's child runs under: callgrind with
// -callgrind, else none.
func (b *bench) wrap() []string {
	if b.cfg.callgrindDir == "" {
		return nil
	}
	return callgrindWrap(b.cfg.callgrindDir)
}

// wrapEnv is the environment the services add under -callgrind.
func wrapEnv(cfg config) []string {
	if cfg.callgrindDir == "" {
		return nil
	}
	return callgrindEnv
}

// reportInstructions writes the instructions per operation of each
// process kind run under callgrind, per phase. The sum is of the phase's
// own processes (the seed design's child for its phases, the API and the
// worker for the others); the idle processes' counts are in parentheses.
func (b *bench) reportInstructions(w *strings.Builder) {
	var cols []string
	for _, name := range []string{procAPI, procWorker, procSeed} {
		for _, r := range b.results {
			if _, ok := r.instr[name]; ok {
				cols = append(cols, name)
				break
			}
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintf(w, "Instructions per operation (-callgrind), in thousands, counted by callgrind over each window; a count is the same on a busy machine, a time is not. *sum* adds the phase's own processes; the idle ones' counts are in parentheses:\n\n")
	fmt.Fprintf(w, "| phase | level | ops in window | %s | sum |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|---|---:|---:|%s---:|\n", strings.Repeat("---:|", len(cols)))
	for _, r := range b.results {
		if len(r.instr) == 0 || r.res.ok == 0 {
			continue
		}
		var cells []string
		var sum float64
		for _, c := range cols {
			v, ok := r.instr[c]
			if !ok {
				cells = append(cells, "n/a")
				continue
			}
			per := float64(v) / float64(r.res.ok) / 1000
			if own := (c == procSeed) == (r.phase == phaseSeed); !own {
				cells = append(cells, fmt.Sprintf("(%.0f)", per))
				continue
			}
			sum += per
			cells = append(cells, fmt.Sprintf("%.0f", per))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %.0f |\n", b.phaseName(r), r.level, r.res.ok, strings.Join(cells, " | "), sum)
	}
	fmt.Fprintf(w, "\n")
}
