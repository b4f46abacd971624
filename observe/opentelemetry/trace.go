// Package opentelemetry traces and measures edgekit's blocks with
// OpenTelemetry (go.opentelemetry.io/otel). The blocks carry no telemetry
// library: this package wraps their standard shapes (http.Handler,
// http.RoundTripper) and reads their Stats() and hooks.
//
// # Traces
//
// Handler puts a server span around each request an edge node or a
// balancer.Proxy serves ("edge.request": method, path, status, cache
// status, node name, response body size) and hands the request on with
// that span's W3C traceparent, so a proxy forwards it to its backend.
// Transport, around the edge's origin (an origin.Pool), opens a client
// span per origin fetch ("origin.fetch"), a child span per DNS lookup the
// fetch makes ("dns.resolve", through net/http/httptrace) and sends the
// fetch span's traceparent to the origin. A miss is thus one tree:
//
//	edge.request (server)
//	└── origin.fetch (client)        traceparent sent to the origin
//	    └── dns.resolve (internal)   when the connection needed a lookup
//
// A client's traceparent is not trusted by default (a client that picks
// the trace ID can pollute or join traces it has no business in): the
// edge span starts a new trace and links the client's span.
// Config.TrustIncoming makes it the parent instead, for a balancer or an
// edge behind a proxy of one's own.
//
// # Metrics
//
// RegisterMetrics reports the blocks' Stats through the OTel metric API
// as observable instruments read at collection time, and NewHistograms
// records the hooks' latencies (time to first byte, origin fetch, backend
// latency, resolution, upstream RTT) as OTel histograms: an alternative
// to package prom for an OTLP pipeline.
//
// # Concurrency
//
// Every handler, transport and registration here is safe for concurrent
// use by multiple goroutines and starts no goroutine of its own (the SDK's
// span processors and readers have theirs).
package opentelemetry

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the tracers and meters this
// package makes.
const ScopeName = "github.com/edgekit/edgekit/observe/opentelemetry"

// Attribute keys set on spans, beside OpenTelemetry's HTTP semantic
// conventions (http.request.method, http.response.status_code, url.path,
// server.address, http.response.body.size).
const (
	// AttrCacheStatus is the cache status of an edge request: hit,
	// miss, stale, revalidated, pass or bypass.
	AttrCacheStatus = attribute.Key("edgekit.cache.status")
	// AttrNode is the edge node's name (edge.Config.Name).
	AttrNode = attribute.Key("edgekit.node")
)

// Config configures Handler, Transport and the hooks. The zero value
// traces nothing (a no-op TracerProvider) and propagates W3C trace
// context. A plain value: copy it freely; safe to read from many goroutines while none changes it.
type Config struct {
	// TracerProvider makes the tracer. Nil means a no-op provider: no
	// global provider is read.
	TracerProvider trace.TracerProvider
	// Propagator reads and writes trace context in headers. Nil means
	// propagation.TraceContext{} (W3C traceparent and tracestate).
	Propagator propagation.TextMapPropagator
	// Node is the edge node's name, set as AttrNode on server spans.
	Node string
	// TrustIncoming makes a client's traceparent the parent of the
	// server span. False (the default) starts a new trace linked to it.
	TrustIncoming bool
	// SpanName names server spans. Empty means "edge.request".
	SpanName string
}

func (c Config) tracer() trace.Tracer {
	tp := c.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

func (c Config) propagator() propagation.TextMapPropagator {
	if c.Propagator == nil {
		return propagation.TraceContext{}
	}
	return c.Propagator
}

// Handler returns next wrapped in a server span per request. The request
// next sees carries the span in its context and, in its header, the
// span's traceparent in place of the client's (a header copy: the
// caller's request is not changed).
func Handler(next http.Handler, cfg Config) http.Handler {
	tr, prop := cfg.tracer(), cfg.propagator()
	name := cfg.SpanName
	if name == "" {
		name = "edge.request"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
		incoming := prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		if sc := trace.SpanContextFromContext(incoming); sc.IsValid() {
			if cfg.TrustIncoming {
				ctx = incoming
			} else {
				opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc}))
			}
		}
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
		}
		if cfg.Node != "" {
			attrs = append(attrs, AttrNode.String(cfg.Node))
		}
		opts = append(opts, trace.WithAttributes(attrs...))
		ctx, span := tr.Start(ctx, name, opts...)
		defer span.End()

		r2 := r.WithContext(ctx)
		r2.Header = r.Header.Clone()
		if r2.Header == nil {
			r2.Header = http.Header{}
		}
		r2.Header.Del("Traceparent")
		r2.Header.Del("Tracestate")
		prop.Inject(ctx, propagation.HeaderCarrier(r2.Header))

		rw := &recorder{ResponseWriter: w}
		defer func() {
			// A handler that panics (http.ErrAbortHandler on a cut body)
			// still ends its span, marked as an error.
			if p := recover(); p != nil {
				span.SetStatus(codes.Error, "handler aborted")
				rw.finish(span)
				panic(p)
			}
			rw.finish(span)
		}()
		next.ServeHTTP(rw, r2)
	})
}

