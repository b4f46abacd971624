package opentelemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestResolverSpans: a resolution is a dns.resolve span under the asker's
// span, with the question and the rcode; the second ask, answered from
// the cache, is a span too.
func TestResolverSpans(t *testing.T) {
	h, err := resolvertest.New(resolvertest.Config{
		Files: []resolvertest.ZoneFile{{Addr: "127.0.0.4", Origin: "shop.example.", Text: `$TTL 300
shop.example. IN SOA ns.shop.example. admin.shop.example. 1 7200 3600 1209600 60
shop.example. IN NS ns.shop.example.
ns IN A 127.0.0.4
www IN A 192.0.2.30
`}},
		Delegate: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	r, err := resolver.New(resolver.Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, Timeout: time.Second,
		Hooks: opentelemetry.ResolverHooks(opentelemetry.Config{TracerProvider: tp})})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, parent := tp.Tracer("test").Start(context.Background(), "origin.fetch")
	q := dns.Question{Name: "www.shop.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	for range 2 {
		if _, err := r.Resolve(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	parent.End()
	spans := byName(rec.Ended(), "dns.resolve")
	if len(spans) != 2 {
		t.Fatalf("%d dns.resolve spans, want 2", len(spans))
	}
	for _, s := range spans {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("parent %v, want the asker's span", s.Parent())
		}
		if got := attr(s, "dns.question.name").AsString(); got != "www.shop.example." {
			t.Errorf("question %q", got)
		}
		if got := attr(s, "dns.response.rcode").AsString(); got != "NOERROR" {
			t.Errorf("rcode %q", got)
		}
	}
}
