package httpfront

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// startFrontHandler serves h with front "edgekit" (Server) or "net/http"
// (http.Server) and returns its address.
func startFrontHandler(t *testing.T, front string, s *Server, h http.Handler) string {
	t.Helper()
	if front == "edgekit" {
		s.Handler = h
		return startServer(t, s)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// A request's context is cancelled when its client closes the connection
// while the handler runs, with net/http's Server as the reference: a
// handler blocked on r.Context().Done() (a proxy waiting for its backend)
// returns. With a body, the handler reads it whole first, as a proxy's
// transport does; the watch starts when no body is left to read.
func TestServerCancelsContextWhenClientLeavesDifferential(t *testing.T) {
	requests := map[string]string{
		"no body":      "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n",
		"fixed body":   "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"chunked body": "POST /wait HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	}
	for _, front := range []string{"edgekit", "net/http"} {
		for name, raw := range requests {
			t.Run(front+"/"+name, func(t *testing.T) {
				entered := make(chan struct{})
				ended := make(chan error, 1)
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if _, err := io.ReadAll(r.Body); err != nil {
						ended <- err
						return
					}
					close(entered)
					select {
					case <-r.Context().Done():
						ended <- r.Context().Err()
					case <-time.After(10 * time.Second):
						ended <- nil
					}
				})
				addr := startFrontHandler(t, front, &Server{}, h)
				c := dialRaw(t, addr)
				c.send(raw)
				<-entered
				c.c.Close()
				if err := <-ended; err != context.Canceled {
					t.Fatalf("handler ended with %v, want context.Canceled", err)
				}
			})
		}
	}
}

// A client that sends its next request while the handler of the previous
// one runs is not leaving: the byte the watch read is kept, the context
// stays alive, and both responses come back in order (RFC 9112 §9.3.2).
func TestServerPipelinedRequestIsNotALeaving(t *testing.T) {
	for _, withBody := range []bool{false, true} {
		watched := make(chan int, 4)
		s := &Server{onBackgroundRead: func(n int, err error) {
			if n > 0 {
				watched <- n
			}
		}}
		results := make(chan error, 1)
		entered := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			if r.URL.Path == "/first" {
				close(entered)
				<-watched // the next request's first byte has been read
				results <- r.Context().Err()
			}
			io.WriteString(w, r.URL.Path)
		})
		c := dialRaw(t, startServer(t, withHandler(s, h)))
		if withBody {
			c.send("POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
		} else {
			c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
		}
		<-entered // the second request is not buffered with the first
		c.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
		if err := <-results; err != nil {
			t.Fatalf("body %v: the first request's context ended (%v) when the second arrived", withBody, err)
		}
		for _, want := range []string{"/first", "/second"} {
			if r, b := c.read("GET"); r.StatusCode != http.StatusOK || b != want {
				t.Fatalf("body %v: got %d %q, want %q", withBody, r.StatusCode, b, want)
			}
		}
	}
}

func withHandler(s *Server, h http.Handler) *Server {
	s.Handler = h
	return s
}

// A handler that outlasts the head deadline is not taken for a departed
// client: the watch outlives the connection's read deadline (fake time).
func TestServerSlowHandlerKeepsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
				io.WriteString(w, "cancelled")
			case <-time.After(5 * time.Second):
				io.WriteString(w, "kept")
			}
		})
		serveInBubble(t, &Server{ReadHeaderTimeout: time.Second, Handler: h}, func(ln *pipeListener) {
			c := ln.dial()
			defer c.Close()
			r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
			r.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, b := r.read("GET"); b != "kept" {
				t.Fatalf("handler saw %q", b)
			}
		})
	})
}
