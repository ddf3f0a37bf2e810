// Package procfs reads what the launchers and the bench use of Linux's
// /proc: a process's parent, state and CPU times, and its children.
package procfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stat is what we use of /proc/PID/stat.
type Stat struct {
	State byte // R, S, D, Z, …
	PPID  int
	// UTime, STime: CPU of the process itself; CUTime, CSTime: of its
	// children that exited and were waited for. All in clock ticks.
	UTime, STime, CUTime, CSTime uint64
}

// ParseStat parses the contents of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStat(s string) (Stat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, errors.New("no ')' in stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("stat has %d fields after the name, want at least 15", len(f))
	}
	st := Stat{State: f[0][0]}
	var err error
	if st.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Stat{}, fmt.Errorf("ppid: %w", err)
	}
	for j, dst := range []*uint64{&st.UTime, &st.STime, &st.CUTime, &st.CSTime} {
		if *dst, err = strconv.ParseUint(f[11+j], 10, 64); err != nil {
			return Stat{}, fmt.Errorf("field %d: %w", 14+j, err)
		}
	}
	return st, nil
}

// ReadStat reads and parses /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(b))
}

// Children returns the live processes whose parent is pid, with their
// stats.
func Children(pid int) map[int]Stat {
	out := map[int]Stat{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil || c == pid {
			continue
		}
		if st, err := ReadStat(c); err == nil && st.PPID == pid {
			out[c] = st
		}
	}
	return out
}
