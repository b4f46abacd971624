package main

// Observability wiring (-metrics, -pprof, -access-log, -otlp): package
// observe does the work, this file connects it to the node.

import (
	"context"
	"errors"
	"flag"
	"io"
	"sync/atomic"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/edgekit/edgekit/origin"
)

// observer holds the observability flags and what they started.
type observer struct {
	flags observe.Flags
	rt    *observe.Runtime
	pool  atomic.Pointer[origin.Pool] // for /readyz, once built
}

func (o *observer) register(fs *flag.FlagSet) { o.flags.Register(fs) }

// start checks the flags and starts the admin server and the tracer.
func (o *observer) start(ctx context.Context, out io.Writer, name string) error {
	rt, err := observe.Start(ctx, o.flags, observe.Options{Service: "edge", Out: out, Ready: o.ready})
	if err != nil {
		return err
	}
	o.rt = rt
	o.rt.Tracing.Node = name
	return nil
}

// ready: not before the origins are set up, and not while every origin
// is down (the node could serve only what it has stored).
func (o *observer) ready() error {
	p := o.pool.Load()
	if p == nil {
		return errors.New("starting")
	}
	for _, s := range p.Stats() {
		if s.State == balancer.Healthy {
			return nil
		}
	}
	return errors.New("no origin is healthy")
}

// configure sets the node's hooks: the latency histograms always, spans
// (edge request, origin fetch, DNS lookup) with -otlp, the access log
// with -access-log.
func (o *observer) configure(cfg *edge.Config, pool *origin.Pool) {
	o.pool.Store(pool)
	var spans *edge.Trace
	if o.rt.Traced() {
		spans = opentelemetry.EdgeTrace(o.rt.Tracing)
	}
	cfg.Trace = observe.JoinEdgeTraces(o.rt.Histograms.EdgeTrace(), spans)
	cfg.AccessLog = o.rt.AccessLog
}

// watch exports the node's and the origins' counters.
func (o *observer) watch(node *edge.Node, pool *origin.Pool) error {
	return errors.Join(o.rt.Registry.Register(prom.Edge(node)), o.rt.Registry.Register(prom.Origins(pool)))
}

func (o *observer) close() {
	if o.rt != nil {
		o.rt.Close()
	}
}
