package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// report renders the run as markdown. runErr, when set, marks the report
// incomplete.
func (b *bench) report(runErr error) string {
	b.computeRatios()
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }

	p("# OrderStream benchmark\n\n")
	if runErr != nil {
		p("**INCOMPLETE: %v.** The phases below ran; the others did not.\n\n", runErr)
	}
	if err := b.failedPhases(); err != nil {
		p("**FAILED: %v.** A phase with no successful operation is a broken set-up or baseline, not a measurement.\n\n", err)
	}
	p("Run: %s, %s in all.  \n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), b.wall.Round(time.Second))
	p("Command: `%s`\n\n", commandLine(b.cfg.args))
	m := b.info
	p("Machine: %d CPUs (%s), %s, Linux %s, %s.  \n", m.nproc, orUnknown(m.cpuModel), orUnknown(m.os), orUnknown(m.kernel), m.goVersion)
	if len(m.pg) > 0 {
		var parts []string
		for _, kv := range m.pg {
			if kv[0] == "server_version" {
				continue
			}
			parts = append(parts, kv[0]+"="+kv[1])
		}
		fs := ""
		if m.dataFS != "" {
			fs = "; data on " + m.dataFS
		}
		p("PostgreSQL %s: %s%s.  \n", pgSetting(m.pg, "server_version"), strings.Join(parts, ", "), fs)
	}
	p("Load: closed loop from this process over HTTP/1.1 keep-alive; *level* = requests in flight (each client sends its next request when the previous one is answered); %s warm-up, then a %s window per phase. Latency is measured at the client, per request.\n\n",
		b.cfg.warmup, b.cfg.duration)
	if n, m := b.procCount(procAPI), b.procCount(procWorker); n > 1 || m > 1 {
		p("Processes: **%d API instance(s), %d worker(s)** (requests round-robin over the API instances; the workers in one consumer group); the CPU columns sum each kind.\n\n", n, m)
	}

	p("| phase | level | ops/s | p50 | p95 | p99 | errors | vs floor | vs seed design |\n")
	p("|---|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, r := range b.results {
		name := b.phaseName(r)
		if r.res.interrupted {
			name += " (interrupted)"
		} else if r.res.capped {
			name += " (stopped at -max-ops)"
		}
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", name, r.level, fmtRate(r.res.opsPerSec()),
			fmtDur(percentile(r.res.lat, 50)), fmtDur(percentile(r.res.lat, 95)), fmtDur(percentile(r.res.lat, 99)),
			fmtErrors(r.res.errors), fmtRatio(r.ratio, r.baseline), fmtDesignRatio(r))
	}
	p("\n")
	b.reportSummary(&w)
	b.reportCPU(&w)
	b.reportInstructions(&w)

	if len(b.rss) > 0 {
		var parts []string
		for _, name := range procOrder {
			if v, ok := b.rss[name]; ok && len(v) > 0 {
				parts = append(parts, fmtRSS(name, v))
			}
		}
		p("Peak RSS (VmHWM at the end of the run): %s.\n\n", strings.Join(parts, ", "))
	}

	p("Set-up:\n\n")
	for _, n := range append(slices.Clone(b.st.notes), b.notes...) {
		p("- %s\n", n)
	}
	if b.cfg.phases.has(selFloor) {
		p("- Floor: the same per-order database work without the API, Kafka or the worker: INSERT the order, UPDATE it to PROCESSING, UPDATE it to DONE, each statement its own transaction (three WAL flushes per order, like the product's create transaction, PROCESSING update and apply transaction), with pgx and a pool of exactly *level* connections, in database %s on the same server (same WAL and disk), created with the product's migrations.\n", floorDatabase)
	}
	p("- Created orders: a unique externalId per request, users from a pool of %d UUIDs, 1–3 items with decimal string prices. Lookup tables: orders over %s users, keys drawn uniformly from all rows, every lookup a hit; the small table is measured alone (same API process, pool, query and concurrency), then the rest is seeded for the big one; each GraphQL lookup run is followed by the pgx select (the API's query, every column) on the same table: its baseline.\n",
		userPoolSize, thousands(seedUsers))
	p("- Errors are counted by code (GraphQL extensions.code, REST error.code, HTTP_<status>, TRANSPORT, NOT_DONE) and left out of ops/s and the percentiles.\n")
	return w.String()
}

