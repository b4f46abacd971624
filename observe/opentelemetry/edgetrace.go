package opentelemetry

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"

	"github.com/edgekit/edgekit/edge"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// EdgeTrace returns hooks for edge.Config.Trace that make the same span
// tree as Handler and Transport, from the node's own events: the cache
// status is the engine's (not read back from a header), and background
// revalidations, which no client waits for, get a span of their own
// ("origin.fetch" as a root, attribute edgekit.background). Use either
// EdgeTrace or Handler and Transport on a node, not both.
func EdgeTrace(cfg Config) *edge.Trace {
	tr, prop := cfg.tracer(), cfg.propagator()
	name := cfg.SpanName
	if name == "" {
		name = "edge.request"
	}
	t := &transport{tr: tr, prop: prop}
	return &edge.Trace{
		RequestStart: func(ctx context.Context, r *http.Request) context.Context {
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
			incoming := prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			if sc := trace.SpanContextFromContext(incoming); sc.IsValid() {
				if cfg.TrustIncoming {
					ctx = incoming
				} else {
					opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc}))
				}
			}
			attrs := []attribute.KeyValue{attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)}
			if cfg.Node != "" {
				attrs = append(attrs, AttrNode.String(cfg.Node))
			}
			ctx, _ = tr.Start(ctx, name, append(opts, trace.WithAttributes(attrs...))...)
			return ctx
		},
		RequestDone: func(ctx context.Context, info edge.RequestInfo) {
			span := trace.SpanFromContext(ctx)
			span.SetAttributes(
				AttrCacheStatus.String(strings.ToLower(info.CacheStatus.String())),
				attribute.Int("http.response.status_code", info.Status),
				attribute.Int64("http.response.body.size", info.Bytes),
			)
			if info.Node != "" && cfg.Node == "" {
				span.SetAttributes(AttrNode.String(info.Node))
			}
			if info.Status >= 500 || info.Status == 0 {
				span.SetStatus(codes.Error, strconv.Itoa(info.Status))
			}
			span.End()
		},
		OriginFetchStart: func(ctx context.Context, f edge.FetchStart) context.Context {
			r := f.Request
			ctx, _ = tr.Start(ctx, "origin.fetch", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("server.address", r.URL.Host),
				attribute.String("url.path", r.URL.Path),
				attribute.Bool("edgekit.revalidation", f.Revalidation),
				attribute.Bool("edgekit.background", f.Background),
			))
			r.Header.Del("Traceparent")
			r.Header.Del("Tracestate")
			prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
			return httptrace.WithClientTrace(ctx, t.dnsTrace(ctx))
		},
		OriginFetchDone: func(ctx context.Context, f edge.FetchInfo) {
			span := trace.SpanFromContext(ctx)
			if f.Err != nil {
				span.RecordError(f.Err)
				span.SetStatus(codes.Error, f.Err.Error())
			} else {
				span.SetAttributes(attribute.Int("http.response.status_code", f.Status))
				if f.Status >= 500 {
					span.SetStatus(codes.Error, strconv.Itoa(f.Status))
				}
			}
			span.End()
		},
	}
}
