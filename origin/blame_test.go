package origin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// clientBody is a request body as a server hands it on when its client
// misbehaves: some bytes, then an error (a short body, a reset).
type clientBody struct {
	data string
	err  error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.data == "" {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func (b *clientBody) Close() error { return nil }

// TestClientsCannotEjectOrigins: requests whose fault is the client's (a
// header the transport refuses, a body that ends early, a client reset
// mid-upload, a cancelled context) never count toward an origin's
// ejection, where 4 of them used to eject both origins of an edge; a dead
// origin is still ejected.
func TestClientsCannotEjectOrigins(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	readAll := func() string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // waits for the whole body, as an upload handler does
			io.WriteString(w, "ok")
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	p := newPool(t, Config{Origins: []Origin{{Name: "a", URL: readAll()}, {Name: "b", URL: readAll(), Priority: 1}}, EjectAfter: 2, Now: fc.Now})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	hostile := []func() *http.Request{
		func() *http.Request {
			r := httptest.NewRequest("GET", "http://site.example/", nil)
			r.Header["X-Bad"] = []string{"a\r\nGET /smuggled HTTP/1.1"}
			return r
		},
		func() *http.Request {
			r := httptest.NewRequest("PUT", "http://site.example/upload", &clientBody{"0123456789", io.ErrUnexpectedEOF})
			r.ContentLength = 1000
			return r
		},
		func() *http.Request {
			r := httptest.NewRequest("POST", "http://site.example/upload", &clientBody{"0123456789", reset})
			r.ContentLength = -1
			return r
		},
		func() *http.Request {
			return httptest.NewRequest("GET", "http://site.example/", nil).WithContext(canceled)
		},
	}
	for range 10 {
		for _, mk := range hostile {
			r := mk()
			r.RequestURI = ""
			if resp, err := p.RoundTrip(r); err == nil {
				resp.Body.Close()
			}
		}
	}
	for _, st := range p.Stats() {
		if st.State != Healthy || st.Errors != 0 || st.Ejections != 0 {
			t.Errorf("origin %s after hostile clients: %v, %d errors, %d ejections", st.Name, st.State, st.Errors, st.Ejections)
		}
	}
	if body, _ := get(t, p, "/"); body != "ok" {
		t.Fatalf("after hostile clients: %q", body)
	}

	// A dead origin (connection refused) is the origin's failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	p2 := newPool(t, Config{Origins: []Origin{{Name: "dead", URL: dead}, {Name: "live", URL: readAll(), Priority: 1}}, EjectAfter: 2, Now: fc.Now})
	for range 2 {
		get(t, p2, "/")
	}
	for _, st := range p2.Stats() {
		if want := st.Name == "dead"; (st.State == Ejected) != want {
			t.Errorf("origin %s: %v", st.Name, st.State)
		}
	}
}