// phaseName names a result in the tables: its phase, the rows of its
// table (lookups) and its round when the run has several.
func (b *bench) phaseName(r *phaseResult) string {
	name := r.phase
	if r.rows > 0 {
		name += ", " + thousands(r.rows) + " rows"
	}
	if b.cfg.rounds > 1 && r.round > 0 {
		name += fmt.Sprintf(" (round %d)", r.round)
	}
	return name
}

// levelRound keys the results of the create rounds. Round 0 stands for
// the latest result at the level, the baseline of the phases outside the
// rounds (grown): the one measured closest in time to it.
type levelRound struct{ level, round int }

// roundsByLevel returns the results of phase by level (its rounds, in
// order) and the levels in the order they were first measured.
func (b *bench) roundsByLevel(phase string) (map[int][]*phaseResult, []int) {
	byLevel := map[int][]*phaseResult{}
	var levels []int
	for _, r := range b.results {
		if r.phase != phase {
			continue
		}
		if _, ok := byLevel[r.level]; !ok {
			levels = append(levels, r.level)
		}
		byLevel[r.level] = append(byLevel[r.level], r)
	}
	return byLevel, levels
}

// rowsRound keys the lookup rounds: the rows of the table and the round.
type rowsRound struct {
	rows  int64
	round int
}

// computeRatios sets each phase's ratio to its baseline measured in the
// same run: a create phase's to the floor and the seed design of its own
// round at its level (designRun, floorRun), a grown phase's to the median
// of the createOrder rounds at its level.
func (b *bench) computeRatios() {
	floor := map[levelRound]*phaseResult{}
	design := map[levelRound]*phaseResult{}
	creates, _ := b.roundsByLevel(phaseGraphQLCreate)
	pointSelect := map[rowsRound]*phaseResult{}
	for _, r := range b.results {
		switch r.phase {
		case phaseFloor:
			floor[levelRound{r.level, r.round}], floor[levelRound{r.level, 0}] = r, r
		case phaseSeed:
			design[levelRound{r.level, r.round}], design[levelRound{r.level, 0}] = r, r
		case phasePointSelect:
			pointSelect[rowsRound{r.rows, r.round}] = r
		}
	}
	for _, r := range b.results {
		key := levelRound{r.level, r.round}
		var base *phaseResult
		switch r.phase {
		case phaseGraphQLCreate, phaseREST, phaseSeed:
			r.floorRun = floor[key]
			base = r.floorRun
			r.baseline = "floor"
		case phaseLookup:
			base = pointSelect[rowsRound{r.rows, r.round}]
			r.baseline = "pgx select"
		case phaseGrown:
			// The median of the rounds: one slow round of the small
			// tables must not make the grown ones look fast.
			if m := medianOf(creates[r.level], rateOf); m > 0 {
				r.ratio = r.res.opsPerSec() / m
			}
			r.baseline = "small tables"
		case phaseFloor, phasePointSelect, phasePostGraphile:
			r.baseline = "(baseline)"
		}
		if base != nil && base.res.opsPerSec() > 0 {
			r.ratio = r.res.opsPerSec() / base.res.opsPerSec()
		}
		if d := design[key]; d != nil && d.res.opsPerSec() > 0 && (r.phase == phaseGraphQLCreate || r.phase == phaseREST) {
			r.designRun = d
			r.vsDesign = r.res.opsPerSec() / d.res.opsPerSec()
		}
	}
}

// fmtDesignRatio is the *vs seed design* cell of a phase.
func fmtDesignRatio(r *phaseResult) string {
	switch {
	case r.vsDesign > 0:
		return fmt.Sprintf("%.2f×", r.vsDesign)
	case r.phase == phaseSeed:
		return "baseline"
	default:
		return "–"
	}
}

// reportSummary writes the comparisons in words.
func (b *bench) reportSummary(w *strings.Builder) {
	b.reportDesignSummary(w)
	b.reportGrownSummary(w)
	b.reportLookupSummary(w)
}

