package config

import (
	"runtime/debug"
	"testing"
)

func TestRuntimeDefaults(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if got := RuntimeDefaults(Lines()); got != DefaultGOGC {
		t.Errorf("without GOGC: %d; want %d", got, DefaultGOGC)
	}
	if now := debug.SetGCPercent(100); now != DefaultGOGC {
		t.Errorf("without GOGC the runtime has %d; want %d", now, DefaultGOGC)
	}
	// With GOGC set, the runtime's value (here 100, as if GOGC=100) stays.
	if got := RuntimeDefaults(Lines("GOGC=100")); got != 100 {
		t.Errorf("with GOGC=100: %d; want 100", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set the runtime has %d; want it left at 100", now)
	}
}
