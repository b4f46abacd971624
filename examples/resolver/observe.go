package main

// Observability wiring (-metrics, -pprof, -access-log, -otlp): package
// observe does the work, this file connects it to the resolver.

import (
	"context"
	"flag"
	"io"

	"github.com/edgekit/edgekit/observe"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
	"go.uber.org/zap"
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

// configure sets the resolver's hooks: the resolution and upstream RTT
// histograms always, a span per resolution with -otlp, and with
// -access-log a line per query answered (the resolver has no access log
// of its own: this is one, made from its hooks).
func (o *observer) configure(cfg *resolver.Config) {
	var spans, queries *resolver.Hooks
	if o.rt.Traced() {
		spans = opentelemetry.ResolverHooks(o.rt.Tracing)
	}
	if log := o.rt.AccessLog; log != nil {
		queries = &resolver.Hooks{QueryAnswered: func(e resolver.AnswerEvent) {
			if ce := log.Check(zap.InfoLevel, "query"); ce != nil {
				client := ""
				if e.Client != nil {
					client = e.Client.String()
				}
				ce.Write(zap.String("client", client), zap.String("name", e.Question.Name),
					zap.String("type", dns.TypeToString[e.Question.Qtype]), zap.String("rcode", dns.RcodeToString[e.Rcode]),
					zap.Duration("duration", e.Duration))
			}
		}}
	}
	cfg.Hooks = observe.JoinResolverHooks(o.rt.Histograms.ResolverHooks(), spans, queries)
}

// watch exports the resolver's counters.
func (o *observer) watch(r *resolver.Recursive) error {
	return o.rt.Registry.Register(prom.Resolver(r))
}

func (o *observer) close() {
	if o.rt != nil {
		o.rt.Close()
	}
}
