package tlsfront

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/httpfront"
	"github.com/edgekit/edgekit/internal/testcert"
)

// BenchmarkServeTLS: 1 KiB responses over TLS 1.3 keep-alive, HTTP/1.1,
// from httpfront beside net/http's server (the baseline), with the
// Front's config; and the cost of a full handshake.
func BenchmarkServeTLS(b *testing.B) {
	ca := testcert.NewCA(b)
	dir := b.TempDir()
	c, k := ca.Leaf(b, "a.test").Write(b, dir, "a")
	f, err := New(Config{Certificates: []Pair{{c, k}}, PollInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	body := strings.Repeat("x", 1024)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	for _, front := range []string{"httpfront", "net-http"} {
		b.Run(front, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			tln := tls.NewListener(ln, f.TLSConfig())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if front == "httpfront" {
				go func() { (&httpfront.Server{Handler: h}).Serve(ctx, tln); close(done) }()
			} else {
				srv := &http.Server{Handler: h}
				go func() { srv.Serve(tln); close(done) }()
				go func() { <-ctx.Done(); srv.Close() }()
			}
			defer func() { cancel(); <-done }()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"}, MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			url := "https://" + ln.Addr().String() + "/"
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := tr.RoundTrip(must(http.NewRequest("GET", url, nil)))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
	b.Run("handshake", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, c := net.Pipe()
			errc := make(chan error, 1)
			go func() { errc <- tls.Server(s, f.TLSConfig()).Handshake() }()
			if err := tls.Client(c, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"}).Handshake(); err != nil {
				b.Fatal(err)
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			s.Close()
			c.Close()
		}
	})
}

func must(r *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return r
}
