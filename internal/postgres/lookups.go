package postgres

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// Lookups in one statement (docs/SCALING.md, "Lookups in one statement").
// Concurrent OrderByExternalID calls are gathered (gather.go, as creates
// are in combine.go) into one statement, GetOrdersByExternalIDs: one round
// trip, one statement and one implicit transaction for all of them, where
// each lookup alone costs PostgreSQL two statements (the row-level security
// setting and the select) and a transaction of its own, and the API a
// write and a read on its connection. A lookup that finds the database
// idle runs alone, with the one-row statement, as without batching.
//
// Row-level security binds the batch as it binds a batch of creates: the
// statement's transaction names the batch's users in orderstream.user_ids,
// and only lookups whose user is their request's own principal (rlsUser)
// join a batch, so the statement can return only rows of users that one
// of its requests authenticated as (or, without authentication, asked
// for). Each request is then answered only with the row of its own key,
// (external id, user id): another user's order stays indistinguishable
// from a missing one. Any other lookup runs alone, bound to its principal.
// A batch that fails answers each of its lookups by running it alone.

// setLookupUsersSQL binds a batch of lookups to its users, as setUsersSQL
// binds a batch of creates, and plans the batch statement as the worker's
// are planned (KeyPlanSettings, WithKeyPlans), local to its transaction:
// a generic plan, made once per connection, of one index lookup per key.
// The API's connections otherwise cache a generic plan that PostgreSQL may
// make on a small or never analyzed table, a hash join over a sequential
// scan of orders, and keep as the table grows
// (TestLookupBatchPlanIsKeyLookups).
var setLookupUsersSQL = func() string {
	sql := setUsersSQL
	for _, name := range slices.Sorted(maps.Keys(KeyPlanSettings)) {
		sql += ", set_config('" + name + "', '" + KeyPlanSettings[name] + "', true)"
	}
	return sql
}()

// lookupTimeout bounds a batch of lookups: it runs for every request in
// it, so it does not end with the client of its first one.
const lookupTimeout = 10 * time.Second

// lookupReq is one OrderByExternalID waiting in the lookup combiner.
type lookupReq struct {
	ctx        context.Context
	externalID string
	uid        uuid.UUID
}

type lookupRes struct {
	o   order.Order
	err error
	// alone: the batch failed; run the lookup alone.
	alone bool
}

func lookupKey(externalID string, uid uuid.UUID) string { return externalID + "\x00" + string(uid[:]) }

// lookupJob is a lookup in the queue of the combiner.
type lookupJob = job[*lookupReq, lookupRes]

// BatchLookups makes OrderByExternalID gather concurrent lookups into one
// statement of up to max keys, with up to inFlight such statements running
// at a time, and one more beside each that has run for stallAfter (0:
// never; see gather). max ≤ 1 or inFlight < 1 turns it off (every lookup
// alone, the default of NewStore). Call it before the store is used.
func (s *Store) BatchLookups(max, inFlight int, stallAfter time.Duration) {
	s.lookups = newGather(max, inFlight, stallAfter, s.runLookups)
}

// LookupBatches returns how many batches of more than one lookup the store
// has run, and how many lookups they held.
func (s *Store) LookupBatches() (batches, lookups int64) { return s.lookups.stats() }

// BatchStalls returns how many statements of gathered creates or lookups
// ran for their stall limit (BatchCreates, BatchLookups), each letting
// another start beside it.
func (s *Store) BatchStalls() int64 { return s.creates.stallCount() + s.lookups.stallCount() }

// runLookups looks up the keys of batch in one statement and answers each
// lookup.
func (s *Store) runLookups(batch []*lookupJob) {
	if len(batch) == 1 {
		r := batch[0].req
		o, err := s.lookupAlone(r.ctx, r.externalID, r.uid, r.uid.String()) // it joined: its own user
		batch[0].answer(lookupRes{o: o, err: err})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].req.ctx), lookupTimeout)
	defer cancel()
	p := db.GetOrdersByExternalIDsParams{ExternalIds: make([]string, len(batch)), UserIds: make([]uuid.UUID, len(batch))}
	users := make([]uuid.UUID, 0, len(batch))
	seen := make(map[uuid.UUID]bool, len(batch))
	for i, j := range batch {
		r := j.req
		p.ExternalIds[i], p.UserIds[i] = r.externalID, r.uid
		if !seen[r.uid] {
			seen[r.uid] = true
			users = append(users, r.uid)
		}
	}
	rows, err := db.New(userConn{b: s.pool, set: setLookupUsersSQL, arg: users}).GetOrdersByExternalIDs(ctx, p)
	if err != nil {
		for _, j := range batch {
			j.answer(lookupRes{alone: true})
		}
		return
	}
	s.lookups.counted(len(batch))
	byKey := make(map[string]db.Order, len(rows))
	for _, row := range rows {
		byKey[lookupKey(row.ExternalID, row.UserID)] = row
	}
	for _, j := range batch {
		r, res := j.req, lookupRes{err: errNotFound(j.req.externalID)}
		if row, ok := byKey[lookupKey(r.externalID, r.uid)]; ok {
			res.o, res.err = toOrder(row)
		}
		j.answer(res)
	}
}

// OrderByExternalID implements order.Store. With BatchLookups, concurrent
// lookups share one statement (above).
func (s *Store) OrderByExternalID(ctx context.Context, externalID, userID string) (order.Order, error) {
	uid, err := userUUID(userID)
	if err != nil {
		return order.Order{}, err
	}
	// Only a lookup whose user is its principal's own may share a statement
	// bound to several users; any other runs alone, bound to its principal.
	own := uid.String()
	user := rlsUser(ctx, own)
	if s.lookups != nil && user == own {
		if res := s.lookups.do(&lookupReq{ctx: ctx, externalID: externalID, uid: uid}); !res.alone {
			return res.o, res.err
		}
	}
	return s.lookupAlone(ctx, externalID, uid, user)
}

// lookupAlone reads the order with the one-row statement, bound to
// rlsUser, the request's row-level security user.
func (s *Store) lookupAlone(ctx context.Context, externalID string, uid uuid.UUID, rlsUser string) (order.Order, error) {
	row, err := asUser(s.pool, rlsUser).GetOrderByExternalID(ctx, db.GetOrderByExternalIDParams{ExternalID: externalID, UserID: uid})
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, errNotFound(externalID)
	}
	if err != nil {
		return order.Order{}, mapErr("get order", err)
	}
	return toOrder(row)
}
