package order

import (
	"fmt"
	"time"
)

// Apply applies ev, the event right after o.AppliedEventID, to o. It returns
// the order's new state and the event's outcome. It is the worker's state
// machine: pure, so the same events always give the same state.
//
//	create:  NEW -> DONE (items as given)
//	update:  -> DONE with the new items; rejected (ECONFLICT) once cancelled
//	cancel:  -> CANCELLED; a cancel of a cancelled order changes nothing
//
// An event whose payload is not valid marks the order FAILED (EPROCESSING).
func Apply(o Order, ev Event, now time.Time) (Order, Outcome) {
	if ev.EventID != o.AppliedEventID+1 {
		return o, Outcome{Code: EPROCESSING, Reason: fmt.Sprintf("event %d out of sequence: last applied is %d", ev.EventID, o.AppliedEventID)}
	}
	o.AppliedEventID = ev.EventID
	o.UpdatedAt = now
	fail := func(reason string) (Order, Outcome) {
		o.Status = StatusFailed
		o.FailureReason = reason
		return o, Outcome{Code: EPROCESSING, Reason: reason}
	}
	switch ev.Type {
	case EventCreate, EventUpdate:
		if ev.Type == EventCreate && ev.EventID != 0 {
			return fail(fmt.Sprintf("create event must be event 0, got %d", ev.EventID))
		}
		if ev.Type == EventUpdate && ev.EventID == 0 {
			return fail("event 0 must create the order")
		}
		if o.Cancelled() {
			o.Status = StatusCancelled
			return o, Outcome{Code: ECONFLICT, Reason: "order is cancelled"}
		}
		if err := ValidateItems(ev.Items); err != nil {
			return fail("invalid items: " + ErrorMessage(err))
		}
		total, _ := Total(ev.Items)
		o.Items = ev.Items
		o.Total = total
		o.Status = StatusDone
		o.FailureReason = ""
		return o, Outcome{OK: true}
	case EventCancel:
		if ev.EventID == 0 {
			return fail("event 0 must create the order")
		}
		o.Status = StatusCancelled
		if !o.Cancelled() {
			t := now
			o.CancelledAt = &t
			o.CancelReason = ev.Reason
		}
		return o, Outcome{OK: true}
	default:
		return fail(fmt.Sprintf("unknown event type %q", ev.Type))
	}
}
