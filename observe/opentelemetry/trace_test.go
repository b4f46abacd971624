package opentelemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/origin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// miss is a traced edge in front of an origin that records the
// traceparent it is sent.
type miss struct {
	handler http.Handler
	rec     *tracetest.SpanRecorder
	mu      sync.Mutex
	seen    []string // traceparent fields the origin received
}

func newMiss(t *testing.T, trust, hooks bool) *miss {
	t.Helper()
	m := &miss{rec: tracetest.NewSpanRecorder()}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, r.Header.Get("Traceparent"))
		m.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "hello, traced world")
	}))
	t.Cleanup(site.Close)
	// "localhost" so that the fetch makes a DNS lookup (answered from
	// the hosts file: nothing leaves the machine).
	u := strings.Replace(site.URL, "127.0.0.1", "localhost", 1)
	pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: u, Name: "site"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(m.rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	cfg := opentelemetry.Config{TracerProvider: tp, Node: "e1", TrustIncoming: trust}
	if hooks {
		// The node's own events make the spans (edge.Config.Trace).
		node, err := edge.New(edge.Config{Name: "e1", Origin: pool, Trace: opentelemetry.EdgeTrace(cfg)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		m.handler = node
		return m
	}
	node, err := edge.New(edge.Config{Name: "e1", Origin: opentelemetry.Transport(pool, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	m.handler = opentelemetry.Handler(node, cfg)
	return m
}

// clientParent is a traceparent a client might send (W3C Trace Context
// §3.2).
const clientParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func (m *miss) get(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", "http://shop.test"+path, nil)
	r.Header.Set("Traceparent", clientParent)
	w := httptest.NewRecorder()
	m.handler.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d", path, w.Code)
	}
	return w
}

func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestMissSpanTree: a miss is edge.request → origin.fetch → dns.resolve,
// the origin receives the fetch span's traceparent (W3C Trace Context
// §3.2), and a client's traceparent starts no trace of ours: the edge span
// is a new root that links it.
func TestMissSpanTree(t *testing.T) {
	t.Run("wrappers", func(t *testing.T) { missSpanTree(t, false) })
	t.Run("hooks", func(t *testing.T) { missSpanTree(t, true) })
}

func missSpanTree(t *testing.T, hooks bool) {
	m := newMiss(t, false, hooks)
	m.get(t, "/a")
	spans := m.rec.Ended()
	edges, fetches, lookups := byName(spans, "edge.request"), byName(spans, "origin.fetch"), byName(spans, "dns.resolve")
	if len(edges) != 1 || len(fetches) != 1 || len(lookups) != 1 {
		t.Fatalf("spans: %d edge.request, %d origin.fetch, %d dns.resolve; want 1 each", len(edges), len(fetches), len(lookups))
	}
	e, f, d := edges[0], fetches[0], lookups[0]
	if e.Parent().IsValid() {
		t.Errorf("edge span has parent %v: an untrusted client chose our trace", e.Parent())
	}
	if e.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" {
		t.Error("edge span took the client's trace ID")
	}
	if l := e.Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("edge span links %v, want the client's span", l)
	}
	if e.SpanKind() != trace.SpanKindServer || f.SpanKind() != trace.SpanKindClient {
		t.Errorf("kinds %v, %v", e.SpanKind(), f.SpanKind())
	}
	if f.Parent().SpanID() != e.SpanContext().SpanID() || f.SpanContext().TraceID() != e.SpanContext().TraceID() {
		t.Errorf("origin.fetch parent %v, want the edge span %v", f.Parent(), e.SpanContext())
	}
	if d.Parent().SpanID() != f.SpanContext().SpanID() {
		t.Errorf("dns.resolve parent %v, want the fetch span", d.Parent())
	}
	if got := attr(d, "dns.question.name").AsString(); got != "localhost" {
		t.Errorf("dns.question.name %q", got)
	}
	if got := attr(e, opentelemetry.AttrCacheStatus).AsString(); got != "miss" {
		t.Errorf("cache status %q, want miss", got)
	}
	if got := attr(e, opentelemetry.AttrNode).AsString(); got != "e1" {
		t.Errorf("node %q", got)
	}
	if got := attr(e, "http.response.body.size").AsInt64(); got != int64(len("hello, traced world")) {
		t.Errorf("body size %d", got)
	}
	m.mu.Lock()
	seen := m.seen
	m.mu.Unlock()
	want := "00-" + f.SpanContext().TraceID().String() + "-" + f.SpanContext().SpanID().String() + "-01"
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("origin saw traceparent %q, want %q", seen, want)
	}

	// A hit: an edge span, no fetch.
	m.get(t, "/a")
	spans = m.rec.Ended()
	if n := len(byName(spans, "origin.fetch")); n != 1 {
		t.Errorf("%d origin fetches after a hit, want 1", n)
	}
	edges = byName(spans, "edge.request")
	if got := attr(edges[len(edges)-1], opentelemetry.AttrCacheStatus).AsString(); got != "hit" {
		t.Errorf("second request's cache status %q, want hit", got)
	}
}

// TestTrustIncoming: behind a proxy of one's own, the client's span is the
// edge span's parent and the trace goes on to the origin.
func TestTrustIncoming(t *testing.T) {
	for _, hooks := range []bool{false, true} {
		trustIncoming(t, newMiss(t, true, hooks))
	}
}

func trustIncoming(t *testing.T, m *miss) {
	m.get(t, "/b")
	e := byName(m.rec.Ended(), "edge.request")[0]
	if got := e.Parent().SpanID().String(); got != "b7ad6b7169203331" {
		t.Errorf("edge span parent %s, want the client's span", got)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) != 1 || !strings.HasPrefix(m.seen[0], "00-0af7651916cd43dd8448eb211c80319c-") {
		t.Errorf("origin saw %q, want the client's trace", m.seen)
	}
}

// TestHandlerPropagatesToNext: a proxy behind Handler (balancer.Proxy
// forwards request fields) sees the server span's traceparent, not the
// client's, and the caller's request is left as it was.
func TestHandlerPropagatesToNext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	var got string
	h := opentelemetry.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Traceparent")
	}), opentelemetry.Config{TracerProvider: tp, SpanName: "balancer.request"})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Traceparent", clientParent)
	h.ServeHTTP(httptest.NewRecorder(), r)
	s := rec.Ended()[0]
	if s.Name() != "balancer.request" {
		t.Errorf("span %q", s.Name())
	}
	if want := (propagation.TraceContext{}); want.Fields()[0] != "traceparent" {
		t.Fatal("propagator fields changed")
	}
	if !strings.Contains(got, s.SpanContext().SpanID().String()) {
		t.Errorf("next saw %q, want the span %s", got, s.SpanContext().SpanID())
	}
	if r.Header.Get("Traceparent") != clientParent {
		t.Error("the caller's request was changed")
	}
}

// TestCacheStatus reads X-Cache and RFC 9211 Cache-Status (§2.1 hit, §2.2
// fwd).
func TestCacheStatus(t *testing.T) {
	for _, c := range []struct{ xcache, status, want string }{
		{"HIT", "", "hit"},
		{"", "edgekit; hit; ttl=30", "hit"},
		{"", "edgekit; fwd=uri-miss; stored", "miss"},
		{"", "upstream; hit, edgekit; fwd=miss", "miss"},
		{"", "edgekit; fwd=stale; fwd-status=304", "revalidated"},
		{"", "edgekit; fwd=request", "pass"},
		{"", "", ""},
		{"bogus", "garbage;;;=", ""},
	} {
		h := http.Header{}
		if c.xcache != "" {
			h.Set("X-Cache", c.xcache)
		}
		if c.status != "" {
			h.Set("Cache-Status", c.status)
		}
		if got := opentelemetry.CacheStatus(h); got != c.want {
			t.Errorf("X-Cache %q Cache-Status %q: %q, want %q", c.xcache, c.status, got, c.want)
		}
	}
}
