package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// traceRec records a Trace's events.
type traceRec struct {
	mu      sync.Mutex
	done    chan RequestInfo
	starts  []FetchStart
	fetches []FetchInfo
	revals  []RevalidationInfo
	purges  []PurgeInfo
	ctxLost int // events that did not see RequestStart's context
}

type spanKey struct{}

func (tr *traceRec) trace() *Trace {
	tr.done = make(chan RequestInfo, 16)
	return &Trace{
		RequestStart: func(ctx context.Context, r *http.Request) context.Context {
			return context.WithValue(ctx, spanKey{}, r.URL.Path)
		},
		RequestDone: func(ctx context.Context, info RequestInfo) {
			tr.mu.Lock()
			if ctx.Value(spanKey{}) != info.Path {
				tr.ctxLost++
			}
			tr.mu.Unlock()
			tr.done <- info
		},
		OriginFetchStart: func(ctx context.Context, f FetchStart) context.Context {
			f.Request.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			tr.mu.Lock()
			tr.starts = append(tr.starts, f)
			if !f.Background && ctx.Value(spanKey{}) != f.Request.URL.Path {
				tr.ctxLost++
			}
			tr.mu.Unlock()
			return context.WithValue(ctx, fetchKey{}, true)
		},
		OriginFetchDone: func(ctx context.Context, f FetchInfo) {
			tr.mu.Lock()
			tr.fetches = append(tr.fetches, f)
			if ctx.Value(fetchKey{}) == nil {
				tr.ctxLost++
			}
			tr.mu.Unlock()
		},
		Revalidation: func(ctx context.Context, v RevalidationInfo) {
			tr.mu.Lock()
			tr.revals = append(tr.revals, v)
			tr.mu.Unlock()
		},
		PurgeApplied: func(p PurgeInfo) {
			tr.mu.Lock()
			tr.purges = append(tr.purges, p)
			tr.mu.Unlock()
		},
	}
}

type fetchKey struct{}

func (tr *traceRec) take() (starts []FetchStart, fetches []FetchInfo, revals []RevalidationInfo) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	starts, fetches, revals = tr.starts, tr.fetches, tr.revals
	tr.starts, tr.fetches, tr.revals = nil, nil, nil
	return
}

// validating answers with an ETag and max-age=2 (and, under /swr/, two
// seconds of stale-while-revalidate), 304 to a matching If-None-Match, and
// records the traceparent it got.
func validating(tp *sync.Map) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tp.Store(r.URL.Path, r.Header.Get("Traceparent"))
		cc := "max-age=2"
		if strings.HasPrefix(r.URL.Path, "/swr/") {
			cc += ", stale-while-revalidate=10"
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Surrogate-Key", "k")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("hello"))
	}
}

