package cache

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTraceRequestDoneOnAbort: an origin that fails mid-body after the
// head was sent aborts the client's response (http.ErrAbortHandler, so
// the client sees it truncated, RFC 9112 §8); RequestDone is still
// called, once, with the status and the bytes written, and the panic
// goes on to the server.
func TestTraceRequestDoneOnAbort(t *testing.T) {
	var log traceLog
	c, _ := New(Config{Shared: true})
	e, err := NewEngine(EngineConfig{Cache: c, MaxObjectBytes: 16, Trace: log.trace(),
		Upstream: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			body := io.MultiReader(strings.NewReader(strings.Repeat("a", 40<<10)), errReader{errors.New("origin reset")})
			return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}},
				Body: io.NopCloser(body), ContentLength: -1, Request: r}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("panic %v, want http.ErrAbortHandler", p)
			}
		}()
		e.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/cut", nil))
	}()
	if n := log.doneCount(); n != 1 {
		t.Fatalf("%d RequestDone, want 1", n)
	}
	d := log.lastDone(t)
	if d.Status != 200 || d.CacheStatus != OutcomeMiss || d.Bytes != int64(w.Body.Len()) || d.Bytes == 0 {
		t.Fatalf("aborted: %+v (client got %d bytes)", d, w.Body.Len())
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