// reportLookupSummary compares the lookups with PostGraphile on each table
// (every round and the median) and the small table with the big one.
func (b *bench) reportLookupSummary(w *strings.Builder) {
	var tables []int64
	lookups := map[int64][]*phaseResult{}
	selects := map[int64][]*phaseResult{}
	postGraphile := map[rowsRound]*phaseResult{}
	for _, r := range b.results {
		switch r.phase {
		case phaseLookup:
			if !slices.Contains(tables, r.rows) {
				tables = append(tables, r.rows)
			}
			lookups[r.rows] = append(lookups[r.rows], r)
		case phasePointSelect:
			selects[r.rows] = append(selects[r.rows], r)
		case phasePostGraphile:
			postGraphile[rowsRound{r.rows, r.round}] = r
		}
	}
	var vsPG []string
	for _, rows := range tables {
		var ratios []float64
		var ours, theirs []*phaseResult
		for _, l := range lookups[rows] {
			p := postGraphile[rowsRound{rows, l.round}]
			if p == nil || p.res.opsPerSec() == 0 {
				continue
			}
			ratios = append(ratios, l.res.opsPerSec()/p.res.opsPerSec())
			ours, theirs = append(ours, l), append(theirs, p)
		}
		if len(ratios) > 0 {
			vsPG = append(vsPG, fmt.Sprintf("%s rows %s (%s against %s ops/s; p99 %s against %s)", thousands(rows),
				fmtMedian(ratios, "%.2f×"), fmtRate(medianOf(ours, rateOf)), fmtRate(medianOf(theirs, rateOf)),
				fmtDur(time.Duration(medianOf(ours, p99Of))), fmtDur(time.Duration(medianOf(theirs, p99Of)))))
		}
	}
	if len(vsPG) > 0 {
		rounds := ""
		if b.cfg.rounds > 1 {
			rounds = fmt.Sprintf(", in %d rounds (the median, then each round)", b.cfg.rounds)
		}
		fmt.Fprintf(w, "OrderStream's orderByExternalId against PostGraphile on the same table, %d in flight%s: %s.\n\n", b.cfg.lookupLevel, rounds, strings.Join(vsPG, "; "))
	}
	if len(tables) != 2 {
		return
	}
	s, l := lookups[tables[0]], lookups[tables[1]]
	if medianOf(s, rateOf) == 0 {
		return
	}
	medians := ""
	if b.cfg.rounds > 1 {
		medians = fmt.Sprintf(", medians of %d rounds", b.cfg.rounds)
	}
	p50Of := func(r *phaseResult) float64 { return float64(percentile(r.res.lat, 50)) }
	fmt.Fprintf(w, "Lookup cost vs table size (GraphQL, %d in flight%s): %s rows %s ops/s, p50 %s, p99 %s; %s rows %s ops/s, p50 %s, p99 %s: big/small throughput %.2f×",
		b.cfg.lookupLevel, medians,
		thousands(tables[0]), fmtRate(medianOf(s, rateOf)), fmtDur(time.Duration(medianOf(s, p50Of))), fmtDur(time.Duration(medianOf(s, p99Of))),
		thousands(tables[1]), fmtRate(medianOf(l, rateOf)), fmtDur(time.Duration(medianOf(l, p50Of))), fmtDur(time.Duration(medianOf(l, p99Of))),
		medianOf(l, rateOf)/medianOf(s, rateOf))
	ratioOf := func(r *phaseResult) float64 { return r.ratio }
	if sr, lr := medianOf(s, ratioOf), medianOf(l, ratioOf); sr > 0 && lr > 0 {
		fmt.Fprintf(w, "; against the pgx select on the same table, measured right after each (robust to a machine that got busier in between): %.2f× on the small table, %.2f× on the big one", sr, lr)
	}
	if ss, ls := medianOf(selects[tables[0]], rateOf), medianOf(selects[tables[1]], rateOf); ss > 0 && ls > 0 {
		fmt.Fprintf(w, "; the pgx select alone: big/small %.2f×", ls/ss)
	}
	fmt.Fprintf(w, ".\n\n")
}

