package order

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Page sizes of List.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Cursor is a position in a user's orders, newest first: the last order
// of a page. Orders are ordered by (created_at, id), so pages are stable
// while new orders arrive.
type Cursor struct {
	CreatedAt time.Time
	ID        int64
}

// String encodes c as an opaque string for clients.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + strconv.FormatInt(c.ID, 10)))
}

// ParseCursor decodes a cursor made by String. Errors are EINVALID.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, Invalid("after", "is not a cursor from this API")
	}
	ts, id, ok := strings.Cut(string(b), ":")
	us, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n <= 0 {
		return Cursor{}, Invalid("after", "is not a cursor from this API")
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: n}, nil
}

// ListQuery asks for a page of a user's orders.
type ListQuery struct {
	UserID string
	Status Status // "" = any
	After  *Cursor
	Limit  int
}

// Page is a page of orders, newest first.
type Page struct {
	Orders  []Order
	HasMore bool
}

// List returns a page of the user's orders, newest first, after the cursor
// after ("" = from the newest), with status when given. Another user's
// orders are an empty page, like a user without orders.
// Errors: EINVALID, EUNAVAILABLE.
func (s *Service) List(ctx context.Context, userID string, status Status, first *int, after string) (Page, error) {
	uid, err := ParseUserID(userID)
	if err != nil {
		return Page{}, err
	}
	q := ListQuery{UserID: uid, Status: status, Limit: DefaultPageSize}
	if first != nil {
		if *first < 1 || *first > MaxPageSize {
			return Page{}, Invalid("first", "must be between 1 and %d", MaxPageSize)
		}
		q.Limit = *first
	}
	if status != "" && !status.Valid() {
		return Page{}, Invalid("status", "is not a status")
	}
	if after != "" {
		c, err := ParseCursor(after)
		if err != nil {
			return Page{}, err
		}
		q.After = &c
	}
	ok, err := s.mayActFor(ctx, uid)
	if err != nil {
		return Page{}, err
	}
	if !ok {
		return Page{}, nil
	}
	want := q.Limit
	q.Limit++ // one more tells whether there is a next page
	orders, err := s.store.ListOrders(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	p := Page{Orders: orders}
	if len(orders) > want {
		p.Orders, p.HasMore = orders[:want], true
	}
	return p, nil
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
