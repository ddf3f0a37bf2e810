package order

import "context"

// Principal is who makes a request, as proven by its credentials (the API's
// bearer token): the user it acts as, and whether it may act for any user.
type Principal struct {
	// UserID is the canonical UUID of the user (the token's subject).
	UserID string
	// Admin marks a partner or service credential (scope orders:admin) that
	// may act for any user.
	Admin bool
}

type principalKey struct{}

// WithPrincipal returns a context carrying p. The Service then lets the
// request touch only p's orders (any order when p.Admin).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// mayActFor reports whether the request in ctx may act on userID's orders
// (userID canonical). With no principal in ctx it is allowed only when the
// Service does not require one (authentication disabled).
func (s *Service) mayActFor(ctx context.Context, userID string) (allowed bool, err error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		if s.RequirePrincipal {
			return false, Errorf(EUNAUTHENTICATED, "authentication required")
		}
		return true, nil
	}
	return p.Admin || p.UserID == userID, nil
}

// authorizeOrder refuses access to another user's order with the very error
// a missing order gets (ENOTFOUND, same message), so that a caller cannot
// learn whether the order exists.
func (s *Service) authorizeOrder(ctx context.Context, externalID, userID string) error {
	ok, err := s.mayActFor(ctx, userID)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ENOTFOUND, "order %q not found", externalID)
	}
	return nil
}

// authorizeCreate refuses to create an order for another user with
// EFORBIDDEN. The answer depends only on the credentials and the input,
// never on stored data, so it reveals nothing about existing orders.
func (s *Service) authorizeCreate(ctx context.Context, userID string) error {
	ok, err := s.mayActFor(ctx, userID)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(EFORBIDDEN, "this token may not create orders for another user")
	}
	return nil
}