// reportGrownSummary compares createOrder on the grown tables with
// createOrder at the same level on the small ones.
func (b *bench) reportGrownSummary(w *strings.Builder) {
	creates, _ := b.roundsByLevel(phaseGraphQLCreate)
	for _, r := range b.results {
		if r.phase != phaseGrown {
			continue
		}
		fmt.Fprintf(w, "Writes vs table size: createOrder at %d in flight on %s orders: %s ops/s, p99 %s", r.level, thousands(r.rows),
			fmtRate(r.res.opsPerSec()), fmtDur(percentile(r.res.lat, 99)))
		if small := creates[r.level]; len(small) > 0 && r.ratio > 0 {
			of := ""
			if len(small) > 1 {
				of = fmt.Sprintf(" (the medians of %d rounds)", len(small))
			}
			fmt.Fprintf(w, ", against %s ops/s, p99 %s on the small tables%s: %.2f× the throughput", fmtRate(medianOf(small, rateOf)),
				fmtDur(time.Duration(medianOf(small, p99Of))), of, r.ratio)
		}
		fmt.Fprintf(w, " (sequential scans: the CPU table's seq scans/op).\n\n")
	}
}

// reportDesignSummary compares OrderStream's create phases with the seed
// design: a table of GraphQL createOrder per level (every round and the
// median: throughput ratio, p50 ratio, p99, CPU per order of all
// processes against the seed design's, PostgreSQL's against the floor's),
// then a sentence for the REST phase.
func (b *bench) reportDesignSummary(w *strings.Builder) {
	byLevel, levels := b.roundsByLevel(phaseGraphQLCreate)
	var rows []string
	for _, level := range levels {
		var thr, p50, p99, cpu, pg []float64
		for _, r := range byLevel[level] {
			d := r.designRun
			if d == nil || r.vsDesign == 0 {
				continue
			}
			thr = append(thr, r.vsDesign)
			if dp := percentile(d.res.lat, 50); dp > 0 {
				p50 = append(p50, float64(percentile(r.res.lat, 50))/float64(dp))
			}
			p99 = append(p99, float64(percentile(r.res.lat, 99))/1e6)
			if ours, seed := cpuPerOp(r, ""), cpuPerOp(d, ""); ours > 0 && seed > 0 {
				cpu = append(cpu, ours/seed)
			}
			if f := r.floorRun; f != nil {
				if ours, fl := cpuPerOp(r, procPostgres), cpuPerOp(f, procPostgres); ours > 0 && fl > 0 {
					pg = append(pg, ours/fl)
				}
			}
		}
		if len(thr) == 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %s | %s | %s |", level,
			fmtMedian(thr, "%.2f×"), fmtMedian(p50, "%.2f×"), fmtMedian(p99, "%.1f ms"), fmtMedian(cpu, "%.2f×"), fmtMedian(pg, "%.2f×")))
	}
	if len(rows) > 0 {
		fmt.Fprintf(w, "GraphQL createOrder against the seed design written plainly and the DB floor, measured back to back at each level on the same PostgreSQL and broker")
		if b.cfg.rounds > 1 {
			fmt.Fprintf(w, ", in %d rounds: each cell gives the median, then every round in order", b.cfg.rounds)
		}
		fmt.Fprintf(w, ". CPU per order counts every process (the load generator too, as in the CPU table below):\n\n")
		fmt.Fprintf(w, "| level | throughput, × the seed design's | p50, × the seed design's | p99 | CPU per order, × the seed design's | PostgreSQL CPU per order, × the floor's |\n")
		fmt.Fprintf(w, "|---:|---|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
	}

	// REST POST /orders, in the rounds of its level, against the seed
	// design of each round (computeRatios).
	rest, restLevels := b.roundsByLevel(phaseREST)
	for _, level := range restLevels {
		var ratios, p99s, designP99s []float64
		for _, r := range rest[level] {
			if d := r.designRun; d != nil {
				ratios = append(ratios, r.vsDesign)
				p99s, designP99s = append(p99s, p99Of(r)), append(designP99s, p99Of(d))
			}
		}
		if len(ratios) == 0 {
			continue
		}
		fmt.Fprintf(w, "REST POST /orders at %d in flight against the seed design of the same round: %s its throughput, p99 %s against %s (medians",
			level, fmtMedian(ratios, "%.2f×"), fmtDur(time.Duration(median(p99s))), fmtDur(time.Duration(median(designP99s))))
		if len(ratios) > 1 {
			fmt.Fprintf(w, " of %d rounds", len(ratios))
		}
		fmt.Fprintf(w, ").\n\n")
	}
}

