package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	userPoolSize = 1000  // users of the created orders
	seedUsers    = 10000 // users of the lookup table
	seedPrefix   = "bench-seed-"
	// requestTimeout bounds one HTTP request: above the API's default
	// ACK_TIMEOUT (30 s), so that its ACK_TIMEOUT answer arrives.
	requestTimeout = 60 * time.Second
	maxBody        = 4 << 20
)

// orderGen makes the orders of the create phases: a unique external id per
// request, a user from a fixed pool and 1 to 3 items with decimal prices.
type orderGen struct {
	runID string
	seq   atomic.Int64
	users []string
}

func newOrderGen() *orderGen {
	g := &orderGen{runID: uuid.NewString()[:8]}
	for range userPoolSize {
		g.users = append(g.users, uuid.NewString())
	}
	return g
}

type genItem struct {
	name     string
	quantity int
	cents    int64
}

type genOrder struct {
	externalID string
	userID     string
	items      []genItem
}

func (g *orderGen) next(rng *rand.Rand) genOrder {
	o := genOrder{
		externalID: "bench-" + g.runID + "-" + strconv.FormatInt(g.seq.Add(1), 10),
		userID:     g.users[rng.IntN(len(g.users))],
	}
	for range 1 + rng.IntN(3) {
		o.items = append(o.items, genItem{
			name:     "Product " + strconv.Itoa(rng.IntN(500)),
			quantity: 1 + rng.IntN(5),
			cents:    rng.Int64N(100_000), // 0.00 to 999.99
		})
	}
	return o
}

// total is the order total in cents.
func (o genOrder) total() int64 {
	var t int64
	for _, it := range o.items {
		t += int64(it.quantity) * it.cents
	}
	return t
}

// formatCents writes cents as a decimal with two places: 1234 → "12.34".
func formatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// apiItem is an item as the API takes it, with the price as a decimal
// string ("29.99").
type apiItem struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
	Price    string `json:"price"`
}

func (o genOrder) apiItems() []apiItem {
	items := make([]apiItem, len(o.items))
	for i, it := range o.items {
		items[i] = apiItem{Name: it.name, Quantity: it.quantity, Price: formatCents(it.cents)}
	}
	return items
}

// storedItems is the items JSON as the API stores it in orders.items: the
// price as an exact JSON number.
func (o genOrder) storedItems() []byte {
	type stored struct {
		Name     string      `json:"name"`
		Quantity int         `json:"quantity"`
		Price    json.Number `json:"price"`
	}
	items := make([]stored, len(o.items))
	for i, it := range o.items {
		items[i] = stored{Name: it.name, Quantity: it.quantity, Price: json.Number(formatCents(it.cents))}
	}
	b, _ := json.Marshal(items)
	return b
}

// roundRobin returns the URLs path on each of bases in turn, one per call:
// how the load spreads its requests over several API instances, like a
// round-robin load balancer in front of them. It is safe for concurrent use.
func roundRobin(bases []string, path string) func() string {
	urls := make([]string, len(bases))
	for i, b := range bases {
		urls[i] = b + path
	}
	if len(urls) == 1 {
		u := urls[0]
		return func() string { return u }
	}
	var n atomic.Uint64
	return func() string { return urls[(n.Add(1)-1)%uint64(len(urls))] }
}

// newHTTPClient returns a keep-alive client that keeps a connection per
// client of a load at level, for each of hosts API instances (with
// round-robin, a client's next request may go to another instance).
func newHTTPClient(level, hosts int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        (level + 8) * max(1, hosts),
			MaxIdleConnsPerHost: level + 8,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// post sends body as JSON and returns the status and the response body, or
// an error code for a transport failure.
func post(ctx context.Context, client *http.Client, url string, body []byte) (int, []byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "BAD_REQUEST"
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, transportCode(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, transportCode(ctx, err)
	}
	return resp.StatusCode, b, ""
}

func transportCode(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "CANCELLED"
	case errors.As(err, &ne) && ne.Timeout():
		return "CLIENT_TIMEOUT"
	default:
		return "TRANSPORT"
	}
}

