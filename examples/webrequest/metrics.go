package main

// The journey's own Prometheus registry: the edges' counters (observe/prom
// collectors over Stats) and origin fetch times (histograms fed by the
// edges' hooks), read back at the end as a dashboard would show them.

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricsSummary is what the registry says at the end of the journey.
type MetricsSummary struct {
	// HitRatio is hits / (hits + misses) over edgekit_edge_requests_total
	// of every node.
	HitRatio float64 `json:"hit_ratio"`
	// OriginFetchP50Ms and OriginFetchP99Ms are quantiles of
	// edgekit_edge_origin_fetch_seconds, interpolated in its buckets as
	// PromQL's histogram_quantile does.
	OriginFetchP50Ms float64 `json:"origin_fetch_p50_ms"`
	OriginFetchP99Ms float64 `json:"origin_fetch_p99_ms"`
	OriginFetches    uint64  `json:"origin_fetches"`
}

type metrics struct {
	reg  *prometheus.Registry
	hist *prom.Histograms
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), hist: prom.NewHistograms(prom.HistogramConfig{})}
	m.reg.MustRegister(m.hist)
	return m
}

// fetchStartKey carries when an origin fetch began, on the wall clock.
type fetchStartKey struct{}

// edgeTrace returns the edges' hooks. The edges run on the journey's
// simulated clock, which stands still while requests are served, so the
// fetch times are taken here on the wall clock instead.
func (m *metrics) edgeTrace() *edge.Trace {
	t := m.hist.EdgeTrace()
	done := t.OriginFetchDone
	t.OriginFetchStart = func(ctx context.Context, _ edge.FetchStart) context.Context {
		return context.WithValue(ctx, fetchStartKey{}, time.Now())
	}
	t.OriginFetchDone = func(ctx context.Context, f edge.FetchInfo) {
		if start, ok := ctx.Value(fetchStartKey{}).(time.Time); ok {
			f.Duration = time.Since(start)
		}
		done(ctx, f)
	}
	return t
}

// watch registers a node's counters under its name.
func (m *metrics) watch(name string, n *edge.Node) error {
	return prometheus.WrapRegistererWith(prometheus.Labels{"node": name}, m.reg).Register(prom.Edge(n))
}

// summary reads the registry back.
func (m *metrics) summary() (MetricsSummary, error) {
	var s MetricsSummary
	mfs, err := m.reg.Gather()
	if err != nil {
		return s, err
	}
	var hits, misses float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "edgekit_edge_requests_total":
			for _, mt := range mf.GetMetric() {
				switch label(mt, "cache") {
				case "hit":
					hits += mt.GetCounter().GetValue()
				case "miss":
					misses += mt.GetCounter().GetValue()
				}
			}
		case "edgekit_edge_origin_fetch_seconds":
			b := mergeBuckets(mf.GetMetric())
			s.OriginFetches = b.count
			s.OriginFetchP50Ms = ms1(b.quantile(0.5))
			s.OriginFetchP99Ms = ms1(b.quantile(0.99))
		}
	}
	if hits+misses > 0 {
		s.HitRatio = hits / (hits + misses)
	}
	return s, nil
}

func ms1(sec float64) float64 { return math.Round(sec*1e5) / 100 }

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// buckets is a histogram summed over its series: cumulative counts by
// upper bound.
type buckets struct {
	upper []float64
	cum   []uint64
	count uint64
}

func mergeBuckets(ms []*dto.Metric) buckets {
	byUpper := map[float64]uint64{}
	var b buckets
	for _, m := range ms {
		h := m.GetHistogram()
		b.count += h.GetSampleCount()
		for _, bk := range h.GetBucket() {
			byUpper[bk.GetUpperBound()] += bk.GetCumulativeCount()
		}
	}
	for u := range byUpper {
		b.upper = append(b.upper, u)
	}
	sort.Float64s(b.upper)
	for _, u := range b.upper {
		b.cum = append(b.cum, byUpper[u])
	}
	return b
}

// quantile estimates the q-quantile by linear interpolation within the
// bucket that holds it, as PromQL's histogram_quantile: 0 for an empty
// histogram, the highest finite bound for one past it.
func (b buckets) quantile(q float64) float64 {
	if b.count == 0 {
		return 0
	}
	rank := q * float64(b.count)
	lower, below := 0.0, uint64(0)
	for i, u := range b.upper {
		if float64(b.cum[i]) >= rank {
			in := b.cum[i] - below
			if in == 0 {
				return u
			}
			return lower + (u-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = u, b.cum[i]
	}
	return lower
}
