package opentelemetry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/origin"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The span tree of a miss: the node's hooks make the edge span and the
// origin fetch span, the fetch's DNS lookup a third, and the origin
// receives the fetch span's traceparent.
func ExampleEdgeTrace() {
	var got string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Traceparent")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello, traced world")
	}))
	defer site.Close()
	pool, _ := origin.New(origin.Config{Origins: []origin.Origin{{URL: strings.Replace(site.URL, "127.0.0.1", "localhost", 1), Name: "site"}}})
	defer pool.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	node, _ := edge.New(edge.Config{Name: "e1", Origin: pool,
		Trace: opentelemetry.EdgeTrace(opentelemetry.Config{TracerProvider: tp, Node: "e1"})})
	defer node.Close()
	node.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://shop.test/a", nil))

	spans := rec.Ended()
	var print func(parent trace.SpanID, depth int)
	print = func(parent trace.SpanID, depth int) {
		for _, s := range spans {
			if s.Parent().SpanID() != parent {
				continue
			}
			var attrs []string
			for _, kv := range s.Attributes() {
				switch kv.Key {
				case "edgekit.cache.status", "edgekit.node", "http.response.status_code", "http.response.body.size", "dns.question.name":
					attrs = append(attrs, fmt.Sprintf("%s=%s", kv.Key, kv.Value.String()))
				}
			}
			fmt.Printf("%s%s (%s) %s\n", strings.Repeat("  ", depth), s.Name(), s.SpanKind(), strings.Join(attrs, " "))
			if s.Name() == "origin.fetch" {
				fmt.Printf("%s  (origin saw this span's traceparent: %v)\n", strings.Repeat("  ", depth), strings.Contains(got, s.SpanContext().SpanID().String()))
			}
			print(s.SpanContext().SpanID(), depth+1)
		}
	}
	print(trace.SpanID{}, 0)
	// Output:
	// edge.request (server) edgekit.node=e1 edgekit.cache.status=miss http.response.status_code=200 http.response.body.size=19
	//   origin.fetch (client) http.response.status_code=200
	//     (origin saw this span's traceparent: true)
	//     dns.resolve (internal) dns.question.name=localhost
}
