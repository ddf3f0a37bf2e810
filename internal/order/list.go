package order

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Page sizes of List.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Cursor is a position in a user's orders, newest first: the order at
// that position. Orders are ordered by (created_at, id), so pages are
// stable while new orders arrive.
type Cursor struct {
	CreatedAt time.Time
	ID        int64
}

// String encodes c as an opaque string for clients.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + strconv.FormatInt(c.ID, 10)))
}

// ParseCursor decodes a cursor made by String. Errors are EINVALID about
// the field "after".
func ParseCursor(s string) (Cursor, error) { return parseCursor("after", s) }

func parseCursor(field, s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, Invalid(field, "is not a cursor from this API")
	}
	ts, id, ok := strings.Cut(string(b), ":")
	us, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n <= 0 || n == math.MaxInt64 {
		return Cursor{}, Invalid(field, "is not a cursor from this API")
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: n}, nil
}

// ListQuery asks the store for a page of a user's orders: those strictly
// between the cursors After (older than it) and Before (newer than it),
// either bound optional.
type ListQuery struct {
	UserID string
	Status Status // "" = any
	After  *Cursor
	Before *Cursor
	Limit  int
	// Backward returns the Limit orders closest to Before (or the oldest
	// ones), oldest first; otherwise the Limit orders closest to After (or
	// the newest ones), newest first.
	Backward bool
}

// PageArgs are the Relay cursor connection arguments of List: First
// after After (forward), or Last before Before (backward). After and
// Before are cursors made by Cursor.String, "" for none.
type PageArgs struct {
	First, Last   *int
	After, Before string
}

// Page is a page of orders, newest first. HasNext says whether older
// orders follow it, HasPrevious whether newer orders precede it (Relay's
// hasNextPage and hasPreviousPage).
type Page struct {
	Orders      []Order
	HasNext     bool
	HasPrevious bool
}

// List returns a page of the user's orders, newest first, with status when
// given, as the Relay cursor connections specification pages them: the
// First orders after the cursor After (default: the DefaultPageSize
// newest), or the Last orders before the cursor Before; After and Before
// together bound the list on both sides. The page size is exact in its
// direction (HasNext going forward, HasPrevious going backward); the other
// flag says whether an order exists at or beyond the cursor the page
// started from (false without one), one more index lookup. Another user's
// orders are an empty page, like a user without orders.
// Errors: EINVALID (a size out of range, First with Last, a bad cursor),
// EUNAVAILABLE.
func (s *Service) List(ctx context.Context, userID string, status Status, args PageArgs) (Page, error) {
	uid, err := ParseUserID(userID)
	if err != nil {
		return Page{}, err
	}
	q := ListQuery{UserID: uid, Status: status, Limit: DefaultPageSize}
	switch {
	case args.First != nil && args.Last != nil:
		return Page{}, Invalid("last", "cannot be combined with first: page forward with first and after, or backward with last and before")
	case args.First != nil:
		if *args.First < 1 || *args.First > MaxPageSize {
			return Page{}, Invalid("first", "must be between 1 and %d", MaxPageSize)
		}
		q.Limit = *args.First
	case args.Last != nil:
		if *args.Last < 1 || *args.Last > MaxPageSize {
			return Page{}, Invalid("last", "must be between 1 and %d", MaxPageSize)
		}
		q.Limit, q.Backward = *args.Last, true
	}
	if status != "" && !status.Valid() {
		return Page{}, Invalid("status", "is not a status")
	}
	for _, c := range []struct {
		field, s string
		into     **Cursor
	}{{"after", args.After, &q.After}, {"before", args.Before, &q.Before}} {
		if c.s == "" {
			continue
		}
		cur, err := parseCursor(c.field, c.s)
		if err != nil {
			return Page{}, err
		}
		*c.into = &cur
	}
	ok, err := s.mayActFor(ctx, uid)
	if err != nil {
		return Page{}, err
	}
	if !ok {
		return Page{}, nil
	}
	want := q.Limit
	q.Limit++ // one more tells whether the list goes on in this direction
	orders, err := s.store.ListOrders(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	more := len(orders) > want
	if more {
		orders = orders[:want]
	}
	p := Page{Orders: orders}
	if q.Backward {
		slices.Reverse(p.Orders) // the store returns them oldest first
		p.HasPrevious = more
		p.HasNext, err = s.beyond(ctx, q, q.Before, false)
	} else {
		p.HasNext = more
		p.HasPrevious, err = s.beyond(ctx, q, q.After, true)
	}
	if err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	return p, nil
}

// beyond says whether one of q's orders is at the cursor c or beyond it,
// away from the page: newer than or at c when newer, else older than or
// at c. A nil cursor has nothing beyond it (the page starts at the end).
func (s *Service) beyond(ctx context.Context, q ListQuery, c *Cursor, newer bool) (bool, error) {
	if c == nil {
		return false, nil
	}
	probe := ListQuery{UserID: q.UserID, Status: q.Status, Limit: 1}
	// The store's bounds are strict; ids are integers, so "at or newer
	// than (t, id)" is "newer than (t, id-1)" (parseCursor keeps id in
	// 1 … MaxInt64-1).
	if newer {
		probe.Before, probe.Backward = &Cursor{CreatedAt: c.CreatedAt, ID: c.ID - 1}, true
	} else {
		probe.After = &Cursor{CreatedAt: c.CreatedAt, ID: c.ID + 1}
	}
	found, err := s.store.ListOrders(ctx, probe)
	return len(found) > 0, err
}

// ByID returns the user's order with that id; another user's order is
// ENOTFOUND like a missing one. Errors: EINVALID, ENOTFOUND, EUNAVAILABLE.
func (s *Service) ByID(ctx context.Context, id, userID string) (Order, error) {
	uid, err := ParseUserID(userID)
	if err != nil {
		return Order{}, err
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return Order{}, Invalid("id", "must be an order id")
	}
	if err := s.authorizeOrder(ctx, id, uid); err != nil {
		return Order{}, err
	}
	return s.store.OrderByID(ctx, n, uid)
}
