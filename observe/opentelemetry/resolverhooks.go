package opentelemetry

import (
	"context"

	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ResolverHooks returns hooks for resolver.Config.Hooks that put a span
// around each resolution ("dns.resolve": the question's name and type,
// the answer's rcode), child of the span in the asker's context: under an
// edge's origin fetch when the edge dials through the resolver, a root
// span for a query from a DNS client. A resolution shared by several
// askers runs once, under the first one's span.
func ResolverHooks(cfg Config) *resolver.Hooks {
	tr := cfg.tracer()
	return &resolver.Hooks{
		ResolveStart: func(ctx context.Context, q dns.Question) context.Context {
			ctx, _ = tr.Start(ctx, "dns.resolve", trace.WithAttributes(
				attribute.String("dns.question.name", q.Name),
				attribute.String("dns.question.type", dns.TypeToString[q.Qtype]),
			))
			return ctx
		},
		ResolveDone: func(ctx context.Context, e resolver.ResolveEvent) {
			span := trace.SpanFromContext(ctx)
			if e.Err != nil {
				span.RecordError(e.Err)
				span.SetStatus(codes.Error, e.Err.Error())
			} else {
				span.SetAttributes(attribute.String("dns.response.rcode", dns.RcodeToString[e.Rcode]))
				if e.Rcode == dns.RcodeServerFailure {
					span.SetStatus(codes.Error, "SERVFAIL")
				}
			}
			span.End()
		},
	}
}
