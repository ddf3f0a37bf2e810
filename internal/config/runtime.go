package config

import (
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGOGC is the garbage collector's target of both services when
// GOGC is not set: the heap may grow to five times what is live before a
// collection (Go's own default is 100, twice). Their live heaps are small
// (tens of MiB), and at 100 the collector took 11–13 % of each service's
// CPU at 64 creates in flight; at 400, 1–4 %, with 9–12 % more orders/s
// (docs/BENCHMARKS.md, "Garbage collector").
const DefaultGOGC = 400

// MemoryLimitRatio is the share of a container's memory that becomes the
// Go runtime's soft memory limit when GOMEMLIMIT is not set: with GOGC at
// 400 the heap may grow to five times what is live, and the limit makes
// the collector run sooner as the heap nears the container's memory,
// instead of the container being killed for it.
const MemoryLimitRatio = 0.9

// Runtime is what RuntimeDefaults left in effect.
type Runtime struct {
	GOGC int
	// MemoryLimit is the soft memory limit in bytes (math.MaxInt64: none),
	// and MemoryLimitFrom where it came from: "GOMEMLIMIT", "container"
	// (MemoryLimitRatio of the cgroup's memory limit) or "none".
	MemoryLimit     int64
	MemoryLimitFrom string
}

// RuntimeDefaults applies DefaultGOGC unless GOGC is set, and a memory
// limit of MemoryLimitRatio of the container's memory unless GOMEMLIMIT is
// set (get: the environment; containerMemory: the memory limit of the
// process's container, as memlimit.FromCgroup reads it from the cgroup; an
// error means none, and nil skips it). automemlimit's memlimit.Set applies
// the ratio (and honours AUTOMEMLIMIT=off or a ratio of its own). It
// returns what is in effect.
func RuntimeDefaults(get Lookup, containerMemory memlimit.Provider) Runtime {
	if get == nil {
		get = OSEnv
	}
	var rt Runtime
	if get("GOGC") != "" {
		rt.GOGC = debug.SetGCPercent(-1) // read the value the runtime took from GOGC…
		debug.SetGCPercent(rt.GOGC)      // …and put it back
	} else {
		debug.SetGCPercent(DefaultGOGC)
		rt.GOGC = DefaultGOGC
	}
	rt.MemoryLimit, rt.MemoryLimitFrom = debug.SetMemoryLimit(-1), "none"
	switch {
	case get("GOMEMLIMIT") != "":
		rt.MemoryLimitFrom = "GOMEMLIMIT" // the runtime read it at start
	case containerMemory != nil:
		// An error (no cgroup, or none with a limit) leaves the runtime's
		// limit as it was.
		if n, err := memlimit.Set(memlimit.WithProvider(containerMemory), memlimit.WithRatio(MemoryLimitRatio)); err == nil && n > 0 && n < math.MaxInt64 {
			rt.MemoryLimit, rt.MemoryLimitFrom = n, "container"
		}
	}
	return rt
}
