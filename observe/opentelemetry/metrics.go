package opentelemetry

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/resolver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ErrNoSource is returned by RegisterMetrics given no block to read.
var ErrNoSource = errors.New("opentelemetry: no Stats source to register")

// Sources names the blocks whose Stats RegisterMetrics reports; nil
// fields are left out. edge.Node, origin.Pool, balancer.Pool and
// resolver.Recursive satisfy the interfaces. A plain value: copy it freely; safe to read from many goroutines while none changes it.
type Sources struct {
	Edge     interface{ Stats() edge.Stats }
	Origins  interface{ Stats() []origin.OriginStats }
	Balancer interface {
		Stats() []balancer.BackendStats
	}
	Resolver interface{ Stats() resolver.Stats }
}

// RegisterMetrics registers observable instruments over the sources'
// Stats on a meter of mp; each collection reads every source once. The
// instruments mirror package prom's metrics under OpenTelemetry names
// (an OTLP-to-Prometheus pipeline turns edgekit.edge.requests with
// attribute cache into edgekit_edge_requests_total{cache}):
//
//	edgekit.edge.requests{cache}          counter
//	edgekit.edge.cache.objects            gauge
//	edgekit.edge.cache.size               gauge, By
//	edgekit.origin.requests{origin}       counter
//	edgekit.origin.errors{origin}         counter
//	edgekit.origin.up{origin}             gauge
//	edgekit.balancer.picks{backend}       counter
//	edgekit.balancer.failures{backend}    counter
//	edgekit.balancer.active_requests{backend} up-down counter
//	edgekit.balancer.backend.up{backend}  gauge
//	edgekit.resolver.queries              counter
//	edgekit.resolver.cache.lookups{result} counter
//	edgekit.resolver.upstream.queries     counter
//	edgekit.resolver.cache.entries        gauge
//
// Unregister the returned Registration to stop reading the sources.
func RegisterMetrics(mp metric.MeterProvider, src Sources) (metric.Registration, error) {
	if src.Edge == nil && src.Origins == nil && src.Balancer == nil && src.Resolver == nil {
		return nil, ErrNoSource
	}
	m := mp.Meter(ScopeName)
	var errs []error
	var insts []metric.Observable
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		insts = append(insts, c)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		insts = append(insts, g)
		return g
	}
	var cbs []func(metric.Observer)
	if src.Edge != nil {
		req := counter("edgekit.edge.requests", "{request}", "Requests the cache decided on, by cache status.")
		objs := gauge("edgekit.edge.cache.objects", "{object}", "Objects the cache holds.")
		size := gauge("edgekit.edge.cache.size", "By", "Bytes the cache counts its objects to cost.")
		cbs = append(cbs, func(o metric.Observer) {
			s := src.Edge.Stats()
			o.ObserveInt64(req, int64(s.Hits), metric.WithAttributes(attribute.String("cache", "hit")))
			o.ObserveInt64(req, int64(s.Misses), metric.WithAttributes(attribute.String("cache", "miss")))
			o.ObserveInt64(req, int64(s.Passes), metric.WithAttributes(attribute.String("cache", "pass")))
			o.ObserveInt64(objs, int64(s.Objects))
			o.ObserveInt64(size, s.Bytes)
		})
	}
	if src.Origins != nil {
		req := counter("edgekit.origin.requests", "{request}", "Requests sent to the origin.")
		errc := counter("edgekit.origin.errors", "{request}", "Requests to the origin that failed.")
		up := gauge("edgekit.origin.up", "1", "1 when the origin is healthy, else 0.")
		cbs = append(cbs, func(o metric.Observer) {
			seen := map[string]bool{}
			for _, s := range src.Origins.Stats() {
				if seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				a := metric.WithAttributes(attribute.String("origin", s.Name))
				o.ObserveInt64(req, int64(s.Requests), a)
				o.ObserveInt64(errc, int64(s.Errors), a)
				o.ObserveInt64(up, b2i(s.State == balancer.Healthy), a)
			}
		})
	}
	if src.Balancer != nil {
		picks := counter("edgekit.balancer.picks", "{pick}", "Times the backend was picked.")
		fails := counter("edgekit.balancer.failures", "{request}", "Requests to the backend that failed.")
		active, err := m.Int64ObservableUpDownCounter("edgekit.balancer.active_requests", metric.WithUnit("{request}"), metric.WithDescription("Requests in flight to the backend."))
		errs = append(errs, err)
		insts = append(insts, active)
		up := gauge("edgekit.balancer.backend.up", "1", "1 when the backend is healthy, else 0.")
		cbs = append(cbs, func(o metric.Observer) {
			for _, s := range src.Balancer.Stats() {
				a := metric.WithAttributes(attribute.String("backend", s.ID))
				o.ObserveInt64(picks, int64(s.Picks), a)
				o.ObserveInt64(fails, int64(s.Failures), a)
				o.ObserveInt64(active, s.Active, a)
				o.ObserveInt64(up, b2i(s.State == balancer.Healthy), a)
			}
		})
	}
	if src.Resolver != nil {
		q := counter("edgekit.resolver.queries", "{query}", "Questions asked of the resolver.")
		lk := counter("edgekit.resolver.cache.lookups", "{lookup}", "Cache lookups, by result.")
		up := counter("edgekit.resolver.upstream.queries", "{query}", "Queries sent to name servers or forwarders.")
		ent := gauge("edgekit.resolver.cache.entries", "{entry}", "Entries in the resolver's cache.")
		cbs = append(cbs, func(o metric.Observer) {
			s := src.Resolver.Stats()
			o.ObserveInt64(q, int64(s.Queries))
			o.ObserveInt64(lk, int64(s.CacheHits), metric.WithAttributes(attribute.String("result", "hit")))
			o.ObserveInt64(lk, int64(s.CacheMisses), metric.WithAttributes(attribute.String("result", "miss")))
			o.ObserveInt64(up, int64(s.Upstream))
			o.ObserveInt64(ent, int64(s.CacheEntries))
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("opentelemetry: instruments: %w", err)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, cb := range cbs {
			cb(o)
		}
		return nil
	}, insts...)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
