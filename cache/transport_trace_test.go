package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// traceLog records a Trace's events.
type traceLog struct {
	mu      sync.Mutex
	starts  []*http.Request
	dones   []RequestInfo
	doneCtx []context.Context
	fetches []FetchStart
	fetched []FetchInfo
	revals  []RevalidationInfo
	waits   []CollapseInfo
}

type ctxMark struct{}

func (l *traceLog) trace() *Trace {
	return &Trace{
		RequestStart: func(ctx context.Context, r *http.Request) context.Context {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.starts = append(l.starts, r)
			return context.WithValue(ctx, ctxMark{}, r.URL.Path)
		},
		RequestDone: func(ctx context.Context, info RequestInfo) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.dones = append(l.dones, info)
			l.doneCtx = append(l.doneCtx, ctx)
		},
		OriginFetchStart: func(ctx context.Context, f FetchStart) context.Context {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.fetches = append(l.fetches, f)
			f.Request.Header.Set("Traceparent", "00-1-2-01")
			return nil
		},
		OriginFetchDone: func(ctx context.Context, f FetchInfo) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.fetched = append(l.fetched, f)
		},
		Revalidation: func(ctx context.Context, v RevalidationInfo) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.revals = append(l.revals, v)
		},
		CollapseWait: func(ctx context.Context, c CollapseInfo) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.waits = append(l.waits, c)
		},
	}
}

func (l *traceLog) lastDone(t *testing.T) RequestInfo {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dones) == 0 {
		t.Fatal("no RequestDone")
	}
	return l.dones[len(l.dones)-1]
}

func (l *traceLog) doneCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.dones)
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return string(b)
}

