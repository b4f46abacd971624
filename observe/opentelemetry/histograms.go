package opentelemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/resolver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MaxBackends bounds the distinct backend attribute values of
// edgekit.balancer.backend.duration; later backends are recorded as
// "other".
const MaxBackends = 64

// Histograms are the latency distributions fed by the blocks' hooks,
// through the OTel metric API (package prom's Histograms, for an OTLP
// pipeline), in seconds:
//
//	edgekit.edge.first_byte.duration{cache}
//	edgekit.edge.origin_fetch.duration{kind}
//	edgekit.balancer.backend.duration{backend}
//	edgekit.resolver.resolution.duration
//	edgekit.resolver.upstream.rtt
//
// It is safe for concurrent use by multiple goroutines.
type Histograms struct {
	firstByte, originFetch, backend, resolution, rtt metric.Float64Histogram

	// The attribute sets, made once and passed as slices: an event
	// allocates nothing of ours.
	byOutcome [numOutcomes + 1][]metric.RecordOption
	byKind    [4][]metric.RecordOption

	mu        sync.Mutex // serialises adding backend attribute sets
	backends  int
	byBackend sync.Map // backend ID -> []metric.RecordOption
}

const numOutcomes = int(cache.OutcomeBypass) + 1

var fetchKinds = [4]string{"fetch", "revalidation", "background", "pass"}

// NewHistograms makes the instruments on a meter of mp.
func NewHistograms(mp metric.MeterProvider) (*Histograms, error) {
	m := mp.Meter(ScopeName)
	h := &Histograms{}
	var errs []error
	mk := func(name, desc string) metric.Float64Histogram {
		i, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	h.firstByte = mk("edgekit.edge.first_byte.duration", "Time from a request's start to its response head, by cache status.")
	h.originFetch = mk("edgekit.edge.origin_fetch.duration", "Time from sending a request to the origin to its response head (or failure), by kind.")
	h.backend = mk("edgekit.balancer.backend.duration", "Time from sending a request to a backend to its response head (or failure), by backend.")
	h.resolution = mk("edgekit.resolver.resolution.duration", "Time to resolve a question.")
	h.rtt = mk("edgekit.resolver.upstream.rtt", "Round-trip time of queries answered by name servers or forwarders.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("opentelemetry: instruments: %w", err)
	}
	for o := range numOutcomes {
		h.byOutcome[o] = attrs("cache", strings.ToLower(cache.Outcome(o).String()))
	}
	h.byOutcome[numOutcomes] = attrs("cache", "other")
	for i, k := range fetchKinds {
		h.byKind[i] = attrs("kind", k)
	}
	return h, nil
}

// EdgeTrace returns hooks for edge.Config.Trace that feed the edge
// histograms.
func (h *Histograms) EdgeTrace() *edge.Trace {
	return &edge.Trace{
		RequestDone: func(ctx context.Context, info edge.RequestInfo) {
			if info.Status == 0 {
				return
			}
			o := min(int(info.CacheStatus), numOutcomes)
			h.firstByte.Record(ctx, info.TTFB.Seconds(), h.byOutcome[o]...)
		},
		OriginFetchDone: func(ctx context.Context, f edge.FetchInfo) {
			k := 0
			switch {
			case f.Pass:
				k = 3
			case f.Background:
				k = 2
			case f.Revalidation:
				k = 1
			}
			h.originFetch.Record(ctx, f.Duration.Seconds(), h.byKind[k]...)
		},
	}
}

// BalancerTrace returns hooks for balancer.ProxyConfig.Trace that feed
// the backend latency histogram.
func (h *Histograms) BalancerTrace() *balancer.Trace {
	return &balancer.Trace{
		BackendDone: func(ctx context.Context, d balancer.BackendResult) {
			h.backend.Record(ctx, d.Latency.Seconds(), h.backendOptions(d.Backend.ID)...)
		},
	}
}

// ResolverHooks returns hooks for resolver.Config.Hooks that feed the
// resolution and upstream RTT histograms.
func (h *Histograms) ResolverHooks() *resolver.Hooks {
	return &resolver.Hooks{
		ResolveDone: func(ctx context.Context, e resolver.ResolveEvent) { h.resolution.Record(ctx, e.Duration.Seconds()) },
		UpstreamAnswered: func(e resolver.UpstreamEvent) {
			if e.Err == nil {
				h.rtt.Record(context.Background(), e.RTT.Seconds())
			}
		},
	}
}

// backendOptions returns the attribute set of a backend ID: its own while
// fewer than MaxBackends IDs have one, else "other".
func (h *Histograms) backendOptions(id string) []metric.RecordOption {
	if o, ok := h.byBackend.Load(id); ok {
		return o.([]metric.RecordOption)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.byBackend.Load(id); ok {
		return o.([]metric.RecordOption)
	}
	if h.backends >= MaxBackends {
		return attrs("backend", "other")
	}
	h.backends++
	o := attrs("backend", id)
	h.byBackend.Store(id, o)
	return o
}

// attrs is the record options of one attribute.
func attrs(k, v string) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))}
}
