package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// designColors are the designs' colours, in Designs order.
var designColors = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // independent: red
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // consistent-hash: blue
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // shield: green
}

// writeChart draws per design the edge hit ratio (solid) and the offload
// (dashed) against the cache size per edge (a log scale), and saves it to
// file; the extension (.svg, .png) chooses the format.
func writeChart(file string, res *Result) error {
	p := plot.New()
	w := res.Workload
	p.Title.Text = fmt.Sprintf("%d edges, %d objects (%s), Zipf %.2f, %d requests", w.Nodes, w.Objects, size(res.CatalogBytes), w.Zipf, w.Requests)
	p.X.Label.Text = "cache per edge"
	p.Y.Label.Text = "ratio (solid: edge hit; dashed: origin offload)"
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false // bottom right, below the curves
	var yt plot.ConstantTicks
	for i := 0; i <= 10; i++ {
		yt = append(yt, plot.Tick{Value: float64(i) / 10, Label: fmt.Sprintf("%d%%", i*10)})
	}
	p.Y.Tick.Marker = yt
	p.Add(plotter.NewGrid())

	var sizes []int64
	seen := map[int64]bool{}
	for _, r := range res.Rows {
		if !seen[r.CacheBytes] {
			seen[r.CacheBytes] = true
			sizes = append(sizes, r.CacheBytes)
		}
	}
	if len(sizes) > 1 {
		p.X.Scale = plot.LogScale{}
	}
	var ticks plot.ConstantTicks
	for _, s := range sizes {
		ticks = append(ticks, plot.Tick{Value: float64(s), Label: size(s)})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = float64(sizes[0])/1.2, float64(sizes[len(sizes)-1])*1.2

	for i, d := range Designs {
		var hit, off plotter.XYs
		for _, r := range res.Rows {
			if r.Design == d.String() {
				hit = append(hit, plotter.XY{X: float64(r.CacheBytes), Y: r.HitRatio})
				off = append(off, plotter.XY{X: float64(r.CacheBytes), Y: r.Offload})
			}
		}
		for _, series := range []struct {
			xys    plotter.XYs
			dashed bool
			name   string
		}{{hit, false, d.String() + " edge hit"}, {off, true, d.String() + " offload"}} {
			l, pts, err := plotter.NewLinePoints(series.xys)
			if err != nil {
				return err
			}
			l.Color, pts.Color = designColors[i], designColors[i]
			l.Width = vg.Points(1.5)
			if series.dashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(l, pts)
			p.Legend.Add(series.name, l, pts)
		}
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, file)
}
