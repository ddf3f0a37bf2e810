package main

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chartLine is a phase the chart draws.
type chartLine struct {
	phase  string
	legend string
	color  color.RGBA
}

// chartSeries are the phases the chart draws, in legend order.
var chartSeries = []chartLine{
	{phaseGraphQLCreate, "OrderStream (GraphQL createOrder)", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
	{phaseSeed, "seed design (POST /orders)", color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}},
	{phaseFloor, "DB floor (3 commits)", color.RGBA{R: 0x59, G: 0x59, B: 0x59, A: 0xff}},
}

// errNoChartData says that no phase of the chart was measured.
var errNoChartData = errors.New("no createOrder, seed design or floor phase to chart")

// chart writes the chart of the run to -chart, when asked, and says so in
// the report's notes. A run without a phase to chart gets none.
func (b *bench) chart() error {
	if b.cfg.chart == "" {
		return nil
	}
	title := fmt.Sprintf("OrderStream bench %s: broker %s, %s windows, %d CPUs", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		b.st.brokerName, b.cfg.duration, b.info.nproc)
	err := writeChart(b.cfg.chart, b.results, title)
	switch {
	case errors.Is(err, errNoChartData):
		b.log.Info("no chart", "reason", err)
		return nil
	case err != nil:
		b.notes = append(b.notes, "Chart: NOT written: "+err.Error())
		return err
	}
	b.log.Info("chart written", "file", b.cfg.chart)
	b.notes = append(b.notes, fmt.Sprintf("Chart (SVG): %s: throughput and p99 per level of GraphQL createOrder, the seed design and the DB floor.", b.cfg.chart))
	return nil
}

// writeChart writes the chart of results to path as SVG.
func writeChart(path string, results []*phaseResult, title string) error {
	var buf bytes.Buffer
	if err := renderChart(&buf, results, title); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// renderChart draws two panels side by side, throughput (orders/s) and p99
// latency (ms) per level, for createOrder, the seed design and the floor,
// with levels on a log scale; a phase measured in several rounds at a level
// is drawn at the median of its rounds' throughputs and of their p99s.
// Phases that were interrupted, or had no successful operation, are left
// out.
func renderChart(w io.Writer, results []*phaseResult, title string) error {
	series, levels := chartPoints(results)
	if len(levels) == 0 {
		return errNoChartData
	}

	rate, p99 := plot.New(), plot.New()
	rate.Title.Text = "Throughput (orders/s, higher is better)"
	rate.Y.Label.Text = "orders/s"
	rate.Y.Min = 0
	p99.Title.Text = "p99 latency (ms, lower is better)"
	p99.Y.Label.Text = "p99 (ms)"
	p99.Y.Min = 0
	for _, p := range []*plot.Plot{rate, p99} {
		p.X.Label.Text = "requests in flight (log scale)"
		p.X.Scale = plot.LogScale{}
		ticks := make([]plot.Tick, len(levels))
		for i, l := range levels {
			ticks[i] = plot.Tick{Value: float64(l), Label: strconv.Itoa(l)}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		// A margin on both sides, also for a single level (a log axis
		// needs Min < Max).
		p.X.Min, p.X.Max = float64(levels[0])/1.5, float64(levels[len(levels)-1])*1.5
		p.Y.Tick.Marker = plainTicks{}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
	}
	for i, pts := range series {
		if len(pts) == 0 {
			continue
		}
		rxy, lxy := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
		for j, pt := range pts {
			rxy[j] = plotter.XY{X: float64(pt.level), Y: pt.rate}
			lxy[j] = plotter.XY{X: float64(pt.level), Y: pt.p99}
		}
		for _, d := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{rate, rxy}, {p99, lxy}} {
			line, dots, err := plotter.NewLinePoints(d.xys)
			if err != nil {
				return fmt.Errorf("chart %s: %w", chartSeries[i].legend, err)
			}
			line.Color, dots.Color = chartSeries[i].color, chartSeries[i].color
			line.Width = vg.Points(1.5)
			dots.Shape = draw.CircleGlyph{}
			dots.Radius = vg.Points(2.5)
			d.p.Add(line, dots)
			d.p.Legend.Add(chartSeries[i].legend, line, dots)
		}
	}

	const width, height = 26 * vg.Centimeter, 10 * vg.Centimeter
	canvas := vgsvg.New(width, height)
	dc := draw.New(canvas)
	if title != "" {
		// A line of text above the panels: what ran, where.
		style := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(9)),
			Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
		dc.FillText(style, vg.Point{X: width / 2, Y: height - vg.Millimeter}, title)
		dc = draw.Crop(dc, 0, 0, 0, -6*vg.Millimeter)
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: 6 * vg.Millimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{rate, p99}}, tiles, dc)
	rate.Draw(canvases[0][0])
	p99.Draw(canvases[0][1])
	_, err := canvas.WriteTo(w)
	return err
}

// plainTicks are plot's default ticks labelled as the shortest exact
// decimal ("500", "2.5"), not with the default's fixed precision ("500.00").
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

// chartPoint is one dot of a series: a level, its throughput and p99.
type chartPoint struct {
	level     int
	rate, p99 float64 // ops/s, ms
}

// chartPoints gathers the dots of each of chartSeries (in its order) and the
// levels measured, sorted: each series' rounds at a level (-rounds) become
// one dot at their medians.
func chartPoints(results []*phaseResult) ([][]chartPoint, []int) {
	type key struct{ series, level int }
	rounds := map[key][]*phaseResult{}
	var keys []key
	var levels []int
	for _, r := range results {
		i := slices.IndexFunc(chartSeries, func(s chartLine) bool { return s.phase == r.phase })
		if i < 0 || r.res.interrupted || r.res.ok == 0 {
			continue
		}
		k := key{i, r.level}
		if _, ok := rounds[k]; !ok {
			keys = append(keys, k)
		}
		rounds[k] = append(rounds[k], r)
		if !slices.Contains(levels, r.level) {
			levels = append(levels, r.level)
		}
	}
	series := make([][]chartPoint, len(chartSeries))
	for _, k := range keys {
		series[k.series] = append(series[k.series], chartPoint{k.level, medianOf(rounds[k], rateOf), medianOf(rounds[k], p99Of) / 1e6})
	}
	for _, pts := range series {
		slices.SortFunc(pts, func(a, b chartPoint) int { return a.level - b.level })
	}
	slices.Sort(levels)
	return series, levels
}