// recorder notes the status, the cache status and the body size of a
// response. It passes Flush and Unwrap through (http.ResponseController).
type recorder struct {
	http.ResponseWriter
	status int
	cache  string
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.cache = CacheStatus(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *recorder) finish(span trace.Span) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	span.SetAttributes(
		attribute.Int("http.response.status_code", w.status),
		attribute.Int64("http.response.body.size", w.bytes),
	)
	if w.cache != "" {
		span.SetAttributes(AttrCacheStatus.String(w.cache))
	}
	if w.status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(w.status))
	}
}

// CacheStatus reads the cache status of a response from its X-Cache field
// (HIT, MISS, STALE, REVALIDATED, PASS) or, without one, from the last
// entry of its Cache-Status field (RFC 9211: "hit", or the fwd parameter:
// uri-miss, vary-miss and miss are a miss; stale a revalidation;
// request and bypass a bypass). Empty when neither says.
func CacheStatus(h http.Header) string {
	if x := h.Get("X-Cache"); x != "" {
		if v := strings.ToLower(strings.TrimSpace(x)); len(v) <= 16 {
			switch v {
			case "hit", "miss", "stale", "revalidated", "pass":
				return v
			}
		}
	}
	cs := h.Values("Cache-Status")
	if len(cs) == 0 {
		return ""
	}
	last := cs[len(cs)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	_, params, _ := strings.Cut(last, ";")
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case k == "hit":
			return "hit"
		case k == "fwd":
			switch strings.Trim(v, `"`) {
			case "uri-miss", "vary-miss", "miss":
				return "miss"
			case "stale":
				return "revalidated"
			case "request", "bypass", "method":
				return "pass"
			}
		}
	}
	return ""
}

// Transport returns next wrapped in a client span per request (an origin
// fetch: "origin.fetch"), child of the span in the request's context,
// with a child span per DNS lookup the request makes. The request sent
// carries the fetch span's traceparent (on a copy of the request).
func Transport(next http.RoundTripper, cfg Config) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{next: next, tr: cfg.tracer(), prop: cfg.propagator()}
}

type transport struct {
	next http.RoundTripper
	tr   trace.Tracer
	prop propagation.TextMapPropagator
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := t.tr.Start(r.Context(), "origin.fetch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Host),
			attribute.String("url.path", r.URL.Path),
		))
	defer span.End()
	ctx = httptrace.WithClientTrace(ctx, t.dnsTrace(ctx))
	out := r.Clone(ctx)
	out.Header.Del("Traceparent")
	out.Header.Del("Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}

// dnsTrace opens a "dns.resolve" span, child of the fetch span, between
// DNSStart and DNSDone. A transport may look up several hosts for one
// request (a failover, a redirect followed by a client), one at a time.
func (t *transport) dnsTrace(ctx context.Context) *httptrace.ClientTrace {
	var mu sync.Mutex
	var span trace.Span
	return &httptrace.ClientTrace{
		DNSStart: func(info httptrace.DNSStartInfo) {
			_, s := t.tr.Start(ctx, "dns.resolve", trace.WithAttributes(attribute.String("dns.question.name", info.Host)))
			mu.Lock()
			if span != nil {
				span.End()
			}
			span = s
			mu.Unlock()
		},
		DNSDone: func(info httptrace.DNSDoneInfo) {
			mu.Lock()
			s := span
			span = nil
			mu.Unlock()
			if s == nil {
				return
			}
			s.SetAttributes(attribute.Int("dns.answer.count", len(info.Addrs)))
			if info.Err != nil {
				s.RecordError(info.Err)
				s.SetStatus(codes.Error, info.Err.Error())
			}
			s.End()
		},
	}
}