type gqlError struct {
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// gqlCode returns the error code of a GraphQL answer: the first error's
// extensions.code, else HTTP_<status> for a non-2xx status, else "".
func gqlCode(status int, errs []gqlError) string {
	if len(errs) > 0 {
		if c := errs[0].Extensions.Code; c != "" {
			return c
		}
		return "GRAPHQL_ERROR"
	}
	if status/100 != 2 {
		return "HTTP_" + strconv.Itoa(status)
	}
	return ""
}

// postGraphQL sends a GraphQL request and decodes the answer's data into
// data; it returns "" for an answer without errors, else the error code
// (transport, HTTP status, extensions.code, BAD_RESPONSE).
func postGraphQL(ctx context.Context, client *http.Client, url, query string, vars map[string]any, data any) string {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	status, b, code := post(ctx, client, url, body)
	if code != "" {
		return code
	}
	r := struct {
		Data   any        `json:"data"`
		Errors []gqlError `json:"errors"`
	}{Data: data}
	if err := json.Unmarshal(b, &r); err != nil {
		return "BAD_RESPONSE"
	}
	return gqlCode(status, r.Errors)
}

const createMutation = `mutation($in: CreateOrderInput!) { createOrder(input: $in) { created order { id status eventId total } } }`

// graphqlCreate is createOrder over GraphQL on the API instances of
// apiBases in turn; success means a new order that is DONE.
func graphqlCreate(apiBases []string, client *http.Client, gen *orderGen) opFunc {
	next := roundRobin(apiBases, "/graphql")
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		o := gen.next(rng)
		var data struct {
			CreateOrder *struct {
				Created bool `json:"created"`
				Order   *struct {
					Status string `json:"status"`
				} `json:"order"`
			} `json:"createOrder"`
		}
		vars := map[string]any{"in": map[string]any{"externalId": o.externalID, "userId": o.userID, "items": o.apiItems()}}
		if code := postGraphQL(ctx, client, next(), createMutation, vars, &data); code != "" {
			return code
		}
		if c := data.CreateOrder; c == nil || !c.Created || c.Order == nil || c.Order.Status != "DONE" {
			return "NOT_DONE"
		}
		return ""
	}
}

