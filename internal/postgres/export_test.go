package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/order"
	"github.com/orderstream/orderstream/internal/postgres/db"
)

// QueuedCreates is how many creates wait in the combiner for a batch (tests).
func (s *Store) QueuedCreates() int { return s.creates.queued() }

// SetLookupUsersSQL is what a batch of lookups runs before its statement.
var SetLookupUsersSQL = setLookupUsersSQL

// QueuedLookups is how many lookups wait in the combiner for a batch (tests).
func (s *Store) QueuedLookups() int { return s.lookups.queued() }

// CreatePayload is createPayload, for the tests of package postgres_test.
func CreatePayload(items []order.Item) ([]byte, error) {
	b, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	return createPayload(b, len(items)), nil
}

// MarshalPayload is what createPayload stands for: the event payload of a
// create, encoded whole.
func MarshalPayload(items []order.Item) ([]byte, error) { return json.Marshal(payload{Items: items}) }

// InsertBatch stores the creates of ins with the one multi-row statement
// of a batch (insertMany), as the combiner does when its creates meet, and
// returns how many orders it inserted (benchmarks: the combiner decides
// by itself whether creates meet).
func (s *Store) InsertBatch(ctx context.Context, ins []order.CreateInput) (int, error) {
	batch := make([]*createJob, len(ins))
	for i, in := range ins {
		total, ok := order.Total(in.Items)
		if !ok {
			return 0, errors.New("total out of range")
		}
		r, err := newCreateReq(ctx, in, total)
		if err != nil {
			return 0, err
		}
		batch[i] = &createJob{req: r}
	}
	rows, err := s.insertMany(ctx, batch)
	return len(rows), err
}

// Pending reads the orders with ids and their unapplied events with the
// worker's lock statement, converted as ProcessBatch converts them.
func Pending(ctx context.Context, pool *pgxpool.Pool, ids []int64) ([]order.Pending, error) {
	rows, err := db.New(pool).LockOrdersWithPendingEvents(ctx, ids)
	if err != nil {
		return nil, err
	}
	return toPending(rows)
}
