package config

import "runtime/debug"

// DefaultGOGC is the garbage collector's target of both services when
// GOGC is not set: the heap may grow to five times what is live before a
// collection (Go's own default is 100, twice). Their live heaps are small
// (tens of MiB), and at 100 the collector took 11–13 % of each service's
// CPU at 64 creates in flight; at 400, 1–4 %, with 9–12 % more orders/s
// (docs/BENCHMARKS.md, "Garbage collector"). Set GOMEMLIMIT to about 90 %
// of a container's memory so that a heap that nears it is collected
// sooner, whatever GOGC says.
const DefaultGOGC = 400

// RuntimeDefaults applies DefaultGOGC unless GOGC is set (get: the
// environment). It returns the GOGC in effect.
func RuntimeDefaults(get Lookup) int {
	if get == nil {
		get = OSEnv
	}
	if get("GOGC") != "" {
		v := debug.SetGCPercent(-1) // read the value the runtime took from GOGC…
		debug.SetGCPercent(v)       // …and put it back
		return v
	}
	debug.SetGCPercent(DefaultGOGC)
	return DefaultGOGC
}
