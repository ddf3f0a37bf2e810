package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// chartResults are a fixed run: three levels of each charted phase, and a
// phase the chart does not draw.
func chartResults() []*phaseResult {
	var rs []*phaseResult
	for _, l := range []struct {
		level int
		ok    [3]int
	}{{1, [3]int{40, 90, 160}}, {16, [3]int{160, 330, 480}}, {64, [3]int{700, 420, 900}}} {
		for i, phase := range []string{phaseGraphQLCreate, phaseSeed, phaseFloor} {
			lat := make([]time.Duration, l.ok[i])
			for j := range lat {
				lat[j] = time.Duration(j+1) * 100 * time.Microsecond
			}
			rs = append(rs, &phaseResult{phase: phase, level: l.level, res: loadResult{window: time.Second, ok: l.ok[i], lat: lat}})
		}
	}
	return append(rs, &phaseResult{phase: phaseLookup, level: 16, res: loadResult{window: time.Second, ok: 5, lat: ms(1, 2, 3, 4, 5)}})
}

// checkSVG fails unless b is a well-formed XML document whose root is an
// svg element, and returns its text.
func checkSVG(t *testing.T, b []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return text.String()
}

func TestRenderChart(t *testing.T) {
	var buf bytes.Buffer
	if err := renderChart(&buf, chartResults(), "smoke run"); err != nil {
		t.Fatal(err)
	}
	text := checkSVG(t, buf.Bytes())
	for _, want := range []string{"OrderStream (GraphQL createOrder)", "seed design (POST /orders)", "DB floor (3 commits)",
		"orders/s", "p99 (ms)", "16", "64", "smoke run"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chart's text lacks %q", want)
		}
	}
	if strings.Contains(text, "orderByExternalId") {
		t.Error("the chart draws a lookup phase")
	}
}

func TestRenderChartOneLevel(t *testing.T) {
	var buf bytes.Buffer
	rs := []*phaseResult{{phase: phaseSeed, level: 4, res: loadResult{window: time.Second, ok: 3, lat: ms(1, 2, 3)}}}
	if err := renderChart(&buf, rs, ""); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, buf.Bytes())
}

func TestRenderChartNothingToDraw(t *testing.T) {
	rs := []*phaseResult{
		{phase: phaseLookup, level: 16, res: loadResult{window: time.Second, ok: 5, lat: ms(1, 2, 3, 4, 5)}},
		{phase: phaseGraphQLCreate, level: 1, res: loadResult{window: time.Second, interrupted: true}},
	}
	if err := renderChart(io.Discard, rs, ""); !errors.Is(err, errNoChartData) {
		t.Errorf("got %v, want errNoChartData", err)
	}
}

func TestWriteChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.svg")
	if err := writeChart(path, chartResults(), ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b)
}

func TestChartPointsTakeTheMedianOfRounds(t *testing.T) {
	ms := time.Millisecond
	res := func(phase string, level, round, ok int, p99 time.Duration) *phaseResult {
		return &phaseResult{phase: phase, level: level, round: round,
			res: loadResult{window: time.Second, ok: ok, lat: []time.Duration{p99}}}
	}
	series, levels := chartPoints([]*phaseResult{
		res(phaseGraphQLCreate, 64, 1, 1000, 90*ms),
		res(phaseSeed, 64, 1, 500, 200*ms),
		res(phaseGraphQLCreate, 64, 2, 3000, 30*ms),
		res(phaseGraphQLCreate, 64, 3, 2000, 60*ms),
		res(phaseGraphQLCreate, 1, 1, 400, 3*ms),
		res(phaseREST, 64, 0, 9999, ms), // not a series
	})
	if !slices.Equal(levels, []int{1, 64}) {
		t.Errorf("levels %v, want [1 64]", levels)
	}
	create := slices.IndexFunc(chartSeries, func(s chartLine) bool { return s.phase == phaseGraphQLCreate })
	seed := slices.IndexFunc(chartSeries, func(s chartLine) bool { return s.phase == phaseSeed })
	if want := []chartPoint{{1, 400, 3}, {64, 2000, 60}}; !slices.Equal(series[create], want) {
		t.Errorf("createOrder: %v, want %v (the medians of its three rounds at 64)", series[create], want)
	}
	if want := []chartPoint{{64, 500, 200}}; !slices.Equal(series[seed], want) {
		t.Errorf("seed design: %v, want %v", series[seed], want)
	}
}
