package prom

import (
	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// namespace prefixes every metric name.
const namespace = "edgekit"

// metric is one metric a statsCollector reports: its description, its
// type, and how to read its value (and label values) from a snapshot.
type metric[S any] struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	read func(s S, emit func(v float64, labels ...string))
}

// statsCollector reports the metrics of one Stats() snapshot, read once
// per scrape so that the values in one scrape agree with each other.
type statsCollector[S any] struct {
	stats   func() S
	metrics []metric[S]
}

func (c *statsCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *statsCollector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, m := range c.metrics {
		m.read(s, func(v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, v, labels...)
		})
	}
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

func counter[S any](subsystem, name, help string, read func(S) uint64) metric[S] {
	return metric[S]{desc(subsystem, name, help), prometheus.CounterValue, func(s S, emit func(float64, ...string)) {
		emit(float64(read(s)))
	}}
}

func gauge[S any](subsystem, name, help string, read func(S) float64) metric[S] {
	return metric[S]{desc(subsystem, name, help), prometheus.GaugeValue, func(s S, emit func(float64, ...string)) {
		emit(read(s))
	}}
}

// labelled is a metric with labels whose values the read func chooses.
func labelled[S any](typ prometheus.ValueType, subsystem, name, help string, labels []string, read func(S, func(float64, ...string))) metric[S] {
	return metric[S]{desc(subsystem, name, help, labels...), typ, read}
}

// states are the backend and origin states, in balancer.State order.
var states = []balancer.State{balancer.Healthy, balancer.Unhealthy, balancer.Ejected, balancer.Draining}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Edge returns a collector of an edge node's Stats (edge.Node satisfies
// the interface), read at each scrape:
//
//	edgekit_edge_requests_total{cache="hit|miss|pass"}   counter
//	edgekit_edge_requests_received_total                 counter
//	edgekit_edge_stale_served_total                      counter
//	edgekit_edge_revalidations_total                     counter
//	edgekit_edge_collapsed_total                         counter
//	edgekit_edge_origin_errors_total                     counter
//	edgekit_edge_background_fetches_total                counter
//	edgekit_edge_invalidations_total                     counter
//	edgekit_edge_sent_bytes_total{source="cache|origin"} counter
//	edgekit_edge_purges_total                            counter
//	edgekit_edge_purged_objects_total                    counter
//	edgekit_edge_cache_objects                           gauge
//	edgekit_edge_cache_bytes                             gauge
//	edgekit_edge_cache_max_bytes                         gauge
//
// requests_total partitions the requests the cache decided on (a hit
// includes stale served without waiting for the origin; pass is a request
// sent on uncached); requests_received_total counts every request the
// node was handed, purges and bypassed ones included. The hit ratio is
// rate(hit) / (rate(hit) + rate(miss)) in PromQL.
func Edge(n interface{ Stats() edge.Stats }) prometheus.Collector {
	const sub = "edge"
	type S = edge.Stats
	return &statsCollector[S]{stats: n.Stats, metrics: []metric[S]{
		labelled(prometheus.CounterValue, sub, "requests_total", "Requests the cache decided on, by cache status.", []string{"cache"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.Hits), "hit")
				emit(float64(s.Misses), "miss")
				emit(float64(s.Passes), "pass")
			}),
		counter(sub, "requests_received_total", "Requests handed to the node, purges and bypassed requests included.", func(s S) uint64 { return s.Requests }),
		counter(sub, "stale_served_total", "Stale responses served (stale-while-revalidate, stale-if-error, max-stale).", func(s S) uint64 { return s.StaleServed }),
		counter(sub, "revalidations_total", "Stored responses freshened by a 304 from the origin.", func(s S) uint64 { return s.Revalidations }),
		counter(sub, "collapsed_total", "Requests answered from another request's origin fetch.", func(s S) uint64 { return s.Collapsed }),
		counter(sub, "origin_errors_total", "Origin fetches that failed or answered 5xx.", func(s S) uint64 { return s.OriginErrors }),
		counter(sub, "background_fetches_total", "Background refreshes (stale-while-revalidate, soft purge).", func(s S) uint64 { return s.BackgroundFetches }),
		counter(sub, "invalidations_total", "Unsafe requests that invalidated stored responses (RFC 9111 section 4.4).", func(s S) uint64 { return s.Invalidations }),
		labelled(prometheus.CounterValue, sub, "sent_bytes_total", "Response body bytes sent, by where they came from.", []string{"source"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.BytesFromCache), "cache")
				emit(float64(s.BytesFromOrigin), "origin")
			}),
		counter(sub, "purges_total", "Purges applied on this node, local and received over the bus.", func(s S) uint64 { return s.Purges }),
		counter(sub, "purged_objects_total", "Objects removed or marked stale by purges.", func(s S) uint64 { return s.PurgedObjects }),
		gauge(sub, "cache_objects", "Objects the cache holds.", func(s S) float64 { return float64(s.Objects) }),
		gauge(sub, "cache_bytes", "Bytes the cache counts its objects to cost.", func(s S) float64 { return float64(s.Bytes) }),
		gauge(sub, "cache_max_bytes", "The cache's byte limit (0: not reported).", func(s S) float64 { return float64(s.MaxBytes) }),
	}}
}

