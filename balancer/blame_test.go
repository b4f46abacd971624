package balancer

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hostileClients sends requests whose failure is the client's doing, as
// an outside attacker would, through px and front (which reports each
// request's end on done): a header the transport refuses, a context the
// client cancelled, a body that ends early, a client that resets the
// connection mid-upload. Each kind is sent n times.
func hostileClients(t *testing.T, px http.Handler, front string, done <-chan struct{}, n int) {
	t.Helper()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for range n {
		// A header field value with CR LF (injected below the front,
		// which would refuse it: a middleware, a hand-written front).
		r := httptest.NewRequest("GET", "http://lb.test/bad-header", nil)
		r.Header["X-Bad"] = []string{"a\r\nGET /smuggled HTTP/1.1"}
		px.ServeHTTP(httptest.NewRecorder(), r)
		// Cancelled by its client.
		px.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://lb.test/canceled", nil).WithContext(canceled))
		// Announces 1000 bytes, sends 10 and closes; then the same with a
		// reset (SO_LINGER 0) instead of a FIN.
		for _, reset := range []bool{false, true} {
			c, err := net.Dial("tcp", front)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 1000\r\n\r\n0123456789")
			if reset {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			} else {
				c.(*net.TCPConn).CloseWrite()
			}
			<-done // the proxy has finished with it
			c.Close()
		}
	}
}

// TestClientsCannotEjectBackends: requests whose fault is the client's
// never count toward a backend's ejection (as Envoy's outlier detection
// counts only upstream faults); a backend that really fails still is
// ejected.
func TestClientsCannotEjectBackends(t *testing.T) {
	backend := func() string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}))
		t.Cleanup(s.Close)
		return strings.TrimPrefix(s.URL, "http://")
	}
	pool := newPool(t, Config{Outlier: OutlierDetection{Consecutive: 3}},
		Backend{ID: "a", Addr: backend()}, Backend{ID: "b", Addr: backend()})
	px, err := NewProxy(ProxyConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		px.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	defer func() { front.Close(); px.CloseIdleConnections() }()

	hostileClients(t, px, strings.TrimPrefix(front.URL, "http://"), done, 15)
	for _, st := range pool.Stats() {
		if st.State != Healthy || st.Failures != 0 {
			t.Errorf("backend %s after hostile clients: %v, %d failures", st.ID, st.State, st.Failures)
		}
	}
	// The client's fault is answered as such, not as a bad gateway.
	r := httptest.NewRequest("GET", "http://lb.test/", nil)
	r.Header["X-Bad"] = []string{"a\nb"}
	rec := httptest.NewRecorder()
	px.ServeHTTP(rec, r)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("refused header: %d, want 400", rec.Code)
	}

	// A backend that refuses connections is the backend's failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	if err := pool.Add(Backend{ID: "dead", Addr: dead}); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, httptest.NewRequest("GET", "http://lb.test/", nil))
		if rec.Code != 200 {
			t.Fatalf("GET with a dead backend in the pool: %d (retries should reach a live one)", rec.Code)
		}
	}
	for _, st := range pool.Stats() {
		if want := st.ID == "dead"; (st.State == Ejected) != want {
			t.Errorf("backend %s: %v", st.ID, st.State)
		}
	}
}
