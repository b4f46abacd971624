package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkTransportHit measures a cache hit through Transport.RoundTrip
// beside the plain http.Transport fetching the same 1 KiB from a loopback
// server.
func BenchmarkTransportHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	run := func(b *testing.B, rt http.RoundTripper) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/obj", nil)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("cache.Transport", func(b *testing.B) {
		tr, _ := NewTransport(TransportConfig{})
		defer tr.Close()
		run(b, tr)
	})
	b.Run("http.Transport", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
}

// BenchmarkLookupHit measures HTTPCache.Lookup on a fresh stored response.
func BenchmarkLookupHit(b *testing.B) {
	c, _ := New(Config{Shared: true})
	req := httptest.NewRequest(http.MethodGet, "http://example.com/a.css", nil)
	c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: http.Header{
		"Cache-Control": {"max-age=3600"}, "Content-Type": {"text/css"}, "Etag": {`"x"`},
	}}, Body: make([]byte, 1024)})
	b.ReportAllocs()
	for b.Loop() {
		if l := c.Lookup(req); l.Decision != Fresh {
			b.Fatal(l.Decision)
		}
	}
}

// BenchmarkStoreSmall measures HTTPCache.Store of a small response under
// distinct keys (the fill path of a cache under a flood of misses).
func BenchmarkStoreSmall(b *testing.B) {
	c, _ := New(Config{Shared: true, MaxBytes: 64 << 20})
	hdr := http.Header{"Cache-Control": {"max-age=3600"}, "Content-Type": {"text/plain"}, "Etag": {`"x"`}}
	reqs := make([]*http.Request, 4096)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "http://example.com/o/"+strconv.Itoa(i), nil)
	}
	body := make([]byte, 56, 512)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Store(Exchange{Request: reqs[i%len(reqs)], Response: &http.Response{StatusCode: 200, Header: hdr}, Body: body})
		i++
	}
}
