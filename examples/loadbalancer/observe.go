package main

// Observability wiring (-metrics, -pprof, -access-log, -otlp): package
// observe does the work, this file connects it to the pool and the proxy.

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/observe"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/observe/prom"
)

// observer holds the observability flags and what they started.
type observer struct {
	flags observe.Flags
	rt    *observe.Runtime
	pool  atomic.Pointer[balancer.Pool] // for /readyz, once built
}

func (o *observer) register(fs *flag.FlagSet) { o.flags.Register(fs) }

// start checks the flags and starts the admin server and the tracer.
func (o *observer) start(ctx context.Context, out io.Writer) error {
	rt, err := observe.Start(ctx, o.flags, observe.Options{Service: "loadbalancer", Out: out, Ready: o.ready})
	if err != nil {
		return err
	}
	o.rt = rt
	return nil
}

// ready: not before the pool is built, and not while no backend is
// healthy.
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
	return errors.New("no backend is healthy")
}

// watch exports the pool's counters.
func (o *observer) watch(pool *balancer.Pool) error {
	o.pool.Store(pool)
	return o.rt.Registry.Register(prom.Balancer(pool))
}

// configure sets the proxy's hooks: the backend latency histogram, and
// the access log with -access-log.
func (o *observer) configure(cfg *balancer.ProxyConfig) {
	cfg.Trace = o.rt.Histograms.BalancerTrace()
	cfg.AccessLog = o.rt.AccessLog
}

// handler puts a span around each proxied request; the proxy forwards
// its traceparent to the backend.
func (o *observer) handler(px http.Handler) http.Handler {
	if !o.rt.Traced() {
		return px
	}
	cfg := o.rt.Tracing
	cfg.SpanName = "balancer.request"
	return opentelemetry.Handler(px, cfg)
}

func (o *observer) close() {
	if o.rt != nil {
		o.rt.Close()
	}
}
