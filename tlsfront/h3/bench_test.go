package h3

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/quic-go/http3"
)

// AltSvc on every HTTPS response over TCP: one field set, no allocation,
// beside the handler alone.
func BenchmarkAltSvc(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"handler", next}, {"AltSvc", AltSvc(443, 0, next)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

func TestAltSvcAllocatesNothing(t *testing.T) {
	h := AltSvc(443, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("AltSvc allocates %v times per response", n)
	}
}

// Requests over one HTTP/3 connection, 8 streams at once, to Serve (its
// own stream loop, with the HEADERS deadline) beside quic-go's
// http3.Server alone on the same kind of socket: the stream loop costs
// nothing measurable per request.
func BenchmarkServe(b *testing.B) {
	ca := testcert.NewCA(b)
	cert := ca.Leaf(b, "www.example.com").TLS(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	for _, bc := range []struct {
		name  string
		serve func(ctx context.Context, pc net.PacketConn) error
	}{
		{"http3.Server", func(ctx context.Context, pc net.PacketConn) error {
			srv := &http3.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
			go func() { <-ctx.Done(); srv.Close() }()
			srv.Serve(pc)
			return nil
		}},
		{"Serve", func(ctx context.Context, pc net.PacketConn) error {
			s, err := New(Config{Handler: h, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
			if err != nil {
				return err
			}
			return s.Serve(ctx, pc)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer pc.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- bc.serve(ctx, pc) }()
			defer func() { cancel(); <-done }()
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com"}}
			defer tr.Close()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			url := "https://" + pc.LocalAddr().String() + "/"
			b.ReportAllocs()
			b.SetParallelism(4) // 8 streams on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := cl.Get(url)
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
}
