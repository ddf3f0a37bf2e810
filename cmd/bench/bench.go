package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderstream/orderstream/internal/postgres"
)

const (
	floorDatabase = "orderstream_bench_floor"
	// grace bounds the requests still in flight after a window: above the
	// API's ACK_TIMEOUT, so that they end with its answer.
	loadGrace    = 45 * time.Second
	seedChunk    = 100_000
	seedTimeout  = 30 * time.Minute
	setupTimeout = 2 * time.Minute
)

// Phase names.
const (
	phaseGraphQLCreate = "GraphQL createOrder"
	phaseFloor         = "DB floor: INSERT + 2 UPDATEs, 3 commits"
	phaseREST          = "REST POST /orders"
	phaseSeed          = "seed design POST /orders"
	phaseLookup        = "GraphQL orderByExternalId"
	phasePointSelect   = "pgx point select (lookup floor)"
	phasePostGraphile  = "PostGraphile 4 allOrders(condition)"
	phaseGrown         = "GraphQL createOrder, grown tables"
)

// phaseResult is one measured phase.
type phaseResult struct {
	phase string
	level int
	// round is the round of a create, REST or lookup phase (1 to
	// -rounds); 0 for the phase outside the rounds (grown).
	round int
	rows  int64 // lookups: rows in the orders table
	res   loadResult
	cpu   *cpuDelta
	// instr is the instructions of each kind of process in the window
	// (-callgrind); nil without.
	instr map[string]int64
	// ratio of this phase's ops/s to its baseline's; 0: none.
	ratio    float64
	baseline string
	// vsDesign is the ratio of this phase's ops/s to the seed design's at
	// the same level; 0: none.
	vsDesign float64
	// designRun and floorRun are the seed design's and the floor's results
	// this create phase is compared with (computeRatios); nil: none.
	designRun, floorRun *phaseResult
}

type bench struct {
	cfg  config
	log  *slog.Logger
	st   *stack
	gen  *orderGen
	info machineInfo

	floorURL string
	design   *seedDesign // the seed design child, when the seed phase runs
	designDB bool        // the seed design's database was created
	results  []*phaseResult
	notes    []string
	rss      map[string][]int64 // peak RSS of each process of a kind
	wall     time.Duration

	profiles []profile // CPU profiles to fetch (-cpuprofile-api, -cpuprofile-worker)
	statConn *pgx.Conn // for pg_stat_wal; closed by run
}

func newBench(cfg config, log *slog.Logger, st *stack) *bench {
	return &bench{cfg: cfg, log: log, st: st, gen: newOrderGen(), rss: map[string][]int64{}}
}

func (b *bench) run(ctx context.Context) error {
	defer func() {
		if b.statConn != nil {
			b.statConn.Close(context.Background())
		}
	}()
	b.info = collectMachineInfo(ctx, b.st)
	if err := b.checkPipeline(ctx); err != nil {
		return err
	}
	ph := b.cfg.phases
	if ph.has(selFloor) {
		if err := b.setupFloor(ctx); err != nil {
			return err
		}
		defer b.dropFloor()
	}
	if ph.has(selCreate) || ph.has(selFloor) || ph.has(selREST) {
		if err := b.warmTables(ctx); err != nil {
			return err
		}
	}
	if ph.has(selSeed) {
		defer b.stopSeedDesign() // also after a failed start: it drops the database
		err := b.setupSeedDesign(ctx)
		switch {
		case errors.Is(err, errNoDesignBroker):
			b.log.Warn("seed phase skipped", "reason", err)
			b.notes = append(b.notes, "Seed design phases skipped: "+err.Error()+".")
			ph = maps.Clone(ph)
			delete(ph, selSeed)
		case err != nil:
			return err
		}
	}
	if ph.has(selCreate) {
		b.probeProfiles(ctx)
	}

	// Creates: OrderStream, the seed design and the floor at each level,
	// one after the other, so that all see the same state of a noisy
	// machine; -rounds times over at each level, so that the ratios of
	// each round and their median can be compared.
	topLevel := slices.Max(b.cfg.levels)
	for _, level := range b.cfg.levels {
		for round := 1; round <= b.cfg.rounds; round++ {
			if err := b.createRound(ctx, ph, level, round, level == topLevel && round == 1); err != nil {
				return err
			}
		}
	}

	// REST POST /orders at its level, in the same rounds: after createOrder
	// in each round of that level, or, at a level of its own, in rounds of
	// its own with the seed design and the floor after it.
	if ph.has(selREST) && !slices.Contains(b.cfg.levels, b.cfg.restLevel) {
		restOnly := maps.Clone(ph)
		delete(restOnly, selCreate)
		for round := 1; round <= b.cfg.rounds; round++ {
			if err := b.createRound(ctx, restOnly, b.cfg.restLevel, round, false); err != nil {
				return err
			}
		}
	}

	if ph.lookups() {
		if err := b.lookups(ctx); err != nil {
			return err
		}
	}
	if ph.has(selGrown) {
		if err := b.grown(ctx); err != nil {
			return err
		}
	}
	for _, p := range b.st.procs {
		if p.name == procAPI || p.name == procWorker {
			if v, ok := peakRSS(p.pid); ok {
				b.rss[p.name] = append(b.rss[p.name], v)
			}
		}
	}
	return nil
}

