package cache

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// A request that missed the cache just before another's fetch stored the
// object, and reaches the collapsing group after that fetch ended, leads a
// group of its own: it must find the stored object, not fetch again (the
// window edge's TestThunderingHerdCollapsesToOneOriginFetch hit once in
// CI).
func TestEngineLateMissLeaderFindsStoredObject(t *testing.T) {
	h := newHarness(t, Config{Shared: true})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "popular")
	})
	e := h.tr.e
	req, _ := http.NewRequest("GET", o.URL+"/hot", nil)
	filled := e.filled.Load()
	missed := e.cache.Lookup(req) // the late request's miss
	if missed.Decision != Miss {
		t.Fatal("stored before the first fetch")
	}
	if r := h.get(o.URL + "/hot"); r.body != "popular" { // another request's fetch stores it
		t.Fatalf("first fetch: %+v", r)
	}
	a := e.answer(req, missed, filled) // the late request joins now
	if string(a.body) != "popular" || a.outcome != OutcomeHit {
		t.Fatalf("late request: %q, %v", a.body, a.outcome)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("%d origin fetches, want 1", o.Hits.Load())
	}
}

// After Close the engine keeps answering, without background work: a
// miss is fetched for its own client and not stored (nothing may outlive
// the client once the owner of background work is gone).
func TestEngineServesAfterClose(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "still here")
	})
	h.tr.Close()
	for i := range 2 {
		if r := h.get(o.URL + "/after"); r.status != 200 || r.body != "still here" || r.xcache != "MISS" {
			t.Fatalf("request %d after Close: %+v", i, r)
		}
	}
	if o.Hits.Load() != 2 {
		t.Fatalf("origin hits %d, want 2 (nothing stored after Close)", o.Hits.Load())
	}
}

// RFC 9213 §2.1: the directives an adapter reads from a field of its own
// (EngineConfig.Control; an edge's Surrogate-Control) take precedence over
// Cache-Control in a shared cache, and a private one ignores them.
func TestRFC9213_EngineControlOption(t *testing.T) {
	for _, shared := range []bool{true, false} {
		h := newHarness(t, Config{Shared: shared})
		o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Edge-TTL", "60")
			io.WriteString(w, "edge-only")
		})
		var validations int
		e, err := NewEngine(EngineConfig{Cache: h.cache, Upstream: http.DefaultTransport, Now: h.fc.Now,
			Control: func(f Fetched) *Directives {
				if f.Validation {
					validations++
				}
				if f.Exchange.Response.Header.Get("X-Edge-TTL") != "60" {
					return nil
				}
				d := ParseDirectives([]string{"max-age=60"})
				return &d
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		client := &http.Client{Transport: e}
		for i := range 2 {
			resp, err := client.Get(o.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			want := "MISS"
			if i == 1 && shared {
				want = "HIT"
			}
			if got := resp.Header.Get(XCache); got != want || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("shared %v, request %d: X-Cache %s, Cache-Control %q", shared, i, got, resp.Header.Get("Cache-Control"))
			}
		}
		if validations != 0 {
			t.Fatalf("%d fetches reported as validations", validations)
		}
	}
}

// Concurrent misses for one key share one fetch through RoundTrip as
// through ServeHTTP (the Transport collapses too); an uncacheable answer
// releases the waiters to fetch on their own and marks the key
// hit-for-pass, so the next ones go to the origin at once, side by side.
func TestEngineCollapsesAndHitForPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		gate := make(chan struct{})
		cc := "max-age=60"
		up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			calls.Add(1)
			<-gate
			return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Cache-Control": {cc}}, ContentLength: 2,
				Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
		})
		c, err := New(Config{Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEngine(EngineConfig{Cache: c, Upstream: up})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		round := func(path string, k int) {
			var wg sync.WaitGroup
			for range k {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("GET", "http://origin.test"+path, nil)
					resp, err := e.RoundTrip(req)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "ok" {
						t.Errorf("body %q", b)
					}
				}()
			}
			synctest.Wait()
			close(gate)
			wg.Wait()
			gate = make(chan struct{})
		}
		round("/shared", 10)
		if n, s := calls.Load(), e.Stats(); n != 1 || s.Collapsed != 9 {
			t.Fatalf("10 concurrent misses: %d fetches, %d collapsed; want 1 and 9", n, s.Collapsed)
		}
		cc = "private"
		calls.Store(0)
		round("/private", 10) // one leader, then nine released at once
		if n := calls.Load(); n != 10 {
			t.Fatalf("uncacheable: %d fetches, want 10", n)
		}
		calls.Store(0)
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", "http://origin.test/private", nil)
				if resp, err := e.RoundTrip(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		synctest.Wait()
		if n := calls.Load(); n != 5 {
			t.Fatalf("hit-for-pass: %d of 5 at the origin at once", n)
		}
		close(gate)
		wg.Wait()
		if s := e.Stats(); s.Collapsed != 9 {
			t.Fatalf("Collapsed %d, want 9 (released waiters are not collapsed)", s.Collapsed)
		}
	})
}

// RFC 9111 §5.2.1.5: a request's no-store keeps its own response out of
// the cache, which says nothing of the response: the key is not marked
// hit-for-pass for it (before, one such request stopped collapsing on
// the key for everyone for 30 s). Either way a stored response is served
// to a no-store request (§5.2.1.5 restricts storing only).
func TestRFC9111_5_2_1_5_RequestNoStoreMarksNoPass(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		h := newHarness(t, Config{Shared: true, IgnoreRequestRefresh: ignore})
		o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=60"))
		if r := h.get(o.URL+"/k", "Cache-Control", "no-store"); r.xcache != "MISS" {
			t.Fatalf("ignore %v: %+v", ignore, r)
		}
		if pass, _ := h.tr.e.passState(h.cache.Key(mustRequest(t, o.URL+"/k"))); pass {
			t.Fatalf("ignore %v: a request's no-store marked the key hit-for-pass", ignore)
		}
		h.get(o.URL + "/k")
		if r := h.get(o.URL+"/k", "Cache-Control", "no-store"); r.xcache != "HIT" {
			t.Fatalf("ignore %v: a no-store request after the object was stored: %+v", ignore, r)
		}
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// failingUpstream refuses every request, as an origin that cannot be
// reached.
type failingUpstream struct{}

func (failingUpstream) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, io.ErrUnexpectedEOF
}

// An unsafe method passed through (RFC 9111 §4.4) to an origin that
// cannot be reached is answered 502 labelled as the pass it was (X-Cache
// PASS, RFC 9211 fwd=method), not as a cache miss.
func TestEnginePassErrorLabelledPass(t *testing.T) {
	c, err := New(Config{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{Cache: c, Upstream: failingUpstream{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct{ method, xcache string }{{"POST", "PASS"}, {"GET", "MISS"}} {
		w := &errRecorder{h: http.Header{}}
		r, _ := http.NewRequest(tc.method, "http://origin.test/x", strings.NewReader("body"))
		e.ServeHTTP(w, r)
		if w.code != http.StatusBadGateway || w.h.Get(XCache) != tc.xcache {
			t.Errorf("%s: %d, X-Cache %q, want 502 %s", tc.method, w.code, w.h.Get(XCache), tc.xcache)
		}
	}
}

type errRecorder struct {
	h    http.Header
	code int
}

func (r *errRecorder) Header() http.Header         { return r.h }
func (r *errRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *errRecorder) WriteHeader(code int)        { r.code = code }
