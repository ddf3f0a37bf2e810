// Package faultinject holds the fault-injection hooks the fault suite
// (faults/) switches on in the real binaries. None is active unless its
// variable is set.
package faultinject

import (
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/orderstream/orderstream/internal/order"
)

// CrashAfterCommits returns an order.Service AfterCommit hook that kills
// the process with SIGKILL right after its n-th committed event, before
// the event is sent to Kafka (FAULT_CRASH_AFTER_COMMITS), to test that the
// recovery loop covers the gap.
func CrashAfterCommits(n int, log *slog.Logger) func(order.Event) {
	var count atomic.Int64
	log.Warn("FAULT INJECTION: the API kills itself after a number of commits", "commits", n)
	return func(ev order.Event) {
		if count.Add(1) == int64(n) {
			log.Warn("FAULT INJECTION: SIGKILL after commit, before produce", "order_id", ev.OrderID, "event_id", ev.EventID)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never continue to the produce
		}
	}
}
