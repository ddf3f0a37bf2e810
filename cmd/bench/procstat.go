package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/orderstream/orderstream/internal/procfs"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports (it is fixed by the kernel ABI).
const clockTicks = 100

// processCPU returns the CPU seconds pid has used, including its children
// that exited.
func processCPU(pid int) (float64, bool) {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return 0, false
	}
	return ticksToSeconds(st.UTime + st.STime + st.CUTime + st.CSTime), true
}

// treeCPU returns the CPU seconds of root and its live children: for the
// PostgreSQL postmaster, every backend and background process. A backend
// that exits is reaped by the postmaster, which moves its CPU into the
// postmaster's cutime and cstime, so nothing is lost or counted twice.
func treeCPU(root int) (float64, bool) {
	st, err := procfs.ReadStat(root)
	if err != nil {
		return 0, false
	}
	total := st.UTime + st.STime + st.CUTime + st.CSTime
	for _, c := range procfs.Children(root) {
		total += c.UTime + c.STime + c.CUTime + c.CSTime
	}
	return ticksToSeconds(total), true
}

func ticksToSeconds(t uint64) float64 { return float64(t) / clockTicks }

// statusKB returns the value in kB of a "Key:   123 kB" line of
// /proc/PID/status.
func statusKB(status, key string) (int64, bool) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// peakRSS returns the peak resident set size of pid in bytes (VmHWM).
func peakRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, false
	}
	kb, ok := statusKB(string(b), "VmHWM")
	return kb << 10, ok
}

// machineCPU is the first line of /proc/stat: CPU time of the whole
// machine, in clock ticks summed over all CPUs.
type machineCPU struct {
	busy, iowait, total uint64
}

// parseMachineCPU parses the "cpu " line of /proc/stat.
func parseMachineCPU(stat string) (machineCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}, errors.New("no cpu line in /proc/stat")
	}
	var m machineCPU
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user and nice.
	for i, s := range f[1:] {
		if i >= 8 {
			break
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		m.total += v
		switch i {
		case 3: // idle
		case 4:
			m.iowait = v
		default:
			m.busy += v
		}
	}
	return m, nil
}

func readMachineCPU() (machineCPU, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, false
	}
	m, err := parseMachineCPU(string(b))
	return m, err == nil
}