// TestTraceMissHitStaleRevalidatedPass follows one object through a miss,
// a hit, a stale-while-revalidate hit (RFC 5861 §3) with its background
// revalidation, and another through a 304 revalidation (RFC 9111 §4.3.4),
// plus a POST passed through, checking each event's values, that the
// contexts flow from RequestStart to the fetches and RequestDone, and that
// the traceparent the hook injected reaches the origin.
func TestTraceMissHitStaleRevalidatedPass(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var tp sync.Map
	o := newSite(t, fc, validating(&tp))
	tr := &traceRec{}
	e := newEnv(t, fc, Config{Trace: tr.trace()}, o)

	type step struct {
		method, path string
		advance      time.Duration
		status       int
		cache        cache.Outcome
		fetches      int // origin fetches made for it (background included)
		reval        bool
		notModified  bool
		background   bool
	}
	for i, s := range []step{
		{method: "GET", path: "/swr/a", status: 200, cache: cache.OutcomeMiss, fetches: 1},
		{method: "GET", path: "/swr/a", status: 200, cache: cache.OutcomeHit},
		{method: "GET", path: "/swr/a", advance: 3 * time.Second, status: 200, cache: cache.OutcomeStale, fetches: 1, reval: true, notModified: true, background: true},
		{method: "GET", path: "/b", status: 200, cache: cache.OutcomeMiss, fetches: 1},
		{method: "GET", path: "/b", advance: 3 * time.Second, status: 200, cache: cache.OutcomeRevalidated, fetches: 1, reval: true, notModified: true},
		{method: "POST", path: "/b", status: 200, cache: cache.OutcomePass, fetches: 1},
	} {
		fc.Advance(s.advance)
		r := e.do(s.method, s.path)
		info := <-tr.done
		e.node.waitIdle()
		if r.status != s.status || info.Status != s.status || info.CacheStatus != s.cache || info.Method != s.method ||
			info.Path != s.path || info.Node != "edgekit" || info.Request == nil || !strings.HasPrefix(info.Host, "127.0.0.1:") {
			t.Errorf("step %d %s %s: RequestDone %+v, reply %+v", i, s.method, s.path, info, r)
		}
		if s.method == "GET" && info.Bytes != 5 || info.Duration < info.TTFB || info.Start.IsZero() {
			t.Errorf("step %d: bytes %d, duration %v, ttfb %v", i, info.Bytes, info.Duration, info.TTFB)
		}
		starts, fetches, revals := tr.take()
		if len(starts) != s.fetches || len(fetches) != s.fetches {
			t.Fatalf("step %d: %d fetch starts, %d done, want %d", i, len(starts), len(fetches), s.fetches)
		}
		for j := range fetches {
			f := fetches[j]
			if f.Err != nil || f.Revalidation != s.reval || f.Background != s.background || f.Pass != (s.method == "POST") ||
				starts[j].Revalidation != s.reval || starts[j].Background != s.background {
				t.Errorf("step %d: fetch %+v (start %+v)", i, f, starts[j])
			}
			want := 200
			if s.notModified {
				want = 304
			}
			if f.Status != want {
				t.Errorf("step %d: fetch status %d, want %d", i, f.Status, want)
			}
		}
		if s.reval != (len(revals) == 1) || s.reval && (!revals[0].NotModified || revals[0].Status != 304 ||
			revals[0].Background != s.background || revals[0].Key == "") {
			t.Errorf("step %d: revalidations %+v", i, revals)
		}
		if s.fetches > 0 {
			if v, _ := tp.Load(s.path); v != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
				t.Errorf("step %d: origin got traceparent %q", i, v)
			}
			tp.Delete(s.path)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.ctxLost != 0 {
		t.Errorf("%d events did not get the context RequestStart/OriginFetchStart returned", tr.ctxLost)
	}
}

// TestTraceOriginErrorAndPurge: a fetch that fails reports its error and
// the 502 the client got; a purge reports what it removed.
func TestTraceOriginErrorAndPurge(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var tp sync.Map
	o := newSite(t, fc, validating(&tp))
	tr := &traceRec{}
	e := newEnv(t, fc, Config{Trace: tr.trace()}, o)
	e.get("/p")
	<-tr.done
	tr.take()
	res, err := e.node.Purge(context.Background(), PurgeRequest{Keys: []string{"k"}})
	if err != nil || res.Objects != 1 {
		t.Fatal(res, err)
	}
	tr.mu.Lock()
	if len(tr.purges) != 1 || tr.purges[0].Objects != 1 || tr.purges[0].Keys != 1 || tr.purges[0].Remote || tr.purges[0].Mode != surrogate.Hard {
		t.Errorf("PurgeApplied %+v", tr.purges)
	}
	tr.mu.Unlock()

	o.Close()
	r := e.get("/gone")
	info := <-tr.done
	if r.status != http.StatusBadGateway || info.Status != http.StatusBadGateway || info.CacheStatus != cache.OutcomeMiss {
		t.Errorf("reply %+v, RequestDone %+v", r, info)
	}
	_, fetches, _ := tr.take()
	if len(fetches) != 1 || fetches[0].Err == nil || fetches[0].Status != 0 {
		t.Errorf("fetches %+v", fetches)
	}
}

// TestAccessLog checks the access log line's fields (varnishncsa's
// default format plus duration, cache status and request ID), that a
// client's valid X-Request-ID is kept and an invalid one replaced by a
// new ID that also goes to the origin, and that no line is written
// without Config.AccessLog.
func TestAccessLog(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var gotID sync.Map
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		gotID.Store(r.URL.Path, r.Header.Get("X-Request-Id"))
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("hello"))
	})
	core, logs := observer.New(zapcore.InfoLevel)
	tr := &traceRec{}
	e := newEnv(t, fc, Config{Name: "n1", AccessLog: zap.New(core), Trace: tr.trace()}, o)
	e.get("/a?x=1", "X-Request-Id", "client-id-7", "User-Agent", "probe/1", "Referer", "http://ref/")
	<-tr.done
	e.get("/a?x=1", "X-Request-Id", "bad id")
	<-tr.done
	e.get("/c", "X-Request-Id", "bad id")
	<-tr.done
	entries := logs.TakeAll()
	if len(entries) != 3 {
		t.Fatalf("%d access log lines, want 3", len(entries))
	}
	f := entries[0].ContextMap()
	for k, want := range map[string]any{
		"client": "127.0.0.1", "method": "GET", "path": "/a", "query": "x=1", "proto": "HTTP/1.1",
		"status": int64(200), "bytes": int64(5), "cache": "MISS", "node": "n1", "request_id": "client-id-7", "origin": "o0",
		"user_agent": "probe/1", "referer": "http://ref/",
	} {
		if f[k] != want {
			t.Errorf("field %s = %#v, want %#v", k, f[k], want)
		}
	}
	if !strings.HasPrefix(f["host"].(string), "127.0.0.1:") || f["duration"] == nil || f["ttfb"] == nil || f["start"] == nil ||
		entries[0].Message != "request" || entries[0].Level != zapcore.InfoLevel {
		t.Errorf("entry %+v", entries[0])
	}
	if v, _ := gotID.Load("/a"); v != "client-id-7" {
		t.Errorf("origin got request ID %q, want the client's", v)
	}
	f1, f2 := entries[1].ContextMap(), entries[2].ContextMap()
	if f1["cache"] != "HIT" || f1["origin"] != "" || f1["request_id"] == "bad id" || f1["request_id"] == "" || f1["request_id"] == f2["request_id"] {
		t.Errorf("hit line %v, next %v", f1, f2)
	}
	if v, _ := gotID.Load("/c"); v != f2["request_id"] {
		t.Errorf("origin got request ID %q, the log says %q", v, f2["request_id"])
	}

	// Off by default.
	e2 := newEnv(t, fc, Config{Logger: zap.New(core)}, o)
	e2.get("/a")
	if n := logs.Len(); n != 0 {
		t.Errorf("%d lines without AccessLog", n)
	}
}

// TestTraceUnsetAllocatesNothing: with no Trace and no AccessLog a hit
// allocates what it did before the hooks (6, BenchmarkEdgeHit on main);
// with them set, the same hit reports through them.
func TestTraceUnsetAllocatesNothing(t *testing.T) {
	n, err := New(Config{Origin: nopOrigin{"body"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	req := httptest.NewRequest(http.MethodGet, "http://example.com/asset.js", nil)
	w := &discard{h: http.Header{}}
	n.ServeHTTP(w, req)
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		n.ServeHTTP(w, req)
	})
	if allocs > 6 {
		t.Errorf("a hit with no Trace allocates %v times, want at most 6", allocs)
	}
}