// createRound measures one round at level: createOrder, REST POST /orders
// (at -rest-level), then the seed design, then the floor, each as far as
// ph selects it. profile fetches
// the CPU profiles (-cpuprofile-*) during createOrder.
func (b *bench) createRound(ctx context.Context, ph phaseSet, level, round int, profile bool) error {
	apis := len(b.st.apiBases)
	if ph.has(selCreate) {
		client := newHTTPClient(level, apis)
		var profileDone <-chan struct{}
		if len(b.profiles) > 0 && profile {
			profileDone = b.fetchProfiles(ctx)
		}
		b.measure(ctx, phaseGraphQLCreate, level, round, graphqlCreate(b.st.apiBases, client, b.gen))
		client.CloseIdleConnections()
		if profileDone != nil {
			<-profileDone
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if ph.has(selREST) && level == b.cfg.restLevel {
		client := newHTTPClient(level, apis)
		b.measure(ctx, phaseREST, level, round, restCreate(b.st.apiBases, client, b.gen))
		client.CloseIdleConnections()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if ph.has(selSeed) {
		if err := b.measureSeedDesign(ctx, level, round); err != nil {
			return err
		}
	}
	if ph.has(selFloor) {
		return b.measureFloor(ctx, level, round)
	}
	return nil
}

// failedPhases is an error naming each phase in which every operation
// failed: a broken baseline or set-up (a query the server's schema
// refuses), not a measurement. nil when there is none.
func (b *bench) failedPhases() error {
	var failed []string
	for _, r := range b.results {
		if r.res.ok == 0 && r.res.errorCount() > 0 && !r.res.interrupted {
			failed = append(failed, fmt.Sprintf("%s at %d (%s)", b.phaseName(r), r.level, fmtErrors(r.res.errors)))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("every operation failed in %s", strings.Join(failed, "; "))
}

// measureFloor measures the DB floor at level on a pool of its own.
func (b *bench) measureFloor(ctx context.Context, level, round int) error {
	pool, err := b.floorPool(ctx, level)
	if err != nil {
		return err
	}
	b.measure(ctx, phaseFloor, level, round, floorCreate(pool, b.gen))
	pool.Close()
	return ctx.Err()
}

// checkPipeline sends one order through the whole pipeline by each API
// instance: it returns once a worker has joined its group and processed
// them, and each instance got its ACK.
func (b *bench) checkPipeline(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for i, base := range b.st.apiBases {
		op := graphqlCreate([]string{base}, newHTTPClient(1, 1), b.gen)
		start := time.Now()
		for {
			code := op(ctx, 0, rand.New(rand.NewPCG(1, 2)))
			if code == "" {
				b.log.Info("pipeline ready: first order done", "api", base, "took", time.Since(start).Round(time.Millisecond))
				break
			}
			if ctx.Err() != nil || code != "ACK_TIMEOUT" && code != "UNAVAILABLE" {
				return fmt.Errorf("first createOrder failed: %s", code)
			}
			b.log.Info("waiting for the pipeline", "api", i+1, "code", code)
		}
	}
	return nil
}

// setupFloor creates the floor's database on the same server (same WAL,
// same disk) with the product's schema: its migrations.
func (b *bench) setupFloor(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	floorURL, err := withDatabase(b.st.dbURL, floorDatabase)
	if err != nil {
		return err
	}
	if err := b.checkConnections(ctx); err != nil {
		return err
	}
	for _, sql := range []string{
		"DROP DATABASE IF EXISTS " + floorDatabase,
		"CREATE DATABASE " + floorDatabase,
	} {
		if err := execOnce(ctx, b.st.dbURL, sql); err != nil {
			return fmt.Errorf("floor database: %w", err)
		}
	}
	if err := postgres.Migrate(floorURL); err != nil {
		return fmt.Errorf("floor database: %w", err)
	}
	b.floorURL = floorURL
	return nil
}

// warmTables gives orders and order_events of both databases the first
// smallTableRows seeded orders, their create events and statistics, unless
// -cold-tables: the create phases then measure the steady state of a
// database in use, not its first minute. On tables that are empty or nearly
// so when analyzed, or never analyzed, the worker's batched queries (= ANY,
// unnest joins) are planned as sequential scans; the plans stay cached on
// the worker's connections until the next ANALYZE invalidates them, up to
// a minute later (autovacuum), and each order meanwhile reads the whole
// table. The seq scans/op column shows this.
func (b *bench) warmTables(ctx context.Context) error {
	if b.cfg.coldTables {
		b.notes = append(b.notes, "-cold-tables: the create phases ran on the freshly migrated, empty tables without statistics, as a new deployment's first minute.")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for _, u := range []string{b.st.dbURL, b.floorURL} {
		if u == "" {
			continue // no floor phase
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, seedSQL, 0, smallTableRows, seedUsers)
		if err == nil {
			_, err = conn.Exec(ctx, seedEventsSQL, 0, smallTableRows, seedUsers)
		}
		if err == nil {
			_, err = conn.Exec(ctx, "ANALYZE orders, order_events")
		}
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("warm the orders tables: %w", err)
		}
	}
	dbs := "both databases"
	if b.floorURL == "" {
		dbs = "the product's database"
	}
	b.notes = append(b.notes, fmt.Sprintf("Before the create phases, orders and order_events of %s got the first %s seeded orders with their two applied events (create, update), and ANALYZE (-cold-tables skips this): on tables that were (nearly) empty when analyzed or never analyzed, the worker's batched queries are planned as sequential scans, kept until autovacuum's next ANALYZE (up to a minute later), and each order then reads the whole table.",
		dbs, thousands(smallTableRows)))
	return nil
}

// checkConnections fails early when the server cannot hold the floor's
// largest pool next to the connections open now (a server we did not start
// may have a small max_connections).
func (b *bench) checkConnections(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.st.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var maxConns, inUse int
	if err := conn.QueryRow(ctx, "SELECT current_setting('max_connections')::int, (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").Scan(&maxConns, &inUse); err != nil {
		return fmt.Errorf("read max_connections: %w", err)
	}
	need := max(slices.Max(b.cfg.levels), b.cfg.restLevel)
	if margin := 10; inUse+need+margin > maxConns {
		return fmt.Errorf("the floor at level %d needs %d connections, but PostgreSQL has max_connections = %d with %d in use: raise it (ALTER SYSTEM SET max_connections = %d, then restart) or lower -levels and -rest-level",
			need, need, maxConns, inUse, inUse+need+100)
	}
	return nil
}

// dropFloor drops the floor's database from a server that is not ours (ours
// is deleted whole).
func (b *bench) dropFloor() {
	if b.st.ownPG || b.floorURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execOnce(ctx, b.st.dbURL, "DROP DATABASE IF EXISTS "+floorDatabase); err != nil {
		b.log.Warn("drop the floor database", "err", err)
	}
}

// floorPool returns a pool of exactly level connections on the floor
// database, all connected before the load starts.
func (b *bench) floorPool(ctx context.Context, level int) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(b.floorURL)
	if err != nil {
		return nil, err
	}
	pcfg.MaxConns = int32(level)
	pcfg.MinConns = int32(level)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	// Connect all of them now, not during the warm-up.
	conns := make([]*pgxpool.Conn, 0, level)
	for range level {
		c, err := pool.Acquire(ctx)
		if err != nil {
			for _, c := range conns {
				c.Release() // before Close, which waits for them
			}
			pool.Close()
			return nil, fmt.Errorf("floor pool of %d connections: %w", level, err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	return pool, nil
}

// withDatabase returns dbURL with another database name.
func withDatabase(dbURL, name string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// measure runs one load phase and records it; round is its round (1 to
// -rounds), 0 for a phase outside the rounds.
func (b *bench) measure(ctx context.Context, phase string, level, round int, op opFunc) *phaseResult {
	var (
		mu            sync.Mutex
		before, after cpuSample
		instr         map[string]int64 // -callgrind
	)
	b.log.Info("phase", "phase", phase, "level", level, "round", round, "warmup", b.cfg.warmup, "duration", b.cfg.duration)
	res := runLoad(ctx, loadSpec{
		level: level, warmup: b.cfg.warmup, duration: b.cfg.duration, maxOps: b.cfg.maxOps, grace: loadGrace,
		onWindow: func(start bool) {
			if b.cfg.callgrindDir != "" {
				counts, err := callgrind{dir: b.cfg.callgrindDir}.window(ctx, b.st.procs, start)
				if err != nil {
					b.log.Warn("callgrind", "phase", phase, "level", level, "err", err)
				}
				if !start {
					mu.Lock()
					instr = counts
					mu.Unlock()
				}
			}
			s := sampleCPU(b.st.procs)
			s.wal, s.walOK = b.sampleWAL(ctx)
			mu.Lock()
			defer mu.Unlock()
			if start {
				before = s
			} else {
				after = s
			}
		},
		op: op,
	})
	pr := &phaseResult{phase: phase, level: level, round: round, res: res}
	mu.Lock()
	if !before.at.IsZero() && !after.at.IsZero() && !res.interrupted {
		d := after.sub(before)
		pr.cpu = &d
		pr.instr = instr
	}
	mu.Unlock()
	b.results = append(b.results, pr)
	b.log.Info("result", "phase", phase, "level", level, "ops/s", fmt.Sprintf("%.1f", res.opsPerSec()),
		"p50", fmtDur(percentile(res.lat, 50)), "p99", fmtDur(percentile(res.lat, 99)), "errors", res.errorCount())
	return pr
}

// lookups measures orderByExternalId on a small then a big orders table,
// each followed by the raw pgx point select on the same table: its
// baseline, measured right after it.
//
// To compare the two tables, everything but the table size stays the same:
// the same API process, connection pool, query and concurrency; keys drawn
// uniformly from all rows of the table, all of them hits; the same row
// shape. The small table is the first 10,000 seeded orders alone (on our
// own database the table is emptied first); the big one adds the rest
// after. Looking up 10,000 keys of the big table instead would measure a
// hot cache, not a small table.
func (b *bench) lookups(ctx context.Context) error {
	users := seedUserIDs()
	pcfg, err := pgxpool.ParseConfig(b.st.dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = int32(b.cfg.lookupLevel)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	if b.st.ownPG {
		// Our throwaway database: drop the created orders so the small
		// table holds exactly the seeded ones.
		tctx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err := pool.Exec(tctx, "SET lock_timeout = '30s'; TRUNCATE orders, order_events")
		cancel()
		if err != nil {
			return fmt.Errorf("empty the orders table: %w", err)
		}
	} else {
		b.notes = append(b.notes, "The orders table was not emptied (not the bench's own database): the lookup tables hold the seeded orders plus what was there; the row counts say how many.")
	}

	small := min(smallTableRows, b.cfg.rows)
	rows, err := b.seed(ctx, pool, 0, small, users)
	if err != nil {
		return err
	}
	client := newHTTPClient(b.cfg.lookupLevel, len(b.st.apiBases))
	defer client.CloseIdleConnections()
	var pg *postGraphile
	if b.cfg.phases.has(selPostGraphile) {
		// Started after the seeding's VACUUM ANALYZE, as OrderStream's
		// first lookup comes after it: both plan with the same statistics.
		if pg, err = startPostGraphile(ctx, b.cfg.postGraphileDir, b.st.dbURL); err != nil {
			return err
		}
		defer pg.stop()
		b.st.procs = append(b.st.procs, watched{name: procPostGraphile, pid: pg.proc.Pid(), tree: true})
		b.notes = append(b.notes, fmt.Sprintf("Lookup baseline: PostGraphile %s (npm, deploy/postgraphile), one Node.js %s process started by the bench with --dynamic-json --disable-query-log --disable-default-mutations, connected as the database owner (which row-level security does not bind: it does less than OrderStream's API), asked `%s`: the unique (external_id, user_id) index is not a constraint, so PostGraphile generates no orderByExternalIdAndUserId, and the condition filters on the same two columns over the same index.",
			postGraphileVersion(b.cfg.postGraphileDir), nodeVersion(ctx), pg.query))
	}
	// lookupRound measures the GraphQL lookup, PostGraphile's, then the pgx
	// select on the first n seeded orders, as -phases asks; lookupRounds
	// does it -rounds times over.
	lookupRound := func(n int, rows int64, round int) error {
		if b.cfg.phases.has(selLookup) {
			b.measure(ctx, phaseLookup, b.cfg.lookupLevel, round, graphqlLookup(b.st.apiBases, client, n, users)).rows = rows
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if pg != nil {
			pgClient := newHTTPClient(b.cfg.lookupLevel, 1)
			b.measure(ctx, phasePostGraphile, b.cfg.lookupLevel, round, postGraphileLookup(pg.url, pg.query, pgClient, n, users)).rows = rows
			pgClient.CloseIdleConnections()
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if b.cfg.phases.has(selSelect) {
			b.measure(ctx, phasePointSelect, b.cfg.lookupLevel, round, pgxLookup(pool, n, users)).rows = rows
		}
		return ctx.Err()
	}
	lookupRounds := func(n int, rows int64) error {
		for round := 1; round <= b.cfg.rounds; round++ {
			if err := lookupRound(n, rows, round); err != nil {
				return err
			}
		}
		return nil
	}
	if err := lookupRounds(small, rows); err != nil {
		return err
	}
	if b.cfg.rows > small {
		if rows, err = b.seed(ctx, pool, small, b.cfg.rows, users); err != nil {
			return err
		}
	}
	return lookupRounds(b.cfg.rows, rows)
}

// grown measures createOrder at -grown-level once the tables hold -rows
// seeded orders (the lookup phases' big table, seeded here when they did
// not run) and two applied events for each: writes must not slow down as
// the tables grow (no sequential scan per batch: the seq scans/op column).
// Its baseline is createOrder at the same level on the small tables, when
// -levels has that level.
func (b *bench) grown(ctx context.Context) error {
	pool, err := pgxpool.New(ctx, b.st.dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows, err := b.seed(ctx, pool, 0, b.cfg.rows, seedUserIDs())
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	start := time.Now()
	for lo := 0; lo < b.cfg.rows; lo += seedChunk {
		hi := min(b.cfg.rows, lo+seedChunk)
		if _, err := pool.Exec(sctx, seedEventsSQL, lo, hi, seedUsers); err != nil {
			return fmt.Errorf("seed events of orders %d to %d: %w", lo, hi, err)
		}
	}
	if _, err := pool.Exec(sctx, "VACUUM ANALYZE order_events"); err != nil {
		return fmt.Errorf("vacuum analyze order_events: %w", err)
	}
	var events int64
	if err := pool.QueryRow(sctx, "SELECT count(*) FROM order_events").Scan(&events); err != nil {
		return err
	}
	b.log.Info("seeded events", "events", events, "took", time.Since(start).Round(time.Millisecond))
	b.notes = append(b.notes, fmt.Sprintf("Grown tables (phase %q): %s orders and %s events (two applied events per seeded order: create, update), seeded in %s with VACUUM ANALYZE; then createOrder at %d in flight as in the create phases.",
		phaseGrown, thousands(rows), thousands(events), time.Since(start).Round(100*time.Millisecond), b.cfg.grownLevel))
	client := newHTTPClient(b.cfg.grownLevel, len(b.st.apiBases))
	defer client.CloseIdleConnections()
	b.measure(ctx, phaseGrown, b.cfg.grownLevel, 0, graphqlCreate(b.st.apiBases, client, b.gen)).rows = rows
	return ctx.Err()
}

// seed inserts seeded orders from to to-1 in chunks, then VACUUM ANALYZE,
// checks both ends can be found and returns the rows in the table.
func (b *bench) seed(ctx context.Context, pool *pgxpool.Pool, from, to int, users []string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	start := time.Now()
	for lo := from; lo < to; lo += seedChunk {
		hi := min(to, lo+seedChunk)
		if _, err := pool.Exec(ctx, seedSQL, lo, hi, len(users)); err != nil {
			return 0, fmt.Errorf("seed orders %d to %d: %w", lo, hi, err)
		}
		if hi < to {
			b.log.Info("seeding", "rows", hi, "of", to)
		}
	}
	seeded := time.Since(start)
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE orders"); err != nil {
		return 0, fmt.Errorf("vacuum analyze orders: %w", err)
	}
	var rows int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&rows); err != nil {
		return 0, err
	}
	// The keys the lookups compute must be the ones SQL made.
	for _, i := range []int{from, to - 1} {
		ext, user := seedKey(i, users)
		var found string
		if err := pool.QueryRow(ctx, "SELECT external_id FROM orders WHERE external_id = $1 AND user_id = $2", ext, user).Scan(&found); err != nil {
			return 0, fmt.Errorf("seeded order %s of user %s not found: %w", ext, user, err)
		}
	}
	b.log.Info("seeded", "from", from, "to", to, "insert", seeded.Round(time.Millisecond), "with vacuum", time.Since(start).Round(time.Millisecond), "rows in table", rows)
	b.notes = append(b.notes, fmt.Sprintf("Lookup table: seeded orders %s to %s in %s (INSERT … SELECT generate_series, %s rows a statement), %s with VACUUM ANALYZE.",
		thousands(int64(from)), thousands(int64(to-1)), seeded.Round(100*time.Millisecond), thousands(seedChunk), time.Since(start).Round(100*time.Millisecond)))
	return rows, nil
}

// profile is a CPU profile the bench fetches during the highest create
// level: of the first API (-cpuprofile-api) or worker (-cpuprofile-worker).
type profile struct {
	of, base, file string
}

// probeProfiles keeps the profiles asked for whose process serves
// /debug/pprof.
func (b *bench) probeProfiles(ctx context.Context) {
	var want []profile
	if b.cfg.cpuProfile != "" {
		want = append(want, profile{of: procAPI, base: b.st.apiBase, file: b.cfg.cpuProfile})
		if len(b.st.apiBases) > 1 {
			b.notes = append(b.notes, fmt.Sprintf("CPU profile (-cpuprofile-api): of the first API instance only (%s), which served 1/%d of the requests.", b.st.apiBase, len(b.st.apiBases)))
		}
	}
	if b.cfg.cpuProfileWorker != "" && len(b.st.workerBases) > 0 {
		want = append(want, profile{of: procWorker, base: b.st.workerBases[0], file: b.cfg.cpuProfileWorker})
	}
	for _, p := range want {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/debug/pprof/", nil)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			b.notes = append(b.notes, fmt.Sprintf("CPU profile of the %s skipped: %v", p.of, err))
			continue
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // draining only
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg := fmt.Sprintf("CPU profile of the %s skipped: it does not expose /debug/pprof (%s)", p.of, resp.Status)
			b.log.Warn(msg)
			b.notes = append(b.notes, msg)
			continue
		}
		b.profiles = append(b.profiles, p)
	}
}

// fetchProfiles fetches the CPU profiles covering the warm-up and window
// of the phase that starts now; the channel closes when all are written.
func (b *bench) fetchProfiles(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	seconds := max(1, int((b.cfg.warmup + b.cfg.duration).Seconds()))
	var wg sync.WaitGroup
	for _, p := range b.profiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetchProfile(ctx, p, seconds); err != nil {
				b.log.Warn("CPU profile", "of", p.of, "err", err)
				return
			}
			b.log.Info("CPU profile written", "of", p.of, "file", p.file)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func fetchProfile(ctx context.Context, p profile, seconds int) error {
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.base, seconds)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := (&http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(p.file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// cpuSample is the CPU used so far by the watched processes and the
// machine, and the WAL written by PostgreSQL.
type cpuSample struct {
	at      time.Time
	procs   map[string]float64
	machine machineCPU
	machOK  bool
	wal     walStats
	walOK   bool
}

// walStats are counters of pg_stat_wal (PostgreSQL 14+), for the whole
// server, and of pg_stat_user_tables for the product's tables. Backends
// report them to the statistics system within about a second, so over a
// window they are approximate.
type walStats struct {
	syncs    int64 // WAL flushes to disk (fdatasync)
	bytes    int64
	seqScans int64 // sequential scans of orders and order_events
	commits  int64 // committed transactions, every database of the server
}

// sampleWAL reads the statistics on a connection kept for it.
func (b *bench) sampleWAL(ctx context.Context) (walStats, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if b.statConn == nil || b.statConn.IsClosed() {
		conn, err := pgx.Connect(ctx, b.st.dbURL)
		if err != nil {
			return walStats{}, false
		}
		b.statConn = conn
	}
	var w walStats
	err := b.statConn.QueryRow(ctx, `SELECT wal_sync, wal_bytes::bigint,
  (SELECT coalesce(sum(seq_scan), 0)::bigint FROM pg_stat_user_tables WHERE relname IN ('orders', 'order_events')),
  (SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database)
FROM pg_stat_wal`).Scan(&w.syncs, &w.bytes, &w.seqScans, &w.commits)
	return w, err == nil
}

// sampleCPU reads the CPU used so far by each kind of process: the sum of
// the processes with that name (several API instances, several workers).
// A kind with a process that cannot be read is left out, rather than
// counted in part.
func sampleCPU(procs []watched) cpuSample {
	s := cpuSample{at: time.Now(), procs: map[string]float64{}}
	unreadable := map[string]bool{}
	for _, p := range procs {
		var v float64
		var ok bool
		if p.tree {
			v, ok = treeCPU(p.pid)
		} else {
			v, ok = processCPU(p.pid)
		}
		if !ok {
			unreadable[p.name] = true
			continue
		}
		s.procs[p.name] += v
	}
	for name := range unreadable {
		delete(s.procs, name)
	}
	s.machine, s.machOK = readMachineCPU()
	return s
}

// cpuDelta is the CPU used during a window, in seconds.
type cpuDelta struct {
	wall    time.Duration
	procs   map[string]float64
	busy    float64 // whole machine, all processes, all CPUs
	iowait  float64
	machine bool

	wal      bool
	walSyncs int64
	walBytes int64
	seqScans int64
	commits  int64
}

func (s cpuSample) sub(before cpuSample) cpuDelta {
	d := cpuDelta{wall: s.at.Sub(before.at), procs: map[string]float64{}}
	for name, v := range s.procs {
		if v0, ok := before.procs[name]; ok {
			d.procs[name] = v - v0
		}
	}
	if s.walOK && before.walOK {
		d.wal = true
		d.walSyncs = s.wal.syncs - before.wal.syncs
		d.walBytes = s.wal.bytes - before.wal.bytes
		d.seqScans = s.wal.seqScans - before.wal.seqScans
		d.commits = s.wal.commits - before.wal.commits
	}
	if s.machOK && before.machOK {
		d.machine = true
		d.busy = ticksToSeconds(s.machine.busy - before.machine.busy)
		d.iowait = ticksToSeconds(s.machine.iowait - before.machine.iowait)
	}
	return d
}

// machineInfo describes where the run happened.
type machineInfo struct {
	nproc     int
	cpuModel  string
	os        string
	kernel    string
	goVersion string
	pg        [][2]string // setting, value
	dataFS    string
}

func collectMachineInfo(ctx context.Context, st *stack) machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), goVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.os = strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, st.dbURL)
	if err != nil {
		return m
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, name := range []string{"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
		"shared_buffers", "max_connections", "data_directory"} {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			continue
		}
		if name == "data_directory" {
			m.dataFS = filesystemOf(v)
			continue
		}
		m.pg = append(m.pg, [2]string{name, v})
	}
	return m
}
