package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
	"github.com/orderstream/orderstream/migrations"
)

// Group commit of creates (docs/SCALING.md, "Creates in one statement").
// Concurrent CreateOrder calls are gathered into one multi-row INSERT of
// their orders and create events (InsertOrdersWithEvents): one statement,
// one commit, one WAL flush for all of them, where each create alone costs
// PostgreSQL a statement and a commit of its own.
//
// It never waits for company (gather.go). A create that finds fewer than
// the batches in flight allowed runs at once, on its own goroutine (alone,
// when nobody else is waiting: the plain one-row statement, as without
// batching); the others queue, and when a batch ends, the first create in
// the queue takes everything queued behind it (up to max) as the next
// batch. So a batch forms only while the database is busy with another one.
//
// Row-level security still binds each row: the batch's transaction names
// its users in orderstream.user_ids (migration 000006), and only creates
// whose user is their request's own principal (rlsUser) join a batch, so
// a row can be written only for a user that one of the batch's requests
// authenticated as. Any other create runs alone, bound to its principal,
// as before. A batch that fails (a row PostgreSQL refuses, a lost
// connection) is not retried as a whole: each of its creates runs again
// alone, so that one bad row fails only its own request; a create whose
// order already exists (a retry) also runs alone, which reads the order.

// setUsersSQL sets the users of a batch of creates for the current transaction.
const setUsersSQL = "SELECT set_config('" + migrations.UsersSetting + "', $1::uuid[]::text, true)"

// createReq is one CreateOrder waiting in the combiner.
type createReq struct {
	ctx     context.Context
	in      order.CreateInput
	uid     uuid.UUID
	items   []byte
	payload []byte
	total   order.Decimal
}

type createRes struct {
	o       order.Order
	ev      order.Event
	created bool
	err     error
	// alone: not stored by a batch; run the create alone (it failed in a
	// batch, it is a second create of the same order in one batch, or its
	// order already existed).
	alone bool
}

func (r *createReq) key() string { return r.in.ExternalID + "\x00" + r.uid.String() }

// createJob is a create in the queue of the combiner.
type createJob = job[*createReq, createRes]

// BatchCreates makes CreateOrder gather concurrent creates into one
// statement of up to max orders, with up to inFlight such statements
// running at a time, and one more beside each that has run for stallAfter
// (0: never; see gather). max ≤ 1 or inFlight < 1 turns it off (every
// create alone, the default of NewStore). Call it before the store is used.
func (s *Store) BatchCreates(max, inFlight int, stallAfter time.Duration) {
	s.creates = newGather(max, inFlight, stallAfter, s.runCreates)
}

// CreateBatches returns how many batches of more than one create the store
// has committed, and how many creates they held.
func (s *Store) CreateBatches() (batches, creates int64) { return s.creates.stats() }

// runCreates stores batch and answers each of its creates.
func (s *Store) runCreates(batch []*createJob) {
	// The same order twice in one statement cannot be: the second runs
	// alone, after the batch (then it finds the order).
	if len(batch) > 1 {
		seen := make(map[string]bool, len(batch))
		batch = slices.DeleteFunc(batch, func(j *createJob) bool {
			k := j.req.key()
			if seen[k] {
				j.answer(createRes{alone: true})
				return true
			}
			seen[k] = true
			return false
		})
	}
	if len(batch) == 1 {
		r := batch[0].req
		o, ev, created, err := s.createAlone(r.ctx, r.in, r.uid, r.items, r.payload, r.total)
		batch[0].answer(createRes{o: o, ev: ev, created: created, err: err})
		return
	}
	rows, err := s.insertMany(batch[0].req.ctx, batch)
	if err != nil {
		for _, j := range batch {
			j.answer(createRes{alone: true})
		}
		return
	}
	s.creates.counted(len(batch))
	for _, j := range batch {
		r, res := j.req, createRes{alone: true}
		if row, ok := rows[r.key()]; ok {
			o, err := insertedOrder(db.Order(row), r.in.Items)
			ev := order.Event{OrderID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, EventID: 0, Type: order.EventCreate, Items: r.in.Items, ItemsJSON: r.items}
			res = createRes{o: o, ev: ev, created: err == nil, err: err}
		}
		j.answer(res)
	}
}

// insertMany inserts the orders of batch and their create events in one
// statement under the batch's users, and returns the inserted rows by key.
// It runs on the context of the batch's first create, which, like every
// write of order.Service, does not end with its client.
func (s *Store) insertMany(ctx context.Context, batch []*createJob) (map[string]db.InsertOrdersWithEventsRow, error) {
	p := db.InsertOrdersWithEventsParams{
		ExternalIds: make([]string, len(batch)), UserIds: make([]uuid.UUID, len(batch)),
		Items: make([]string, len(batch)), Totals: make([]string, len(batch)), Payloads: make([]string, len(batch)),
		RecoveryDelaySeconds: s.RecoveryDelay.Seconds(),
	}
	users := make([]uuid.UUID, 0, len(batch))
	seen := make(map[uuid.UUID]bool, len(batch))
	for i, j := range batch {
		r := j.req
		p.ExternalIds[i], p.UserIds[i] = r.in.ExternalID, r.uid
		p.Items[i], p.Totals[i], p.Payloads[i] = string(r.items), r.total.String(), string(r.payload)
		if !seen[r.uid] {
			seen[r.uid] = true
			users = append(users, r.uid)
		}
	}
	inserted, err := asUsers(s.pool, users).InsertOrdersWithEvents(ctx, p)
	if err != nil {
		return nil, mapErr("insert orders", err)
	}
	rows := make(map[string]db.InsertOrdersWithEventsRow, len(inserted))
	for _, row := range inserted {
		rows[row.ExternalID+"\x00"+row.UserID.String()] = row
	}
	return rows, nil
}