// cpuPerOp is the CPU seconds per operation of a phase, of the process
// kind proc, or of all processes for "": 0 when not measured.
func cpuPerOp(r *phaseResult, proc string) float64 {
	if r.cpu == nil || r.res.ok == 0 {
		return 0
	}
	var sum float64
	for name, v := range r.cpu.procs {
		if proc == "" || name == proc {
			sum += v
		}
	}
	return sum / float64(r.res.ok)
}

// median is the median of vs (the mean of the middle two for an even
// count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianOf is the median of f over rs; 0 for none.
func medianOf(rs []*phaseResult, f func(*phaseResult) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	return median(vs)
}

// rateOf and p99Of are a result's throughput and p99 (ns), for medianOf.
func rateOf(r *phaseResult) float64 { return r.res.opsPerSec() }
func p99Of(r *phaseResult) float64  { return float64(percentile(r.res.lat, 99)) }

// fmtMedian writes the median of vs in format, then, for more than one,
// every value in order: "1.96× (1.61×, 2.13×, 1.96×)"; "–" for none.
func fmtMedian(vs []float64, format string) string {
	if len(vs) == 0 {
		return "–"
	}
	out := fmt.Sprintf(format, median(vs))
	if len(vs) > 1 {
		each := make([]string, len(vs))
		for i, v := range vs {
			each[i] = fmt.Sprintf(format, v)
		}
		out = "**" + out + "** (" + strings.Join(each, ", ") + ")"
	}
	return out
}

// reportCPU writes the CPU table.
func (b *bench) reportCPU(w *strings.Builder) {
	present := map[string]bool{}
	any := false
	for _, r := range b.results {
		if r.cpu != nil {
			any = true
			for name := range r.cpu.procs {
				present[name] = true
			}
		}
	}
	if !any {
		return
	}
	var cols []string
	for _, name := range procOrder {
		if present[name] {
			cols = append(cols, name)
		}
	}
	fmt.Fprintf(w, "CPU seconds used in each window by each process (%d CPUs: a %s window offers %.0f CPU seconds). *ours* sums them, also per operation; *machine busy* counts every process on the machine (/proc/stat), so busy beyond *ours* is other load. WAL: flushes to disk and bytes per operation from pg_stat_wal, and commits: committed transactions per operation from pg_stat_database, both for the whole server (so they also count background transactions such as the recovery loop's polls); seq scans: sequential scans of the product's orders and order_events tables per operation (none expected: every product query is a key lookup); all approximate (backends report within about a second):\n\n",
		b.info.nproc, b.cfg.duration, b.cfg.duration.Seconds()*float64(b.info.nproc))
	labels := make([]string, len(cols))
	for i, c := range cols {
		labels[i] = procLabel(c, b.procCount(c))
	}
	fmt.Fprintf(w, "| phase | level | %s | ours | CPU ms/op | machine busy | iowait | WAL flushes/op | WAL kB/op | commits/op | seq scans/op |\n", strings.Join(labels, " | "))
	fmt.Fprintf(w, "|---|---:|%s---:|---:|---:|---:|---:|---:|---:|---:|\n", strings.Repeat("---:|", len(cols)))
	for _, r := range b.results {
		if r.cpu == nil {
			continue
		}
		name := b.phaseName(r)
		var cells []string
		var ours float64
		for _, c := range cols {
			v, ok := r.cpu.procs[c]
			if !ok {
				cells = append(cells, "n/a")
				continue
			}
			ours += v
			cells = append(cells, fmt.Sprintf("%.2f", v))
		}
		perOp := "–"
		if r.res.ok > 0 {
			perOp = fmt.Sprintf("%.2f", cpuPerOp(r, "")*1000)
		}
		busy, iowait := "n/a", "n/a"
		if r.cpu.machine && r.cpu.wall > 0 {
			capacity := r.cpu.wall.Seconds() * float64(b.info.nproc)
			busy = fmt.Sprintf("%.0f %%", 100*r.cpu.busy/capacity)
			iowait = fmt.Sprintf("%.0f %%", 100*r.cpu.iowait/capacity)
		}
		walSyncs, walKB, commits, scans := "n/a", "n/a", "n/a", "n/a"
		if r.cpu.wal && r.res.ok > 0 {
			walSyncs = fmt.Sprintf("%.2f", float64(r.cpu.walSyncs)/float64(r.res.ok))
			commits = fmt.Sprintf("%.2f", float64(r.cpu.commits)/float64(r.res.ok))
			walKB = fmt.Sprintf("%.1f", float64(r.cpu.walBytes)/float64(r.res.ok)/1024)
			scans = fmt.Sprintf("%.2f", float64(r.cpu.seqScans)/float64(r.res.ok))
			if r.phase == phaseFloor {
				scans = "–" // the floor's tables are in another database
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.2f | %s | %s | %s | %s | %s | %s | %s |\n", name, r.level, strings.Join(cells, " | "), ours, perOp, busy, iowait, walSyncs, walKB, commits, scans)
	}
	fmt.Fprintf(w, "\n")
}

// procCount is how many watched processes have this name.
func (b *bench) procCount(name string) int {
	n := 0
	for _, p := range b.st.procs {
		if p.name == name {
			n++
		}
	}
	return n
}

// procLabel is the CPU column of a kind of process: its name, with the
// count when the column sums several ("API ×2").
func procLabel(name string, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s ×%d", name, n)
	}
	return name
}

// fmtRSS writes the peak RSS of the processes of a kind: "API 46 MiB", or
// "API 46 / 45 MiB" for two instances.
func fmtRSS(name string, v []int64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", float64(x)/(1<<20))
	}
	return fmt.Sprintf("%s %s MiB", name, strings.Join(parts, " / "))
}

