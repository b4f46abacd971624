package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/httpfront"
	"github.com/edgekit/edgekit/origin"
)

// A client may send its request and then shut its sending side (a TCP
// half-close, RFC 9293 §3.6; `nc -N`) and still read the response. Both
// fronts end the request's context when the connection reads EOF; a
// request passed through (a POST) must still reach the origin and be
// answered (as Varnish and HAProxy, without abortonclose, do), not be
// aborted with "client fault: context canceled" (400 in 22 of 25 tries,
// counted as an origin error). The origin answers only once the front has
// seen the EOF (the request's context ended), so the order is certain.
func TestHalfClosedClientGetsItsResponse(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		for _, method := range []string{"POST", "GET"} {
			t.Run(front+"/"+method, func(t *testing.T) {
				var mu sync.Mutex
				sawEOF := map[string]chan struct{}{}
				eof := func(path string) chan struct{} {
					mu.Lock()
					defer mu.Unlock()
					if sawEOF[path] == nil {
						sawEOF[path] = make(chan struct{})
					}
					return sawEOF[path]
				}
				o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-eof(r.URL.Path):
					case <-r.Context().Done():
						return // the edge gave up on the request
					}
					w.Header().Set("Cache-Control", "max-age=60")
					io.WriteString(w, "answered")
				}))
				defer o.Close()
				pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: o.URL}}})
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				node, err := edge.New(edge.Config{Origin: pool})
				if err != nil {
					t.Fatal(err)
				}
				defer node.Close()
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var once sync.Once
					stop := context.AfterFunc(r.Context(), func() { once.Do(func() { close(eof(r.URL.Path)) }) })
					defer stop()
					node.ServeHTTP(w, r)
				})
				addr := serveFront(t, front, h)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a synchronisation
				io.WriteString(c, method+" /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
				if err := c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || string(b) != "answered" {
					t.Fatalf("%d %q, want 200 from the origin", resp.StatusCode, b)
				}
				if st := node.Stats(); st.OriginErrors != 0 {
					t.Fatalf("%d origin errors", st.OriginErrors)
				}
			})
		}
	}
}

// serveFront serves h on loopback with front "edgekit" (httpfront) or
// "net/http" and returns the address.
func serveFront(t *testing.T, front string, h http.Handler) string {
	t.Helper()
	if front == "net/http" {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&httpfront.Server{Handler: h}).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}