// Origins returns a collector of an origin pool's Stats (origin.Pool
// satisfies the interface), labelled by the configured origin name:
//
//	edgekit_origin_requests_total{origin}       counter
//	edgekit_origin_errors_total{origin}         counter
//	edgekit_origin_ejections_total{origin}      counter
//	edgekit_origin_failovers_total{origin}      counter
//	edgekit_origin_up{origin}                   gauge, 1 when healthy
//	edgekit_origin_state{origin,state}          gauge, 1 for the current state
//	edgekit_origin_latency_ewma_seconds{origin} gauge
func Origins(p interface{ Stats() []origin.OriginStats }) prometheus.Collector {
	const sub = "origin"
	type S = []origin.OriginStats
	each := func(typ prometheus.ValueType, name, help string, v func(origin.OriginStats) float64) metric[S] {
		return labelled(typ, sub, name, help, []string{"origin"}, func(s S, emit func(float64, ...string)) {
			for _, o := range uniqueOrigins(s) {
				emit(v(o), o.Name)
			}
		})
	}
	return &statsCollector[S]{stats: p.Stats, metrics: []metric[S]{
		each(prometheus.CounterValue, "requests_total", "Requests sent to the origin.", func(o origin.OriginStats) float64 { return float64(o.Requests) }),
		each(prometheus.CounterValue, "errors_total", "Requests to the origin that failed.", func(o origin.OriginStats) float64 { return float64(o.Errors) }),
		each(prometheus.CounterValue, "ejections_total", "Passive ejections of the origin.", func(o origin.OriginStats) float64 { return float64(o.Ejections) }),
		each(prometheus.CounterValue, "failovers_total", "Requests that reached the origin after another failed.", func(o origin.OriginStats) float64 { return float64(o.Failovers) }),
		each(prometheus.GaugeValue, "up", "1 when the origin is healthy, else 0.", func(o origin.OriginStats) float64 { return b2f(o.State == balancer.Healthy) }),
		labelled(prometheus.GaugeValue, sub, "state", "1 for the origin's current state (healthy, unhealthy, ejected, draining).", []string{"origin", "state"},
			func(s S, emit func(float64, ...string)) {
				for _, o := range uniqueOrigins(s) {
					for _, st := range states {
						emit(b2f(o.State == st), o.Name, st.String())
					}
				}
			}),
		each(prometheus.GaugeValue, "latency_ewma_seconds", "Peak-sensitive moving average of the time to response headers.", func(o origin.OriginStats) float64 { return o.Latency.Seconds() }),
	}}
}

