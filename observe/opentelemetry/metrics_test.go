package opentelemetry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgekit/edgekit/balancer"
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
