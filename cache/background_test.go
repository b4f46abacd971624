package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// hangingBase answers its first request with a response that may be
// served stale while revalidating (RFC 5861 §3), then hangs every later
// request until its context ends, recording why it ended.
type hangingBase struct {
	calls atomic.Int32
	ended chan error
}

func (b *hangingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.calls.Add(1) == 1 {
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Date": {time.Now().UTC().Format(http.TimeFormat)},
				"Cache-Control": {"max-age=10, stale-while-revalidate=300"}},
			Body: io.NopCloser(strings.NewReader("v1")), ContentLength: 2, Request: req}, nil
	}
	<-req.Context().Done()
	b.ended <- context.Cause(req.Context())
	return nil, req.Context().Err()
}

// RFC 5861 §3: a background revalidation that no client waits for is
// bounded: against an origin that never answers it ends at
// RevalidateTimeout (before, it ran until Close).
func TestRFC5861_3_BackgroundRevalidationTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := &hangingBase{ended: make(chan error, 1)}
		tr, err := NewTransport(TransportConfig{Base: base, RevalidateTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		get := func() string {
			req, _ := http.NewRequest(http.MethodGet, "http://origin.test/x", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.Header.Get(XCache)
		}
		if got := get(); got != "MISS" {
			t.Fatalf("first: %s", got)
		}
		time.Sleep(20 * time.Second) // stale, within stale-while-revalidate
		if got := get(); got != "STALE" {
			t.Fatalf("second: %s", got)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		select {
		case err := <-base.ended:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("revalidation ended with %v, want the timeout", err)
			}
		default:
			t.Fatal("background revalidation still running past RevalidateTimeout")
		}
		tr.waitIdle()
	})
}
