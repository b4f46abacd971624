package prom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/resolver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fullRegistry is fixedRegistry plus the histograms, each with a series.
func fullRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := fixedRegistry(t)
	h := prom.NewHistograms(prom.HistogramConfig{})
	reg.MustRegister(h)
	h.BalancerTrace().BackendDone(context.Background(), balancer.BackendResult{Backend: balancer.Backend{ID: "a"}, Latency: time.Millisecond})
	rh := h.ResolverHooks()
	rh.ResolveDone(context.Background(), resolver.ResolveEvent{Duration: 30 * time.Millisecond})
	rh.UpstreamAnswered(resolver.UpstreamEvent{RTT: 12 * time.Millisecond})
	return reg
}

// TestFullRegistryLintClean: the histograms pass promlint too.
func TestFullRegistryLintClean(t *testing.T) {
	problems, err := testutil.GatherAndLint(fullRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestEdgeHistogramsFromHooks: a miss and a hit through a real node feed
// the time-to-first-byte histogram by cache status and the origin fetch
// histogram; the counters stay the Stats collector's (no double count).
func TestEdgeHistogramsFromHooks(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "hello")
	}))
	defer site.Close()
	pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: site.URL, Name: "site"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	h := prom.NewHistograms(prom.HistogramConfig{})
	node, err := edge.New(edge.Config{Origin: pool, Trace: h.EdgeTrace()})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h, prom.Edge(node))
	for range 3 {
		rec := httptest.NewRecorder()
		node.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.test/a", nil))
	}
	count := func(name, label, value string) uint64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == label && l.GetValue() == value {
						return m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		t.Fatalf("no %s{%s=%q}", name, label, value)
		return 0
	}
	if got := count("edgekit_edge_first_byte_seconds", "cache", "miss"); got != 1 {
		t.Errorf("first byte, miss: %d observations, want 1", got)
	}
	if got := count("edgekit_edge_first_byte_seconds", "cache", "hit"); got != 2 {
		t.Errorf("first byte, hit: %d observations, want 2", got)
	}
	if got := count("edgekit_edge_origin_fetch_seconds", "kind", "fetch"); got != 1 {
		t.Errorf("origin fetches: %d, want 1", got)
	}
	if got := count("edgekit_edge_first_byte_seconds", "cache", "stale"); got != 0 {
		t.Errorf("stale: %d", got) // bound at construction, empty
	}
}

// TestBalancerHistogramFromHooks: each attempt on a backend is observed
// under its configured ID.
func TestBalancerHistogramFromHooks(t *testing.T) {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") }))
	defer b.Close()
	pool, err := balancer.New(balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pool.Add(balancer.Backend{ID: "blue", Addr: strings.TrimPrefix(b.URL, "http://")})
	h := prom.NewHistograms(prom.HistogramConfig{})
	px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool, Trace: h.BalancerTrace()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, httptest.NewRequest("GET", "http://lb.test/", nil))
		if rec.Code != 200 {
			t.Fatalf("%d", rec.Code)
		}
	}
	if n := testutil.CollectAndCount(h, "edgekit_balancer_backend_latency_seconds"); n != 1 {
		t.Errorf("%d backend series, want 1", n)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "edgekit_balancer_backend_latency_seconds" {
			m := mf.GetMetric()[0]
			if m.GetLabel()[0].GetValue() != "blue" || m.GetHistogram().GetSampleCount() != 2 {
				t.Errorf("series %v", m)
			}
		}
	}
}

// TestBackendLabelsBounded: past MaxBackends distinct IDs, backends share
// the series "other": a pool that churns through names cannot grow the
// scrape without bound.
func TestBackendLabelsBounded(t *testing.T) {
	h := prom.NewHistograms(prom.HistogramConfig{MaxBackends: 2})
	done := h.BalancerTrace().BackendDone
	for _, id := range []string{"a", "b", "c", "d", "a", "e"} {
		done(context.Background(), balancer.BackendResult{Backend: balancer.Backend{ID: id}, Latency: time.Millisecond})
	}
	if n := testutil.CollectAndCount(h, "edgekit_balancer_backend_latency_seconds"); n != 3 {
		t.Errorf("%d backend series, want 3 (a, b, other)", n)
	}
}

// TestHooksAllocateNothing: the hooks observe into series bound in
// advance; a request costs no allocation (STYLE §2.15).
func TestHooksAllocateNothing(t *testing.T) {
	h := prom.NewHistograms(prom.HistogramConfig{})
	et, bt, rh := h.EdgeTrace(), h.BalancerTrace(), h.ResolverHooks()
	ctx := context.Background()
	bt.BackendDone(ctx, balancer.BackendResult{Backend: balancer.Backend{ID: "a"}}) // binds a's series
	info := edge.RequestInfo{Status: 200, CacheStatus: cache.OutcomeHit, TTFB: time.Millisecond}
	if n := testing.AllocsPerRun(100, func() {
		et.RequestDone(ctx, info)
		et.OriginFetchDone(ctx, edge.FetchInfo{Duration: time.Millisecond})
		bt.BackendDone(ctx, balancer.BackendResult{Backend: balancer.Backend{ID: "a"}, Latency: time.Millisecond})
		rh.ResolveDone(ctx, resolver.ResolveEvent{Duration: time.Millisecond})
		rh.UpstreamAnswered(resolver.UpstreamEvent{RTT: time.Millisecond})
	}); n != 0 {
		t.Errorf("%.1f allocations per event set, want 0", n)
	}
}

// BenchmarkEdgeHook is the hit path's added cost with the histograms
// set, beside a plain prometheus.Histogram.Observe.
func BenchmarkEdgeHook(b *testing.B) {
	ctx := context.Background()
	info := edge.RequestInfo{Status: 200, CacheStatus: cache.OutcomeHit, TTFB: time.Millisecond}
	b.Run("RequestDone", func(b *testing.B) {
		done := prom.NewHistograms(prom.HistogramConfig{}).EdgeTrace().RequestDone
		b.ReportAllocs()
		for b.Loop() {
			done(ctx, info)
		}
	})
	b.Run("plain Observe", func(b *testing.B) {
		o := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: prom.DefaultBuckets})
		b.ReportAllocs()
		for b.Loop() {
			o.Observe(info.TTFB.Seconds())
		}
	})
}

// TestNilHistogramsSetNoHooks: a program without a registry to feed
// hands the blocks no hooks at all.
func TestNilHistogramsSetNoHooks(t *testing.T) {
	var h *prom.Histograms
	if h.EdgeTrace() != nil || h.BalancerTrace() != nil || h.ResolverHooks() != nil {
		t.Error("a nil Histograms made hooks")
	}
}
