package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports (it is fixed by the kernel ABI).
const clockTicks = 100

// procStat is what we use of /proc/PID/stat.
type procStat struct {
	ppid int
	// utime, stime: CPU of the process itself; cutime, cstime: of its
	// children that exited and were waited for. All in clock ticks.
	utime, stime, cutime, cstime uint64
}

// parseStat parses the contents of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("no ')' in stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat has %d fields after the name, want at least 15", len(f))
	}
	var st procStat
	var err error
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("ppid: %w", err)
	}
	for j, dst := range []*uint64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		if *dst, err = strconv.ParseUint(f[11+j], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("field %d: %w", 14+j, err)
		}
	}
	return st, nil
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

// processCPU returns the CPU seconds pid has used, including its children
// that exited.
func processCPU(pid int) (float64, bool) {
	st, err := readStat(pid)
	if err != nil {
		return 0, false
	}
	return ticksToSeconds(st.utime + st.stime + st.cutime + st.cstime), true
}

// treeCPU returns the CPU seconds of root and its live children: for the
// PostgreSQL postmaster, every backend and background process. A backend
// that exits is reaped by the postmaster, which moves its CPU into the
// postmaster's cutime and cstime, so nothing is lost or counted twice.
func treeCPU(root int) (float64, bool) {
	st, err := readStat(root)
	if err != nil {
		return 0, false
	}
	total := st.utime + st.stime + st.cutime + st.cstime
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return ticksToSeconds(total), true
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		c, err := readStat(pid)
		if err != nil || c.ppid != root {
			continue
		}
		total += c.utime + c.stime + c.cutime + c.cstime
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