// Balancer returns a collector of a balancer pool's Stats (balancer.Pool
// satisfies the interface), labelled by backend ID:
//
//	edgekit_balancer_picks_total{backend}        counter
//	edgekit_balancer_failures_total{backend}     counter
//	edgekit_balancer_ejections_total{backend}    counter
//	edgekit_balancer_active_requests{backend}    gauge
//	edgekit_balancer_backend_up{backend}         gauge, 1 when healthy
//	edgekit_balancer_backend_state{backend,state} gauge, 1 for the current state
//	edgekit_balancer_latency_ewma_seconds{backend} gauge
//	edgekit_balancer_backend_weight{backend}     gauge
//
// A backend removed from the pool disappears from the next scrape.
func Balancer(p interface {
	Stats() []balancer.BackendStats
}) prometheus.Collector {
	const sub = "balancer"
	type S = []balancer.BackendStats
	each := func(typ prometheus.ValueType, name, help string, v func(balancer.BackendStats) float64) metric[S] {
		return labelled(typ, sub, name, help, []string{"backend"}, func(s S, emit func(float64, ...string)) {
			for _, b := range s {
				emit(v(b), b.ID)
			}
		})
	}
	return &statsCollector[S]{stats: p.Stats, metrics: []metric[S]{
		each(prometheus.CounterValue, "picks_total", "Times the backend was picked.", func(b balancer.BackendStats) float64 { return float64(b.Picks) }),
		each(prometheus.CounterValue, "failures_total", "Requests to the backend that failed.", func(b balancer.BackendStats) float64 { return float64(b.Failures) }),
		each(prometheus.CounterValue, "ejections_total", "Passive ejections of the backend.", func(b balancer.BackendStats) float64 { return float64(b.Ejections) }),
		each(prometheus.GaugeValue, "active_requests", "Requests in flight to the backend.", func(b balancer.BackendStats) float64 { return float64(b.Active) }),
		each(prometheus.GaugeValue, "backend_up", "1 when the backend is healthy, else 0.", func(b balancer.BackendStats) float64 { return b2f(b.State == balancer.Healthy) }),
		labelled(prometheus.GaugeValue, sub, "backend_state", "1 for the backend's current state (healthy, unhealthy, ejected, draining).", []string{"backend", "state"},
			func(s S, emit func(float64, ...string)) {
				for _, b := range s {
					for _, st := range states {
						emit(b2f(b.State == st), b.ID, st.String())
					}
				}
			}),
		each(prometheus.GaugeValue, "latency_ewma_seconds", "Peak-EWMA of the backend's reported latencies.", func(b balancer.BackendStats) float64 { return b.Latency.Seconds() }),
		each(prometheus.GaugeValue, "backend_weight", "The backend's configured weight.", func(b balancer.BackendStats) float64 { return float64(b.Weight) }),
	}}
}

// Resolver returns a collector of a recursive resolver's Stats
// (resolver.Recursive satisfies the interface):
//
//	edgekit_resolver_queries_total                   counter
//	edgekit_resolver_cache_lookups_total{result="hit|miss"} counter
//	edgekit_resolver_upstream_queries_total          counter
//	edgekit_resolver_upstream_timeouts_total         counter
//	edgekit_resolver_servfails_total                 counter
//	edgekit_resolver_stale_served_total              counter
//	edgekit_resolver_prefetches_total                counter
//	edgekit_resolver_coalesced_total                 counter
//	edgekit_resolver_refused_total                   counter
//	edgekit_resolver_cache_entries                   gauge
//	edgekit_resolver_cache_bytes                     gauge
func Resolver(r interface{ Stats() resolver.Stats }) prometheus.Collector {
	const sub = "resolver"
	type S = resolver.Stats
	return &statsCollector[S]{stats: r.Stats, metrics: []metric[S]{
		counter(sub, "queries_total", "Questions asked of the resolver.", func(s S) uint64 { return s.Queries }),
		labelled(prometheus.CounterValue, sub, "cache_lookups_total", "Cache lookups, by result.", []string{"result"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.CacheHits), "hit")
				emit(float64(s.CacheMisses), "miss")
			}),
		counter(sub, "upstream_queries_total", "Queries sent to name servers or forwarders.", func(s S) uint64 { return s.Upstream }),
		counter(sub, "upstream_timeouts_total", "Upstream queries that timed out.", func(s S) uint64 { return s.Timeouts }),
		counter(sub, "servfails_total", "Resolutions that failed (before serve-stale).", func(s S) uint64 { return s.ServFails }),
		counter(sub, "stale_served_total", "Stale answers served (RFC 8767).", func(s S) uint64 { return s.StaleServed }),
		counter(sub, "prefetches_total", "Popular entries refreshed before they expired.", func(s S) uint64 { return s.Prefetches }),
		counter(sub, "coalesced_total", "Questions that waited for an identical one in flight.", func(s S) uint64 { return s.Coalesced }),
		counter(sub, "refused_total", "Clients refused by the server's access list.", func(s S) uint64 { return s.Refused }),
		gauge(sub, "cache_entries", "Entries in the resolver's cache.", func(s S) float64 { return float64(s.CacheEntries) }),
		gauge(sub, "cache_bytes", "Bytes the resolver's cache counts its entries to cost.", func(s S) float64 { return float64(s.CacheBytes) }),
	}}
}

