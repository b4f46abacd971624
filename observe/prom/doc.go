// Package prom exports edgekit's blocks to Prometheus
// (github.com/prometheus/client_golang). The blocks themselves carry no
// metrics library: each has a Stats() snapshot and optional event hooks,
// and this package turns both into Prometheus metrics.
//
// # Collectors over Stats
//
// Edge, Origins, Balancer, Resolver, Firewall, HTTPFilter and DNSGuard
// return a prometheus.Collector that reads the block's Stats() at scrape
// time and reports each counter as a counter and each level (objects,
// bytes, active requests, backend state) as a gauge. Nothing is counted
// twice: the counters come from Stats alone, the hook-fed metrics are
// histograms of durations only.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(prom.Edge(node), prom.Origins(pool))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Several blocks of one kind in one registry (three edge nodes, two
// balancer pools) are told apart by a label the caller adds with
// prometheus.WrapRegistererWith(prometheus.Labels{"node": name}, reg).
//
// # Names and labels
//
// Every metric is named edgekit_<block>_<what>, with the unit as suffix
// (_seconds, _bytes) and _total on counters, as Prometheus' naming
// conventions ask. Label values are bounded: a cache status, a verdict, a
// backend or origin name from the configuration, a firewall rule from the
// rule set; never a URL, a host asked for or a client address. The
// hook-fed histograms accept at most MaxBackends distinct backend labels
// and fold the rest into "other".
//
// The metric names are listed in docs/observability.md, and
// docs/grafana-dashboard.json is built on them (a test checks that every
// query in it names a metric this package exports).
//
// # Concurrency
//
// Every collector is safe for concurrent use by multiple goroutines (the
// registry may scrape while the blocks serve) and starts no goroutine.
package prom
