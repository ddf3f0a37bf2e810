package order_test

import (
	"context"
	"testing"

	"github.com/orderstream/orderstream/internal/order"
)

const otherUserID = "00000000-0000-4000-8000-0000000000b2"

// TestServicePrincipalBinding: a principal acts only on its own orders;
// another user's order is answered exactly like a missing one, and nothing
// reaches the store or Kafka.
func TestServicePrincipalBinding(t *testing.T) {
	svc, store, disp := newTestService(t)
	o := mustCreate(t, svc, "o-1", pens) // no principal: authentication off
	owner := order.WithPrincipal(t.Context(), order.Principal{UserID: validUserID})
	intruder := order.WithPrincipal(t.Context(), order.Principal{UserID: otherUserID})
	admin := order.WithPrincipal(t.Context(), order.Principal{UserID: otherUserID, Admin: true})
	calls, sent := store.callCount(), len(disp.sent())

	// The intruder names the owner's userId: every answer equals the one for
	// an order that does not exist at all.
	for _, externalID := range []string{"o-1", "missing"} {
		_, err := svc.ByExternalID(intruder, externalID, upperUserID)
		e1 := wantCode(t, err, order.ENOTFOUND)
		_, err = svc.Update(intruder, order.UpdateInput{ExternalID: externalID, UserID: upperUserID, Items: books})
		e2 := wantCode(t, err, order.ENOTFOUND)
		_, err = svc.Cancel(intruder, order.CancelInput{ExternalID: externalID, UserID: upperUserID})
		e3 := wantCode(t, err, order.ENOTFOUND)
		want := `order "` + externalID + `" not found`
		if e1.Message != want || e2.Message != want || e3.Message != want {
			t.Errorf("%s: messages %q, %q, %q; want %q", externalID, e1.Message, e2.Message, e3.Message, want)
		}
	}
	_, _, err := svc.Create(intruder, createInput("o-2", pens))
	wantCode(t, err, order.EFORBIDDEN)
	if n := store.callCount(); n != calls {
		t.Errorf("store writes by the intruder: %d; want none", n-calls)
	}
	if n := len(disp.sent()); n != sent {
		t.Errorf("events dispatched for the intruder: %d; want none", n-sent)
	}
	// A missing order of one's own stays NOT_FOUND from the store.
	if _, err := svc.ByExternalID(owner, "missing", validUserID); order.ErrorCode(err) != order.ENOTFOUND {
		t.Errorf("owner, missing order: got %v; want NOT_FOUND", err)
	}

	if got, err := svc.ByExternalID(owner, "o-1", upperUserID); err != nil || got.ID != o.ID {
		t.Errorf("owner lookup: got %+v, %v; want order %d", got, err, o.ID)
	}
	if got, err := svc.Update(owner, order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books}); err != nil || got.EventID != 1 {
		t.Errorf("owner update: got %+v, %v; want event 1", got, err)
	}
	if got, err := svc.ByExternalID(admin, "o-1", validUserID); err != nil || got.ID != o.ID {
		t.Errorf("admin lookup: got %+v, %v; want order %d", got, err, o.ID)
	}
	if got, err := svc.Cancel(admin, order.CancelInput{ExternalID: "o-1", UserID: validUserID}); err != nil || got.Status != order.StatusCancelled {
		t.Errorf("admin cancel: got %+v, %v; want CANCELLED", got, err)
	}
	if _, created, err := svc.Create(admin, createInput("o-3", pens)); err != nil || !created {
		t.Errorf("admin create for a user: got %v, %v; want created", created, err)
	}
}

func TestServiceRequirePrincipal(t *testing.T) {
	svc, store, _ := newTestService(t)
	svc.RequirePrincipal = true
	ctx := context.Background()
	_, _, err := svc.Create(ctx, createInput("o-1", pens))
	wantCode(t, err, order.EUNAUTHENTICATED)
	_, err = svc.ByExternalID(ctx, "o-1", validUserID)
	wantCode(t, err, order.EUNAUTHENTICATED)
	_, err = svc.Update(ctx, order.UpdateInput{ExternalID: "o-1", UserID: validUserID, Items: books})
	wantCode(t, err, order.EUNAUTHENTICATED)
	_, err = svc.Cancel(ctx, order.CancelInput{ExternalID: "o-1", UserID: validUserID})
	wantCode(t, err, order.EUNAUTHENTICATED)
	if n := store.callCount(); n != 0 {
		t.Errorf("store calls without a principal: %d; want 0", n)
	}
	p := order.WithPrincipal(ctx, order.Principal{UserID: validUserID})
	if _, created, err := svc.Create(p, createInput("o-1", pens)); err != nil || !created {
		t.Errorf("with a principal: got %v, %v; want created", created, err)
	}
}
