package main

// Observability wiring (-metrics, -pprof, -access-log, -otlp): package
// observe does the work, this file connects it to the resolver.

import (
	"context"
	"flag"
	"io"

	"github.com/edgekit/edgekit/observe"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/edgekit/edgekit/resolver"
)

// observer holds the observability flags and what they started.
type observer struct {
	flags observe.Flags
	rt    *observe.Runtime
}

func (o *observer) register(fs *flag.FlagSet) { o.flags.Register(fs) }

// start checks the flags and starts the admin server and the tracer.
func (o *observer) start(ctx context.Context, out io.Writer) error {
	rt, err := observe.Start(ctx, o.flags, observe.Options{Service: "resolver", Out: out})
	if err != nil {
		return err
	}
	o.rt = rt
	return nil
}

// configure sets the resolver's hooks (none yet).
func (o *observer) configure(cfg *resolver.Config) {}

// watch exports the resolver's counters.
func (o *observer) watch(r *resolver.Recursive) error {
	return o.rt.Registry.Register(prom.Resolver(r))
}

func (o *observer) close() {
	if o.rt != nil {
		o.rt.Close()
	}
}