// restCreate is POST /orders on the API instances in turn; success is 201
// with status "done".
func restCreate(apiBases []string, client *http.Client, gen *orderGen) opFunc {
	next := roundRobin(apiBases, "/orders")
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		url := next()
		o := gen.next(rng)
		body, _ := json.Marshal(map[string]any{
			"external_id": o.externalID, "user_id": o.userID,
			"payload": map[string]any{"items": o.apiItems()},
		})
		status, b, code := post(ctx, client, url, body)
		if code != "" {
			return code
		}
		var r struct {
			Status string `json:"status"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return "BAD_RESPONSE"
		}
		if status != http.StatusCreated {
			if r.Error != nil && r.Error.Code != "" {
				return r.Error.Code
			}
			return "HTTP_" + strconv.Itoa(status)
		}
		if r.Status != "done" {
			return "NOT_DONE"
		}
		return ""
	}
}

// Floor statements: the naive per-order work, each statement its own
// transaction (autocommit), so three WAL flushes per order as in the
// product (create transaction, PROCESSING, apply transaction).
const (
	floorInsert = `INSERT INTO orders (external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total)
VALUES ($1, $2, 'NEW', 0, -1, 'create', $3, $4) RETURNING id`
	floorProcessing = `UPDATE orders SET status = 'PROCESSING', updated_at = now() WHERE id = $1`
	floorDone       = `UPDATE orders SET status = 'DONE', applied_event_id = 0, updated_at = now() WHERE id = $1`
)

func floorCreate(pool *pgxpool.Pool, gen *orderGen) opFunc {
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		o := gen.next(rng)
		var id int64
		if err := pool.QueryRow(ctx, floorInsert, o.externalID, o.userID, o.storedItems(), formatCents(o.total())).Scan(&id); err != nil {
			return dbCode(ctx, err)
		}
		if _, err := pool.Exec(ctx, floorProcessing, id); err != nil {
			return dbCode(ctx, err)
		}
		if _, err := pool.Exec(ctx, floorDone, id); err != nil {
			return dbCode(ctx, err)
		}
		return ""
	}
}

func dbCode(ctx context.Context, err error) string {
	var pgErr *pgconn.PgError
	switch {
	case ctx.Err() != nil:
		return "CANCELLED"
	case errors.Is(err, pgx.ErrNoRows):
		return "NOT_FOUND"
	case errors.As(err, &pgErr):
		return "PG_" + pgErr.Code
	default:
		return "DB_ERROR"
	}
}

// seedKey is the key of seeded order i: the same in SQL (seedSQL) and here.
func seedKey(i int, users []string) (externalID, userID string) {
	return seedPrefix + strconv.Itoa(i), users[i%len(users)]
}

// md5UUID is PostgreSQL's md5(s)::uuid.
func md5UUID(s string) string {
	sum := md5.Sum([]byte(s))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func seedUserIDs() []string {
	users := make([]string, seedUsers)
	for i := range users {
		users[i] = md5UUID("bench-user-" + strconv.Itoa(i))
	}
	return users
}

// seedSQL inserts orders $1 to $2-1 of the lookup table: DONE after a
// create and an update (events 0 and 1 applied), two items, the total
// matching them. Already seeded rows (an earlier run against the same
// database) are left alone.
const seedSQL = `INSERT INTO orders (external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total)
SELECT '` + seedPrefix + `' || i, md5('bench-user-' || (i % $3))::uuid, 'DONE', 1, 1, 'update',
       jsonb_build_array(
           jsonb_build_object('name', 'Product ' || (i % 500), 'quantity', q, 'price', p),
           jsonb_build_object('name', 'Gift wrap', 'quantity', 1, 'price', 2.50)),
       q * p + 2.50
FROM generate_series($1::bigint, $2::bigint - 1) AS i,
     LATERAL (SELECT (1 + i % 3)::int AS q, ((i % 99991) / 100.0)::numeric(20, 2) AS p) AS v
ON CONFLICT (external_id, user_id) DO NOTHING`

// seedEventsSQL gives seeded orders $1 to $2-1 their two events, both
// applied: the create (event 0) and an update to the order's items
// (event 1), as an order the API creates and updates has.
const seedEventsSQL = `INSERT INTO order_events (order_id, user_id, event_id, type, payload, applied_at, apply_count)
SELECT o.id, o.user_id, ev.id, ev.type, jsonb_build_object('items', o.items), now(), 1
FROM generate_series($1::bigint, $2::bigint - 1) AS i
JOIN orders o ON o.external_id = '` + seedPrefix + `' || i AND o.user_id = md5('bench-user-' || (i % $3))::uuid
CROSS JOIN (VALUES (0, 'create'), (1, 'update')) AS ev(id, type)
ON CONFLICT (order_id, event_id) DO NOTHING`

const lookupQuery = `query($e: String!, $u: ID!) { orderByExternalId(externalId: $e, userId: $u) { id externalId status eventId total items { name quantity price } createdAt } }`

// graphqlLookup is orderByExternalId of a random seeded order among the
// first n, on the API instances in turn; success means the order was found.
func graphqlLookup(apiBases []string, client *http.Client, n int, users []string) opFunc {
	next := roundRobin(apiBases, "/graphql")
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		ext, user := seedKey(rng.IntN(n), users)
		var data struct {
			Order *struct {
				ExternalID string `json:"externalId"`
			} `json:"orderByExternalId"`
		}
		if code := postGraphQL(ctx, client, next(), lookupQuery, map[string]any{"e": ext, "u": user}, &data); code != "" {
			return code
		}
		if data.Order == nil || data.Order.ExternalID != ext {
			return "NOT_FOUND"
		}
		return ""
	}
}

// pointSelect is the API's lookup query (GetOrderByExternalID: every
// column) run directly with pgx: the floor of a lookup.
const pointSelect = `SELECT id, external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total,
       cancel_reason, failure_reason, cancelled_at, created_at, updated_at
FROM orders WHERE external_id = $1 AND user_id = $2`

func pgxLookup(pool *pgxpool.Pool, n int, users []string) opFunc {
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		ext, user := seedKey(rng.IntN(n), users)
		var (
			id                                 int64
			extID, status, lastType, cr, fr    string
			uid                                pgtype.UUID
			eventID, applied                   int32
			items                              []byte
			total                              pgtype.Numeric
			cancelledAt, createdAt, updatedAtT pgtype.Timestamptz
		)
		err := pool.QueryRow(ctx, pointSelect, ext, user).Scan(&id, &extID, &uid, &status, &eventID, &applied, &lastType,
			&items, &total, &cr, &fr, &cancelledAt, &createdAt, &updatedAtT)
		if err != nil {
			return dbCode(ctx, err)
		}
		if extID != ext {
			return "NOT_FOUND"
		}
		return ""
	}
}