// TestTransportTraceRequestStart: RoundTrip calls RequestStart first,
// with the caller's request; the context it returns becomes the
// request's: the origin fetch made for it (OriginFetchStart's request,
// the upstream's) derives from it, and RequestDone gets it.
func TestTransportTraceRequestStart(t *testing.T) {
	var log traceLog
	var upCtx context.Context
	tr, err := NewTransport(TransportConfig{Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		upCtx = r.Context()
		if r.Header.Get("Traceparent") == "" {
			t.Error("the field OriginFetchStart added did not go upstream")
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}, Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	req, _ := http.NewRequest("GET", "http://example.com/start", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if len(log.starts) != 1 || log.starts[0] != req {
		t.Fatalf("RequestStart got %v, want the caller's request once", log.starts)
	}
	if upCtx == nil || upCtx.Value(ctxMark{}) != "/start" {
		t.Error("the origin fetch's context does not derive from RequestStart's")
	}
	if len(log.doneCtx) != 1 || log.doneCtx[0].Value(ctxMark{}) != "/start" {
		t.Error("RequestDone did not get RequestStart's context")
	}
	if req.Context().Value(ctxMark{}) != nil {
		t.Error("the caller's request was changed")
	}
}

// TestTransportTraceRequestDone: RequestDone fires once per RoundTrip,
// when the caller has read the body to its end or closed it, with the
// fields ServeHTTP's would carry: the cache status (RFC 9111: a miss
// stored, a fresh hit §4.2, a 304 revalidation §4.3.4, a stale answer
// under stale-while-revalidate RFC 5861 §3, an unsafe method passed on
// §4.4, a client's own Range request bypassed), the status, the body
// bytes read, TTFB and Duration on the injected clock. An X-Cache the
// origin sends itself is not taken for the cache's.
func TestTransportTraceRequestDone(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	var log traceLog
	var mu sync.Mutex
	cc := "max-age=60"
	tr, err := NewTransport(TransportConfig{Now: fc.Now, Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fc.Advance(2 * time.Second) // the origin takes 2 s to answer
		h := http.Header{"Etag": {`"v1"`}, "X-Cache": {"HIT"}}
		mu.Lock()
		h.Set("Cache-Control", cc)
		mu.Unlock()
		if r.Header.Get("If-None-Match") == `"v1"` {
			return &http.Response{StatusCode: 304, Header: h, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("hello")), Request: r}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	do := func(method, path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://example.com"+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// A miss: nothing until the body is over.
	resp := do("GET", "/a")
	if log.doneCount() != 0 {
		t.Fatal("RequestDone before the body was read")
	}
	fc.Advance(time.Second)
	if got := readAll(t, resp); got != "hello" {
		t.Fatalf("body %q", got)
	}
	d := log.lastDone(t)
	if d.CacheStatus != OutcomeMiss || d.Status != 200 || d.Bytes != 5 || d.Method != "GET" || d.Host != "example.com" ||
		d.Path != "/a" || d.TTFB != 2*time.Second || d.Duration != 3*time.Second || d.Request != resp.Request || resp.Request.Context().Value(outcomeKey{}) != nil {
		t.Fatalf("miss: %+v", d)
	}
	resp.Body.Close()
	if log.doneCount() != 1 {
		t.Fatal("RequestDone again on a second Close")
	}

	// A fresh hit (§4.2), closed unread: Bytes 0.
	resp = do("GET", "/a")
	resp.Body.Close()
	if d := log.lastDone(t); d.CacheStatus != OutcomeHit || d.Status != 200 || d.Bytes != 0 || d.TTFB != 0 {
		t.Fatalf("hit: %+v", d)
	}

	// Stale, then revalidated with a 304 (§4.3.4).
	fc.Advance(2 * time.Minute)
	readAll(t, do("GET", "/a"))
	if d := log.lastDone(t); d.CacheStatus != OutcomeRevalidated || d.Status != 200 || d.Bytes != 5 {
		t.Fatalf("revalidated: %+v", d)
	}

	// Stale under stale-while-revalidate (RFC 5861 §3).
	mu.Lock()
	cc = "max-age=1, stale-while-revalidate=600"
	mu.Unlock()
	readAll(t, do("GET", "/swr"))
	fc.Advance(10 * time.Second)
	readAll(t, do("GET", "/swr"))
	tr.Wait()
	if d := log.lastDone(t); d.CacheStatus != OutcomeStale || d.Status != 200 {
		t.Fatalf("stale: %+v", d)
	}

	// An unsafe method goes on as it is (§4.4): PASS, whatever X-Cache
	// the origin sent.
	readAll(t, do("POST", "/a"))
	if d := log.lastDone(t); d.CacheStatus != OutcomePass || d.Method != "POST" || d.Status != 200 {
		t.Fatalf("pass: %+v", d)
	}
	// A client's own Range request: BYPASS.
	readAll(t, do("GET", "/a", "Range", "bytes=0-1"))
	if d := log.lastDone(t); d.CacheStatus != OutcomeBypass {
		t.Fatalf("bypass: %+v", d)
	}
	// HEAD: the (empty) body's Close ends it, once.
	n := log.doneCount()
	resp = do("HEAD", "/a")
	resp.Body.Close()
	resp.Body.Close()
	if log.doneCount() != n+1 {
		t.Fatalf("%d RequestDone for a HEAD, want 1", log.doneCount()-n)
	}
	if d := log.lastDone(t); d.CacheStatus != OutcomeMiss || d.Method != "HEAD" || d.Bytes != 0 { // the POST invalidated /a (§4.4)
		t.Fatalf("HEAD: %+v", d)
	}
}

// TestTransportTraceRequestDoneOnError: a RoundTrip that fails reports
// at once, with Status 0; the body's Close racing its Read (a caller
// cancelling) reports once, without a data race.
func TestTransportTraceRequestDoneOnError(t *testing.T) {
	var log traceLog
	down := errors.New("origin down")
	pr, pw := io.Pipe()
	defer pw.Close()
	tr, err := NewTransport(TransportConfig{Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/down" {
			return nil, down
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: pr, ContentLength: -1, Request: r}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	req, _ := http.NewRequest("GET", "http://example.com/down", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, down) {
		t.Fatalf("err %v", err)
	}
	if d := log.lastDone(t); d.Status != 0 || d.CacheStatus != OutcomeMiss || d.Path != "/down" {
		t.Fatalf("error: %+v", d)
	}
	req, _ = http.NewRequest("POST", "http://example.com/stream", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(io.Discard, resp.Body)
	}()
	pw.Write([]byte("abc"))
	resp.Body.Close()
	pw.CloseWithError(io.ErrClosedPipe)
	<-read
	if n := log.doneCount(); n != 2 {
		t.Fatalf("%d RequestDone, want 2", n)
	}
	if d := log.lastDone(t); d.CacheStatus != OutcomePass || d.Status != 200 {
		t.Fatalf("stream: %+v", d)
	}
}

// TestTransportTraceOriginFetch: the fetches a Transport makes report
// OriginFetchStart and OriginFetchDone (a miss, then a validation).
func TestTransportTraceOriginFetch(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	var log traceLog
	tr, err := NewTransport(TransportConfig{Now: fc.Now, Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Cache-Control": {"max-age=1"}, "Etag": {`"v1"`}}
		if r.Header.Get("If-None-Match") != "" {
			return &http.Response{StatusCode: 304, Header: h, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range 2 {
		req, _ := http.NewRequest("GET", "http://example.com/f", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		fc.Advance(5 * time.Second)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.fetches) != 2 || log.fetches[0].Revalidation || !log.fetches[1].Revalidation {
		t.Fatalf("OriginFetchStart %+v", log.fetches)
	}
	if len(log.fetched) != 2 || log.fetched[0].Status != 200 || log.fetched[1].Status != 304 || !log.fetched[1].Revalidation {
		t.Fatalf("OriginFetchDone %+v", log.fetched)
	}
}

// TestTransportTraceRevalidation: a validation the origin answers 304
// (RFC 9111 §4.3.4) reports Revalidation.
func TestTransportTraceRevalidation(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	var log traceLog
	tr, err := NewTransport(TransportConfig{Now: fc.Now, Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Cache-Control": {"max-age=1"}, "Etag": {`"v1"`}}
		if r.Header.Get("If-None-Match") != "" {
			return &http.Response{StatusCode: 304, Header: h, Body: http.NoBody, Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range 2 {
		req, _ := http.NewRequest("GET", "http://example.com/r", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		fc.Advance(5 * time.Second)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.revals) != 1 || !log.revals[0].NotModified || log.revals[0].Key == "" || log.revals[0].Background {
		t.Fatalf("Revalidation %+v", log.revals)
	}
}

// TestTransportTraceCollapseWait: a RoundTrip that waits for another's
// fetch of the same object reports the wait, on synctest's clock.
func TestTransportTraceCollapseWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log traceLog
		release := make(chan struct{})
		fetched := make(chan struct{}, 2)
		tr, err := NewTransport(TransportConfig{Trace: log.trace(), Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			fetched <- struct{}{}
			<-release
			return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}},
				Body: io.NopCloser(strings.NewReader("shared")), Request: r}, nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var wg sync.WaitGroup
		get := func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://example.com/c", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != "shared" {
				t.Errorf("body %q", b)
			}
			resp.Body.Close()
		}
		wg.Add(1)
		go get()
		<-fetched
		wg.Add(1)
		go get()
		synctest.Wait() // the second waits for the first's fetch
		time.Sleep(3 * time.Second)
		close(release)
		wg.Wait()
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.waits) != 1 || !log.waits[0].Shared || log.waits[0].Wait != 3*time.Second {
			t.Fatalf("CollapseWait %+v", log.waits)
		}
		if len(log.dones) != 2 || log.dones[0].Duration != 3*time.Second || log.dones[1].Duration != 3*time.Second {
			t.Fatalf("RequestDone %+v", log.dones)
		}
	})
}

// TestTraceUnsetTransportAllocs: with no Trace, a hit through Transport
// allocates exactly what Engine.RoundTrip does: the nil check is all it
// costs.
func TestTraceUnsetTransportAllocs(t *testing.T) {
	up := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=600"}},
			Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})
	measure := func(rt http.RoundTripper) float64 {
		req, _ := http.NewRequest("GET", "http://example.com/a", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return testing.AllocsPerRun(100, func() {
			resp, _ := rt.RoundTrip(req)
			resp.Body.Close()
		})
	}
	c1, _ := New(Config{})
	tr, err := NewTransport(TransportConfig{Cache: c1, Base: up})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c2, _ := New(Config{})
	e, err := NewEngine(EngineConfig{Cache: c2, Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if viaTransport, viaEngine := measure(tr), measure(e); viaTransport != viaEngine {
		t.Fatalf("allocs per hit: %v through Transport without a Trace, %v through the Engine", viaTransport, viaEngine)
	}
}

// BenchmarkTransportTraceHit: a hit through Transport without a Trace, with
// one, and through the Engine (the baseline the nil check must match).
func BenchmarkTransportTraceHit(b *testing.B) {
	up := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=600"}},
			Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})
	run := func(b *testing.B, rt http.RoundTripper) {
		req, _ := http.NewRequest("GET", "http://example.com/a", nil)
		resp, _ := rt.RoundTrip(req)
		resp.Body.Close()
		b.ReportAllocs()
		for b.Loop() {
			resp, _ := rt.RoundTrip(req)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for _, c := range []struct {
		name  string
		trace *Trace
	}{{"Transport", nil}, {"TransportTraced", &Trace{RequestDone: func(context.Context, RequestInfo) {}}}} {
		b.Run(c.name, func(b *testing.B) {
			cc, _ := New(Config{})
			tr, _ := NewTransport(TransportConfig{Cache: cc, Base: up, Trace: c.trace})
			defer tr.Close()
			run(b, tr)
		})
	}
	b.Run("Engine", func(b *testing.B) {
		cc, _ := New(Config{})
		e, _ := NewEngine(EngineConfig{Cache: cc, Upstream: up})
		defer e.Close()
		run(b, e)
	})
}
