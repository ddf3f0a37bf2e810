package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orderstream/orderstream/internal/pgtest"
	"github.com/orderstream/orderstream/internal/postgres"
)

func uuids(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

// TestRegisteredUUIDEncoding: with RegisterUUID a uuid and a uuid[] are
// sent as the same bytes as without it (pgx's database/sql Valuer path),
// in both formats, so the server sees no difference.
func TestRegisteredUUIDEncoding(t *testing.T) {
	plain, registered := pgtype.NewMap(), pgtype.NewMap()
	postgres.RegisterUUID(registered)
	ids := uuids(3)
	for _, v := range []struct {
		oid   uint32
		value any
	}{{pgtype.UUIDOID, ids[0]}, {pgtype.UUIDArrayOID, ids}} {
		for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
			want, err := plain.Encode(v.oid, format, v.value, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := registered.Encode(v.oid, format, v.value, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("oid %d format %d: registered %x; plain %x", v.oid, format, got, want)
			}
		}
	}
	var back uuid.UUID
	b, _ := registered.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, ids[0], nil)
	if err := registered.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, b, &back); err != nil || back != ids[0] {
		t.Errorf("scan: got %v, %v; want %v", back, err, ids[0])
	}
}

// TestOpenRegistersUUID: every connection of a pool from Open encodes a
// uuid[] the registered way, about 2 allocations a uuid, not the 20 of
// database/sql's Valuer path (BenchmarkEncodeUUIDs), which it falls back
// to without RegisterUUID.
func TestOpenRegistersUUID(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDBs(t).Owner, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m := conn.Conn().TypeMap()
	ids := uuids(64)
	var buf []byte
	allocs := testing.AllocsPerRun(20, func() {
		if buf, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4*64 {
		t.Errorf("encoding 64 uuids on a pool connection: %.0f allocations; want under %d (RegisterUUID not applied?)", allocs, 4*64)
	}
}

// BenchmarkEncodeUUIDs encodes the users of a batch of 64 creates (a
// uuid[] in binary, as pgx sends it) with and without RegisterUUID.
func BenchmarkEncodeUUIDs(b *testing.B) {
	ids := uuids(64)
	for _, v := range []struct {
		name     string
		register bool
	}{{"valuer", false}, {"registered", true}} {
		b.Run(v.name, func(b *testing.B) {
			m := pgtype.NewMap()
			if v.register {
				postgres.RegisterUUID(m)
			}
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
