package h1

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkTransport sends GETs for a 1 KiB body to a loopback backend
// through the pooled path beside a plain http.Transport (the library
// baseline), one request at a time and in parallel. Each request reuses
// an idle connection, so the cost of the reuse check shows here.
func BenchmarkTransport(b *testing.B) {
	body := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer backend.Close()
	for _, c := range []struct {
		name string
		tr   func() http.RoundTripper
	}{
		{"transport=h1", func() http.RoundTripper { return New(3*time.Second, false) }},
		{"transport=net/http", func() http.RoundTripper {
			return &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}
		}},
	} {
		for _, parallel := range []bool{false, true} {
			name := c.name + "/serial"
			if parallel {
				name = c.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				tr := c.tr()
				defer tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
				one := func() {
					req, _ := http.NewRequest("GET", backend.URL+"/x", nil)
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for b.Loop() {
						one()
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						one()
					}
				})
			})
		}
	}
}
