package blame

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

type shortBody struct {
	data string
	err  error
}

func (s *shortBody) Read(p []byte) (int, error) {
	if s.data == "" {
		return 0, s.err
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

func (s *shortBody) Close() error { return nil }

func TestBackendOrClient(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name    string
		req     func() *http.Request
		readAll bool
		err     error
		backend bool
	}{
		{"backend reset", func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, false, reset, true},
		{"backend timeout", func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, false, context.DeadlineExceeded, true},
		{"backend closed mid-response", func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, false, io.ErrUnexpectedEOF, true},
		{"no error", func() *http.Request { return httptest.NewRequest("GET", "/", nil) }, false, nil, false},
		{"client cancelled", func() *http.Request { return httptest.NewRequest("GET", "/", nil).WithContext(canceled) }, false, context.Canceled, false},
		{"short body", func() *http.Request {
			r := httptest.NewRequest("POST", "/", &shortBody{"abc", io.ErrUnexpectedEOF})
			r.ContentLength = 100
			return r
		}, true, io.ErrUnexpectedEOF, false},
		{"client reset mid-upload", func() *http.Request {
			return httptest.NewRequest("POST", "/", &shortBody{"abc", reset})
		}, true, reset, false},
		{"body read in full, backend reset", func() *http.Request {
			return httptest.NewRequest("POST", "/", strings.NewReader("abc"))
		}, true, reset, true},
		{"bad header value", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header["X-Bad"] = []string{"a\r\nGET /smuggled HTTP/1.1"}
			return r
		}, false, errors.New("h1: invalid header field value"), false},
		{"bad header name", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header["X Bad"] = []string{"v"}
			return r
		}, false, errors.New("invalid header field name"), false},
		{"bad Host", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = "a b"
			return r
		}, false, errors.New("invalid Host"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, body := WrapBody(c.req())
			if c.readAll {
				io.Copy(io.Discard, req.Body)
			}
			if got := Backend(req.Context(), req, body, c.err); got != c.backend {
				t.Fatalf("Backend = %v, want %v", got, c.backend)
			}
		})
	}
}

func TestReadAfterCloseIsNotTheClients(t *testing.T) {
	req, body := WrapBody(httptest.NewRequest("POST", "/", &shortBody{"", http.ErrBodyReadAfterClose}))
	req.Body.Close()
	req.Body.Read(make([]byte, 1))
	if body.Failed() {
		t.Fatal("a read after the transport closed the body counted as the client's")
	}
}

func TestWrapBodyLeavesBodylessRequestsAlone(t *testing.T) {
	for _, b := range []io.ReadCloser{nil, http.NoBody} {
		r := &http.Request{Method: "GET", Body: b}
		if r2, body := WrapBody(r); r2 != r || body != nil {
			t.Fatalf("%v: wrapped", b)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	if n := testing.AllocsPerRun(100, func() { WrapBody(r) }); n != 0 {
		t.Fatalf("%v allocs for a bodyless request", n)
	}
}
