package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseSumsSelfCostsOnly(t *testing.T) {
	f, err := os.Open("testdata/small.callgrind")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	// The call's 500 is the callee's inclusive cost, not mallocgc's own.
	want := map[string]int64{"runtime.mallocgc": 400, "encoding/json.Unmarshal": 300,
		"github.com/IBM/sarama.(*Broker).Fetch": 200, "runtime.(*mspan).writeHeapBitsSmall": 100}
	if len(d.self) != len(want) {
		t.Errorf("got %v; want %v", d.self, want)
	}
	for fn, v := range want {
		if d.self[fn] != v {
			t.Errorf("%s: got %d; want %d", fn, d.self[fn], v)
		}
	}
	if d.totals != 1000 || d.cmd != "bin/orderstream" {
		t.Errorf("got totals %d of %q; want 1000 of bin/orderstream", d.totals, d.cmd)
	}
	got := table(d, packageOf, 2)
	for _, row := range []string{"| runtime | 500 | 50.0 % |", "| encoding/json | 300 | 30.0 % |", "| (the other 1) | 200 | 20.0 % |"} {
		if !strings.Contains(got, row) {
			t.Errorf("table lacks %q:\n%s", row, got)
		}
	}
}

func TestPackageOf(t *testing.T) {
	for fn, want := range map[string]string{
		"github.com/IBM/sarama.(*Broker).Fetch":                  "github.com/IBM/sarama",
		"runtime.mallocgc":                                       "runtime",
		"internal/runtime/maps.(*Map).getWithoutKeySmallFastStr": "internal/runtime/maps",
		"github.com/jackc/pgx/v5/pgtype.(*Map).Scan":             "github.com/jackc/pgx/v5/pgtype",
		"aeshashbody": "(other: aeshashbody)",
	} {
		if got := packageOf(fn); got != want {
			t.Errorf("packageOf(%q) = %q; want %q", fn, got, want)
		}
	}
}
