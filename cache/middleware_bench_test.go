package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkMiddlewareHit measures a cache hit through Middleware.Wrap
// (no Trace) beside the plain handler it wraps serving the same 1 KiB,
// both writing to a ResponseWriter that discards.
func BenchmarkMiddlewareHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	})
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, "http://example.com/obj", nil)
		w := nopWriter{http.Header{}}
		h.ServeHTTP(w, req) // the miss that fills the cache
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	}
	b.Run("Middleware", func(b *testing.B) {
		mw, err := NewMiddleware(MiddlewareConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer mw.Close()
		run(b, mw.Wrap(next))
	})
	b.Run("Handler", func(b *testing.B) { run(b, next) })
}

// BenchmarkMiddlewareHitTraced is BenchmarkMiddlewareHit's Middleware with
// a Trace whose RequestStart and RequestDone do nothing: what the request
// events cost a hit.
func BenchmarkMiddlewareHitTraced(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, strings.Repeat("x", 1024))
	})
	mw, err := NewMiddleware(MiddlewareConfig{Trace: &Trace{
		RequestStart: func(ctx context.Context, r *http.Request) context.Context { return ctx },
		RequestDone:  func(context.Context, RequestInfo) {},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer mw.Close()
	h := mw.Wrap(next)
	req := httptest.NewRequest(http.MethodGet, "http://example.com/obj", nil)
	w := nopWriter{http.Header{}}
	h.ServeHTTP(w, req)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
