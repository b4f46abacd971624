package prom

import (
	"context"
	"strings"
	"sync"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBuckets are the histograms' bucket upper bounds in seconds when
// HistogramConfig.Buckets is nil: from 25 µs (a hit on loopback) to 10 s
// (a slow origin), about three per decade.
var DefaultBuckets = []float64{.000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultMaxBackends is what a zero HistogramConfig.MaxBackends means.
const DefaultMaxBackends = 64

// HistogramConfig configures Histograms. The zero value is ready to use. A plain value: copy it freely; safe to read from many goroutines while none changes it.
type HistogramConfig struct {
	// Buckets are the upper bounds, in seconds, of every histogram. Nil
	// means DefaultBuckets.
	Buckets []float64
	// MaxBackends bounds the distinct backend label values of
	// edgekit_balancer_backend_latency_seconds; later backends are
	// counted under "other". Zero means DefaultMaxBackends.
	MaxBackends int
}

// Histograms are the latency distributions fed by the blocks' hooks
// (Stats has counters and levels, not distributions):
//
//	edgekit_edge_first_byte_seconds{cache}           time to the response head, by cache status
//	edgekit_edge_origin_fetch_seconds{kind}          time to the origin's response head
//	edgekit_balancer_backend_latency_seconds{backend} time to a backend's response head, per attempt
//	edgekit_resolver_resolution_seconds              time to resolve a question the cache did not answer
//	edgekit_resolver_upstream_rtt_seconds            round-trip time of an answered upstream query
//
// cache is the response's outcome (hit, miss, stale, revalidated, pass,
// bypass); kind is fetch (a miss), revalidation, background or pass.
// Nothing here counts what a Stats collector counts: use the histograms'
// _count for latency, requests_total for traffic.
//
// Histograms is a prometheus.Collector: register it once, then hand its
// hooks (EdgeTrace) to the blocks. It is safe for concurrent use by
// multiple goroutines; the hooks allocate nothing per event.
type Histograms struct {
	firstByte   *prometheus.HistogramVec
	originFetch *prometheus.HistogramVec
	backendLat  *prometheus.HistogramVec
	resolution  prometheus.Histogram
	upstreamRTT prometheus.Histogram
	// byOutcome and byKind are the series bound at construction, so the
	// hot path does no label lookup.
	byOutcome [numOutcomes + 1]prometheus.Observer
	byKind    [4]prometheus.Observer
	all       []prometheus.Collector
	maxBack   int
	mu        sync.Mutex // serialises adding backend series
	backends  int        // backend series made
	byBackend sync.Map   // backend ID -> prometheus.Observer
}

// numOutcomes is how many cache.Outcome values there are; an unknown one
// is counted as "other".
const numOutcomes = int(cache.OutcomeBypass) + 1

// NewHistograms returns Histograms configured by cfg.
func NewHistograms(cfg HistogramConfig) *Histograms {
	b := cfg.Buckets
	if b == nil {
		b = DefaultBuckets
	}
	h := &Histograms{maxBack: cfg.MaxBackends}
	if h.maxBack <= 0 {
		h.maxBack = DefaultMaxBackends
	}
	h.firstByte = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "edge", Name: "first_byte_seconds",
		Help: "Time from a request's start to its response head, by cache status.", Buckets: b}, []string{"cache"})
	h.originFetch = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "edge", Name: "origin_fetch_seconds",
		Help: "Time from sending a request to the origin to its response head (or failure), by kind.", Buckets: b}, []string{"kind"})
	for o := range numOutcomes {
		h.byOutcome[o] = h.firstByte.WithLabelValues(strings.ToLower(cache.Outcome(o).String()))
	}
	h.byOutcome[numOutcomes] = h.firstByte.WithLabelValues("other")
	for i, k := range fetchKinds {
		h.byKind[i] = h.originFetch.WithLabelValues(k)
	}
	h.backendLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "balancer", Name: "backend_latency_seconds",
		Help: "Time from sending a request to a backend to its response head (or failure), by backend.", Buckets: b}, []string{"backend"})
	h.resolution = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "resolver", Name: "resolution_seconds",
		Help: "Time to resolve a question the cache could not answer.", Buckets: b})
	h.upstreamRTT = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "resolver", Name: "upstream_rtt_seconds",
		Help: "Round-trip time of queries answered by name servers or forwarders.", Buckets: b})
	h.all = []prometheus.Collector{h.firstByte, h.originFetch, h.backendLat, h.resolution, h.upstreamRTT}
	return h
}

var fetchKinds = [4]string{"fetch", "revalidation", "background", "pass"}

// Describe implements prometheus.Collector.
func (h *Histograms) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range h.all {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (h *Histograms) Collect(ch chan<- prometheus.Metric) {
	for _, c := range h.all {
		c.Collect(ch)
	}
}

// EdgeTrace returns hooks for edge.Config.Trace that feed the edge
// histograms. To combine them with other hooks (an OpenTelemetry
// tracer), see observe.JoinEdgeTraces.
//
// A nil *Histograms returns nil: no hooks.
func (h *Histograms) EdgeTrace() *edge.Trace {
	if h == nil {
		return nil
	}
	return &edge.Trace{
		RequestDone: func(_ context.Context, info edge.RequestInfo) {
			if info.Status == 0 {
				return // the client left before a response head
			}
			o := int(info.CacheStatus)
			if o >= numOutcomes {
				o = numOutcomes
			}
			h.byOutcome[o].Observe(info.TTFB.Seconds())
		},
		OriginFetchDone: func(_ context.Context, f edge.FetchInfo) {
			k := 0
			switch {
			case f.Pass:
				k = 3
			case f.Background:
				k = 2
			case f.Revalidation:
				k = 1
			}
			h.byKind[k].Observe(f.Duration.Seconds())
		},
	}
}

// BalancerTrace returns hooks for balancer.ProxyConfig.Trace that feed
// the backend latency histogram, labelled by backend ID (at most
// MaxBackends of them).
// A nil *Histograms returns nil.
func (h *Histograms) BalancerTrace() *balancer.Trace {
	if h == nil {
		return nil
	}
	return &balancer.Trace{
		BackendDone: func(_ context.Context, d balancer.BackendResult) {
			h.backendObserver(d.Backend.ID).Observe(d.Latency.Seconds())
		},
	}
}

// ResolverHooks returns hooks for resolver.Config.Hooks that feed the
// resolution time and upstream RTT histograms (upstream queries that
// failed have no RTT and are left out: Stats counts their timeouts).
// A nil *Histograms returns nil.
func (h *Histograms) ResolverHooks() *resolver.Hooks {
	if h == nil {
		return nil
	}
	return &resolver.Hooks{
		ResolveDone: func(_ context.Context, e resolver.ResolveEvent) { h.resolution.Observe(e.Duration.Seconds()) },
		UpstreamAnswered: func(e resolver.UpstreamEvent) {
			if e.Err == nil {
				h.upstreamRTT.Observe(e.RTT.Seconds())
			}
		},
	}
}

// backendObserver returns the series of a backend ID: its own while
// fewer than MaxBackends IDs have one, else "other". The fast path is a
// lock-free map read.
func (h *Histograms) backendObserver(id string) prometheus.Observer {
	if o, ok := h.byBackend.Load(id); ok {
		return o.(prometheus.Observer)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.byBackend.Load(id); ok {
		return o.(prometheus.Observer)
	}
	if h.backends >= h.maxBack {
		return h.backendLat.WithLabelValues("other")
	}
	h.backends++
	o := h.backendLat.WithLabelValues(id)
	h.byBackend.Store(id, o)
	return o
}
