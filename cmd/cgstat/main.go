// Command cgstat sums the self cost of a callgrind dump (bin/bench
// -callgrind writes them) by Go package or by function, and prints a
// markdown table: where the instructions of a process go.
//
//	go run ./cmd/cgstat [-by package|function] [-top N] DUMP
//
// Only self costs are summed: the inclusive costs of Go programs under
// callgrind are unreliable, because goroutines switch stacks under it.
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	by := flag.String("by", "package", "group the self costs by package or by function")
	top := flag.Int("top", 25, "rows to print; the rest are summed in one")
	flag.Parse()
	if flag.NArg() != 1 || (*by != "package" && *by != "function") {
		fmt.Fprintln(os.Stderr, "usage: cgstat [-by package|function] [-top N] DUMP")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	d, err := parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	key := func(fn string) string { return fn }
	if *by == "package" {
		key = packageOf
	}
	fmt.Print(table(d, key, *top))
}

// dump is the self cost of each function of a callgrind dump (event Ir).
type dump struct {
	cmd    string
	totals int64
	self   map[string]int64
}

// parse reads a callgrind dump of one event. Cost lines belong to the
// current fn=, except the line after calls=, which is the inclusive cost
// of that call.
func parse(r io.Reader) (dump, error) {
	d := dump{self: map[string]int64{}}
	names := map[string]string{} // "(id)" -> function name
	fn := ""
	skip := false
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for s.Scan() {
		line := s.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "fn="):
			fn = name(names, line[3:])
		case strings.HasPrefix(line, "cfn="):
			name(names, line[4:]) // defines the id
		case strings.HasPrefix(line, "calls="):
			skip = true
		case strings.HasPrefix(line, "cmd:"):
			d.cmd = strings.TrimSpace(line[4:])
		case strings.HasPrefix(line, "totals:") || strings.HasPrefix(line, "summary:"):
			v, err := strconv.ParseInt(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), 10, 64)
			if err != nil {
				return d, fmt.Errorf("%q: %w", line, err)
			}
			d.totals = v
		case strings.ContainsRune("0123456789+-*", rune(line[0])):
			if skip {
				skip = false
				continue
			}
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			v, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
			if err != nil {
				return d, fmt.Errorf("cost line %q: %w", line, err)
			}
			d.self[fn] += v
		}
	}
	if err := s.Err(); err != nil {
		return d, err
	}
	if len(d.self) == 0 {
		return d, errors.New("no costs: not a callgrind dump?")
	}
	return d, nil
}

// name resolves a compressed name: "(12) name" defines id 12, "(12)" uses it.
func name(names map[string]string, v string) string {
	if !strings.HasPrefix(v, "(") {
		return v
	}
	end := strings.IndexByte(v, ')')
	if end < 0 {
		return v
	}
	id, rest := v[:end+1], strings.TrimSpace(v[end+1:])
	if rest != "" {
		names[id] = rest
		return rest
	}
	return names[id]
}

// packageOf is the Go package of a function symbol
// ("github.com/IBM/sarama.(*Broker).Fetch" is github.com/IBM/sarama), or
// the symbol's library for C code.
func packageOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return "(other: " + fn + ")"
	}
	return fn[:slash+1+dot]
}

// table renders the top groups by self cost, with their share of the total.
func table(d dump, key func(string) string, top int) string {
	sums := map[string]int64{}
	var all int64
	for fn, v := range d.self {
		sums[key(fn)] += v
		all += v
	}
	type row struct {
		k string
		v int64
	}
	var rows []row
	for k, v := range sums {
		rows = append(rows, row{k, v})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.k, b.k)) })
	total := d.totals
	if total == 0 {
		total = all
	}
	var w strings.Builder
	fmt.Fprintf(&w, "Self cost of %s: %d instructions.\n\n| self cost of | instructions | share |\n|---|---:|---:|\n", orUnknown(d.cmd), total)
	var rest int64
	for i, r := range rows {
		if i >= top {
			rest += r.v
			continue
		}
		fmt.Fprintf(&w, "| %s | %d | %.1f %% |\n", r.k, r.v, 100*float64(r.v)/float64(total))
	}
	if rest > 0 {
		fmt.Fprintf(&w, "| (the other %d) | %d | %.1f %% |\n", len(rows)-top, rest, 100*float64(rest)/float64(total))
	}
	return w.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown command)"
	}
	return s
}
