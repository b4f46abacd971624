package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

type nopOrigin struct{ body string }

func (o nopOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=86400"}, "Content-Type": {"text/plain"},
		"Date": {time.Now().UTC().Format(http.TimeFormat)}}, Body: io.NopCloser(strings.NewReader(o.body)), Request: r}, nil
}

// discard is a minimal ResponseWriter, so the benchmark measures the
// handler, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkEdgeHit serves a 1 KiB cached object through Node.ServeHTTP,
// beside a bare handler writing the same bytes and headers, from one core
// and from all of them.
func BenchmarkEdgeHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	req := httptest.NewRequest(http.MethodGet, "http://example.com/asset.js", nil)
	n, err := New(Config{Origin: nopOrigin{body}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	n.ServeHTTP(&discard{h: http.Header{}}, req) // fill
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Cache-Control"] = []string{"max-age=86400"}
		hd["Content-Type"] = []string{"text/plain"}
		hd["Content-Length"] = []string{"1024"}
		w.WriteHeader(200)
		io.WriteString(w, body)
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"edge.Node", n}, {"bare handler", bare}} {
		b.Run(c.name, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.h.ServeHTTP(w, req)
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := req.Clone(req.Context())
				w := &discard{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					c.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkEdgeMiss serves distinct small objects through Node.ServeHTTP,
// each a miss that fetches from an in-process origin and stores.
func BenchmarkEdgeMiss(b *testing.B) {
	n, err := New(Config{Origin: nopOrigin{"small body of fifty-six bytes, as in the memory probe."}, MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(w.h)
		n.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://example.com/o/"+strconv.Itoa(i), nil))
		i++
	}
}
