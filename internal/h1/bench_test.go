package h1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkTransport sends GETs for a 1 KiB body to a loopback backend
// through the pooled path beside a plain http.Transport (the library
// baseline), one request at a time and in parallel. Each GET reuses an
// idle connection, so the cost of the reuse check shows here. The POSTs
// (a 1 KiB request body) show the cost of a connection per request with
// a body, against http.Transport reusing its connections.
func BenchmarkTransport(b *testing.B) {
	body := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, body)
	}))
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
		for _, method := range []string{"GET", "POST"} {
			for _, parallel := range []bool{false, true} {
				name := c.name + "/" + method + "/serial"
				if parallel {
					name = c.name + "/" + method + "/parallel"
				}
				b.Run(name, func(b *testing.B) {
					tr := c.tr()
					defer tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
					one := func() {
						var rb io.Reader
						if method == "POST" {
							rb = strings.NewReader(body)
						}
						req, _ := http.NewRequest(method, backend.URL+"/x", rb)
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
}

// idleConn dials a loopback listener that accepts and stays silent, and
// returns the pooled-path connection over it.
func idleConn(tb testing.TB) *conn {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	peer := <-accepted
	tb.Cleanup(func() { nc.Close(); ln.Close(); peer.Close() })
	tr := &Transport{}
	tr.init()
	return tr.newConn(ln.Addr().String(), nc)
}

// BenchmarkIdleCheck is the check a pooled connection passes before
// reuse, alone: the buffered count and a non-blocking peek at the socket.
func BenchmarkIdleCheck(b *testing.B) {
	c := idleConn(b)
	b.ReportAllocs()
	for b.Loop() {
		if c.unsolicited() != "" {
			b.Fatal("a silent peer sent something")
		}
	}
}

// The reuse check allocates nothing.
func TestIdleCheckAllocs(t *testing.T) {
	c := idleConn(t)
	if n := testing.AllocsPerRun(100, func() { c.unsolicited() }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
