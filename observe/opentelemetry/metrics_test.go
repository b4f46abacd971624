package opentelemetry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/resolver"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

type edgeStats edge.Stats

func (s edgeStats) Stats() edge.Stats { return edge.Stats(s) }

type backendStats []balancer.BackendStats

func (s backendStats) Stats() []balancer.BackendStats { return s }

type resolverStats resolver.Stats

func (s resolverStats) Stats() resolver.Stats { return resolver.Stats(s) }

// TestRegisterMetrics reads Stats through the OTel metric API at
// collection time: counters as monotonic sums, levels as gauges.
func TestRegisterMetrics(t *testing.T) {
	if _, err := opentelemetry.RegisterMetrics(sdkmetric.NewMeterProvider(), opentelemetry.Sources{}); !errors.Is(err, opentelemetry.ErrNoSource) {
		t.Errorf("no sources: %v", err)
	}
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer mp.Shutdown(context.Background())
	var es edge.Stats
	es.Hits, es.Misses, es.Objects = 8, 2, 5
	reg, err := opentelemetry.RegisterMetrics(mp, opentelemetry.Sources{
		Edge:     edgeStats(es),
		Balancer: backendStats{{Backend: balancer.Backend{ID: "a"}, Picks: 4, Active: 1}, {Backend: balancer.Backend{ID: "b"}, State: balancer.Ejected}},
		Resolver: resolverStats{Queries: 3, CacheHits: 2, CacheMisses: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	monotonic := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != opentelemetry.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			var dps []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				dps, monotonic[m.Name] = d.DataPoints, d.IsMonotonic
			case metricdata.Gauge[int64]:
				dps = d.DataPoints
			default:
				t.Fatalf("%s: %T", m.Name, m.Data)
			}
			for _, dp := range dps {
				k := m.Name
				for _, kv := range dp.Attributes.ToSlice() {
					k += "," + string(kv.Key) + "=" + kv.Value.String()
				}
				got[k] = dp.Value
			}
		}
	}
	for k, v := range map[string]int64{
		"edgekit.edge.requests,cache=hit":            8,
		"edgekit.edge.requests,cache=miss":           2,
		"edgekit.edge.cache.objects":                 5,
		"edgekit.balancer.picks,backend=a":           4,
		"edgekit.balancer.backend.up,backend=a":      1,
		"edgekit.balancer.backend.up,backend=b":      0,
		"edgekit.balancer.active_requests,backend=a": 1,
		"edgekit.resolver.cache.lookups,result=hit":  2,
		"edgekit.resolver.queries":                   3,
	} {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if !monotonic["edgekit.edge.requests"] || monotonic["edgekit.balancer.active_requests"] {
		t.Errorf("monotonic: %v", monotonic)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
}

// TestHistogramsFromHooks: the hooks record through the OTel metric API,
// by cache status, fetch kind and backend, and past MaxBackends backends
// share "other".
func TestHistogramsFromHooks(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer mp.Shutdown(context.Background())
	h, err := opentelemetry.NewHistograms(mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	et, bt, rh := h.EdgeTrace(), h.BalancerTrace(), h.ResolverHooks()
	et.RequestDone(ctx, edge.RequestInfo{Status: 200, CacheStatus: cache.OutcomeHit, TTFB: time.Millisecond})
	et.RequestDone(ctx, edge.RequestInfo{Status: 200, CacheStatus: cache.OutcomeMiss, TTFB: 20 * time.Millisecond})
	et.RequestDone(ctx, edge.RequestInfo{}) // the client left: not a latency
	et.OriginFetchDone(ctx, edge.FetchInfo{Duration: 15 * time.Millisecond, Revalidation: true})
	for i := range opentelemetry.MaxBackends + 5 {
		bt.BackendDone(ctx, balancer.BackendResult{Backend: balancer.Backend{ID: fmt.Sprint("b", i)}, Latency: time.Millisecond})
	}
	rh.ResolveDone(ctx, resolver.ResolveEvent{Duration: 3 * time.Millisecond})
	rh.UpstreamAnswered(resolver.UpstreamEvent{RTT: 2 * time.Millisecond})
	rh.UpstreamAnswered(resolver.UpstreamEvent{Err: errors.New("timeout")})
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	series := map[string]int{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			hd, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s: %T", m.Name, m.Data)
			}
			series[m.Name] = len(hd.DataPoints)
			for _, dp := range hd.DataPoints {
				k := m.Name
				for _, kv := range dp.Attributes.ToSlice() {
					k += "," + string(kv.Key) + "=" + kv.Value.String()
				}
				counts[k] = dp.Count
			}
		}
	}
	for k, v := range map[string]uint64{
		"edgekit.edge.first_byte.duration,cache=hit":           1,
		"edgekit.edge.first_byte.duration,cache=miss":          1,
		"edgekit.edge.origin_fetch.duration,kind=revalidation": 1,
		"edgekit.balancer.backend.duration,backend=b0":         1,
		"edgekit.balancer.backend.duration,backend=other":      5,
		"edgekit.resolver.resolution.duration":                 1,
		"edgekit.resolver.upstream.rtt":                        1,
	} {
		if counts[k] != v {
			t.Errorf("%s: %d, want %d", k, counts[k], v)
		}
	}
	if n := series["edgekit.balancer.backend.duration"]; n != opentelemetry.MaxBackends+1 {
		t.Errorf("%d backend series, want %d", n, opentelemetry.MaxBackends+1)
	}
}

// TestHistogramHooksAllocateNothing: the attribute sets are made once;
// an edge request, a fetch and a backend attempt record without
// allocating.
func TestHistogramHooksAllocateNothing(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	h, err := opentelemetry.NewHistograms(mp)
	if err != nil {
		t.Fatal(err)
	}
	et, bt := h.EdgeTrace(), h.BalancerTrace()
	ctx := context.Background()
	info := edge.RequestInfo{Status: 200, CacheStatus: cache.OutcomeHit, TTFB: time.Millisecond}
	bt.BackendDone(ctx, balancer.BackendResult{Backend: balancer.Backend{ID: "a"}})
	if n := testing.AllocsPerRun(100, func() {
		et.RequestDone(ctx, info)
		et.OriginFetchDone(ctx, edge.FetchInfo{Duration: time.Millisecond})
		bt.BackendDone(ctx, balancer.BackendResult{Backend: balancer.Backend{ID: "a"}, Latency: time.Millisecond})
	}); n != 0 {
		t.Errorf("%.1f allocations per event set, want 0", n)
	}
}