// Firewall returns a collector of a firewall's Stats (firewall.Firewall
// satisfies the interface):
//
//	edgekit_firewall_decisions_total{verdict="allow|deny"} counter
//	edgekit_firewall_reloads_total                        counter
//	edgekit_firewall_rule_hits_total{rule}                counter
//
// The rule label is the rule's name in the rule set in force (so bounded
// by the configuration); a reload that renames rules starts new series.
func Firewall(f interface{ Stats() firewall.Stats }) prometheus.Collector {
	const sub = "firewall"
	type S = firewall.Stats
	return &statsCollector[S]{stats: f.Stats, metrics: []metric[S]{
		labelled(prometheus.CounterValue, sub, "decisions_total", "Addresses judged, by verdict.", []string{"verdict"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.Allowed), "allow")
				emit(float64(s.Denied), "deny")
			}),
		counter(sub, "reloads_total", "Rule set reloads.", func(s S) uint64 { return s.Reloads }),
		labelled(prometheus.CounterValue, sub, "rule_hits_total", "Decisions made by each rule of the rule set in force.", []string{"rule"},
			func(s S, emit func(float64, ...string)) {
				seen := make(map[string]bool, len(s.Rules))
				for _, r := range s.Rules {
					if seen[r.Rule] { // two series with one label set would fail the scrape
						continue
					}
					seen[r.Rule] = true
					emit(float64(r.Hits), r.Rule)
				}
			}),
	}}
}

// HTTPFilter returns a collector of a firewall.HTTPFilter's Stats:
//
//	edgekit_firewall_http_requests_total{verdict="allow|deny"}                counter
//	edgekit_firewall_http_denied_total{reason="limited|oversized|builtin"}    counter
//	edgekit_firewall_http_unidentified_total                                  counter
//
// http_denied_total breaks down some of the denials (a denial by address
// or request rule has no reason series of its own).
func HTTPFilter(h interface{ Stats() firewall.HTTPStats }) prometheus.Collector {
	const sub = "firewall"
	type S = firewall.HTTPStats
	return &statsCollector[S]{stats: h.Stats, metrics: []metric[S]{
		labelled(prometheus.CounterValue, sub, "http_requests_total", "HTTP requests judged, by verdict.", []string{"verdict"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.Allowed), "allow")
				emit(float64(s.Denied), "deny")
			}),
		labelled(prometheus.CounterValue, sub, "http_denied_total", "HTTP requests denied, by reason (rate limit, size limit, built-in check).", []string{"reason"},
			func(s S, emit func(float64, ...string)) {
				emit(float64(s.Limited), "limited")
				emit(float64(s.Oversized), "oversized")
				emit(float64(s.Builtin), "builtin")
			}),
		counter(sub, "http_unidentified_total", "Requests from a trusted proxy whose forwarding chain could not be read.", func(s S) uint64 { return s.Unidentified }),
	}}
}

// DNSGuard returns a collector of a firewall.DNSGuard's Stats:
//
//	edgekit_firewall_dns_denied_total       counter
//	edgekit_firewall_dns_rate_limited_total counter
func DNSGuard(g interface{ Stats() firewall.DNSGuardStats }) prometheus.Collector {
	const sub = "firewall"
	type S = firewall.DNSGuardStats
	return &statsCollector[S]{stats: g.Stats, metrics: []metric[S]{
		counter(sub, "dns_denied_total", "DNS queries denied by the guard.", func(s S) uint64 { return s.Denied }),
		counter(sub, "dns_rate_limited_total", "DNS responses rate limited (RRL).", func(s S) uint64 { return s.RateLimited }),
	}}
}

// uniqueOrigins drops origins whose name an earlier one has (two origins
// given the same Name): two series with one label set would fail the
// whole scrape.
func uniqueOrigins(s []origin.OriginStats) []origin.OriginStats {
	out := s[:0:0]
	seen := make(map[string]bool, len(s))
	for _, o := range s {
		if !seen[o.Name] {
			seen[o.Name] = true
			out = append(out, o)
		}
	}
	return out
}