// fmtDur writes a latency in milliseconds with three significant digits.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

// fmtRate writes operations per second with about three significant
// digits.
func fmtRate(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r < 10:
		return fmt.Sprintf("%.2f", r)
	case r < 100:
		return fmt.Sprintf("%.1f", r)
	default:
		return thousands(int64(r + 0.5))
	}
}

func fmtRatio(ratio float64, baseline string) string {
	switch {
	case ratio > 0:
		return fmt.Sprintf("%.2f× %s", ratio, baseline)
	case baseline == "(baseline)":
		return "baseline"
	default:
		return "–"
	}
}

// fmtErrors writes "0" or the total with the codes, most frequent first:
// "5 (ACK_TIMEOUT 3, TRANSPORT 2)".
func fmtErrors(errs map[string]int) string {
	total := 0
	for _, n := range errs {
		total += n
	}
	if total == 0 {
		return "0"
	}
	codes := slices.Collect(maps.Keys(errs))
	slices.SortFunc(codes, func(a, b string) int {
		if errs[a] != errs[b] {
			return errs[b] - errs[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = c + " " + strconv.Itoa(errs[c])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// thousands writes n with comma separators: 1000000 → "1,000,000".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// commandLine is how this run was started, as a shell would take it.
func commandLine(args []string) string {
	prog := os.Args[0]
	if strings.Contains(prog, "go-build") {
		prog = "go run ./cmd/bench"
	}
	parts := []string{prog}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	line := strings.Join(parts, " ")
	var env []string
	for _, k := range []string{"DATABASE_URL", "KAFKA_BROKERS"} {
		if os.Getenv(k) != "" {
			env = append(env, k+"=…")
		}
	}
	if len(env) > 0 {
		line = strings.Join(env, " ") + " " + line
	}
	return line
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./,:=@%+", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func pgSetting(kvs [][2]string, name string) string {
	for _, kv := range kvs {
		if kv[0] == name {
			return kv[1]
		}
	}
	return "?"
}

// filesystemOf names the file system type of path, with the path, or ""
// when path is not visible here.
func filesystemOf(path string) string {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return ""
	}
	names := map[int64]string{
		0xEF53: "ext4", 0x01021994: "tmpfs (no real fsync!)", 0x58465342: "xfs", 0x9123683E: "btrfs",
		0x794C7630: "overlayfs", 0x2FC12FC1: "zfs", 0x6969: "nfs",
	}
	name, ok := names[int64(s.Type)]
	if !ok {
		name = fmt.Sprintf("file system type %#x", s.Type)
	}
	return fmt.Sprintf("%s (%s)", name, filepath.Clean(path))
}
