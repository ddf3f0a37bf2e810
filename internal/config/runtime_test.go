package config

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"
)

func TestRuntimeDefaults(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if got := RuntimeDefaults(Lines(), nil); got.GOGC != DefaultGOGC {
		t.Errorf("without GOGC: %d; want %d", got.GOGC, DefaultGOGC)
	}
	if now := debug.SetGCPercent(100); now != DefaultGOGC {
		t.Errorf("without GOGC the runtime has %d; want %d", now, DefaultGOGC)
	}
	// With GOGC set, the runtime's value (here 100, as if GOGC=100) stays.
	if got := RuntimeDefaults(Lines("GOGC=100"), nil); got.GOGC != 100 {
		t.Errorf("with GOGC=100: %d; want 100", got.GOGC)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set the runtime has %d; want it left at 100", now)
	}
}

func TestRuntimeMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	container := func(n uint64, err error) func() (uint64, error) {
		return func() (uint64, error) { return n, err }
	}
	const gib = 1 << 30
	ratio := MemoryLimitRatio // a variable: 90 % of 1 GiB is not a whole constant

	// A container of 1 GiB: the limit is 90 % of it.
	debug.SetMemoryLimit(math.MaxInt64)
	got := RuntimeDefaults(Lines(), container(gib, nil))
	if want := int64(gib * ratio); got.MemoryLimit != want || got.MemoryLimitFrom != "container" {
		t.Errorf("in a 1 GiB container: %d from %q; want %d from container", got.MemoryLimit, got.MemoryLimitFrom, want)
	}
	if now := debug.SetMemoryLimit(-1); now != got.MemoryLimit {
		t.Errorf("the runtime's limit is %d; want %d", now, got.MemoryLimit)
	}

	// GOMEMLIMIT set: the runtime's limit (read at start) stays, the
	// container is not asked.
	debug.SetMemoryLimit(512 << 20)
	asked := false
	got = RuntimeDefaults(Lines("GOMEMLIMIT=512MiB"), func() (uint64, error) { asked = true; return gib, nil })
	if got.MemoryLimit != 512<<20 || got.MemoryLimitFrom != "GOMEMLIMIT" || asked {
		t.Errorf("with GOMEMLIMIT: %d from %q (container asked: %v); want %d from GOMEMLIMIT, not asked", got.MemoryLimit, got.MemoryLimitFrom, asked, 512<<20)
	}

	// No container limit (not in a cgroup, or an unlimited one): none.
	for _, c := range []func() (uint64, error){nil, container(0, errors.New("no cgroup")), container(math.MaxUint64, nil)} {
		debug.SetMemoryLimit(math.MaxInt64)
		if got := RuntimeDefaults(Lines(), c); got.MemoryLimit != math.MaxInt64 || got.MemoryLimitFrom != "none" {
			t.Errorf("without a container limit: %d from %q; want none", got.MemoryLimit, got.MemoryLimitFrom)
		}
	}
}
