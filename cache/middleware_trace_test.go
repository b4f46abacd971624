package cache

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// newTracedMiddleware wraps next in a Middleware whose Trace records into
// log.
func newTracedMiddleware(t *testing.T, log *traceLog, maxBody int64, next http.HandlerFunc) http.Handler {
	t.Helper()
	mw, err := NewMiddleware(MiddlewareConfig{MaxBodyBytes: maxBody, Trace: log.trace()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	return mw.Wrap(next)
}

// serve runs one request through h and returns what the client got.
func serve(h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://example.com"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestMiddlewareTraceRequestStart: RequestStart comes first, before the
// lookup and the fetch, with the client's request; the context it
// returns is the one the wrapped handler runs under (the engine's
// fetch), with the field OriginFetchStart added, and RequestDone gets it.
func TestMiddlewareTraceRequestStart(t *testing.T) {
	var log traceLog
	var handlerCtx context.Context
	var order []string
	tr := log.trace()
	start, fetch := tr.RequestStart, tr.OriginFetchStart
	tr.RequestStart = func(ctx context.Context, r *http.Request) context.Context {
		order = append(order, "start")
		return start(ctx, r)
	}
	tr.OriginFetchStart = func(ctx context.Context, f FetchStart) context.Context {
		order = append(order, "fetch")
		return fetch(ctx, f)
	}
	mw, err := NewMiddleware(MiddlewareConfig{Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerCtx = r.Context()
		if r.Header.Get("Traceparent") == "" {
			t.Error("the field OriginFetchStart added did not reach the handler")
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	}))
	req := httptest.NewRequest("GET", "http://example.com/start", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if len(log.starts) != 1 || log.starts[0] != req {
		t.Fatalf("RequestStart got %v, want the client's request once", log.starts)
	}
	if strings.Join(order, ",") != "start,fetch" {
		t.Fatalf("events %v, want RequestStart first", order)
	}
	if handlerCtx == nil || handlerCtx.Value(ctxMark{}) != "/start" {
		t.Error("the handler's context does not derive from RequestStart's")
	}
	if len(log.doneCtx) != 1 || log.doneCtx[0].Value(ctxMark{}) != "/start" {
		t.Error("RequestDone did not get RequestStart's context")
	}
	if d := log.lastDone(t); d.Request != req {
		t.Error("RequestInfo.Request is not the client's request")
	}
}

// TestMiddlewareTraceRequestDone: one RequestDone per request with the
// engine's own cache status, the status and the bytes the client got,
// TTFB and Duration (synctest's clock): a miss stored, a fresh hit
// (RFC 9111 §4.2), a 304 to the client's own conditional request
// answered from the stored 200 (RFC 9111 §4.3.2, RFC 9110 §13.1.2), HEAD
// (RFC 9110 §9.3.2: no body), a stale response revalidated with a 304
// (RFC 9111 §4.3.4), an unsafe method passed to the handler (§4.4). The
// X-Cache the handler writes itself ("HIT" on every response) is never
// taken for the cache's.
func TestMiddlewareTraceRequestDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log traceLog
		h := newTracedMiddleware(t, &log, 0, func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Second) // the handler takes 2 s to answer
			w.Header().Set("X-Cache", "HIT")
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Etag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			io.WriteString(w, "hello")
		})
		check := func(step string, w *httptest.ResponseRecorder, method string, status int, o Outcome, bytes int64, ttfb time.Duration) {
			t.Helper()
			if n := log.doneCount(); n != len(log.starts) {
				t.Fatalf("%s: %d RequestDone for %d requests", step, n, len(log.starts))
			}
			d := log.lastDone(t)
			if d.Method != method || d.Status != status || d.Status != w.Code || d.CacheStatus != o || d.Bytes != bytes ||
				d.Bytes != int64(w.Body.Len()) || d.TTFB != ttfb || d.Duration != ttfb || d.Host != "example.com" || d.Path != "/a" {
				t.Fatalf("%s: %+v (client got %d, %d bytes)", step, d, w.Code, w.Body.Len())
			}
		}
		check("miss", serve(h, "GET", "/a"), "GET", 200, OutcomeMiss, 5, 2*time.Second)
		check("hit", serve(h, "GET", "/a"), "GET", 200, OutcomeHit, 5, 0)
		check("conditional", serve(h, "GET", "/a", "If-None-Match", `"v1"`), "GET", 304, OutcomeHit, 0, 0)
		check("HEAD", serve(h, "HEAD", "/a"), "HEAD", 200, OutcomeHit, 0, 0)
		time.Sleep(2 * time.Minute)
		check("revalidated", serve(h, "GET", "/a"), "GET", 200, OutcomeRevalidated, 5, 2*time.Second)
		w := serve(h, "POST", "/a")
		if w.Header().Get(XCache) != "PASS" {
			t.Fatalf("POST: X-Cache %q", w.Header().Get(XCache))
		}
		check("pass", w, "POST", 200, OutcomePass, 5, 2*time.Second)
		check("HEAD miss", serve(h, "HEAD", "/a"), "HEAD", 200, OutcomeMiss, 0, 2*time.Second) // the POST invalidated /a
	})
}

// TestMiddlewareTraceClientGone: a client that leaves mid-body (it
// closes the connection after 2 KiB of a streamed response) gets one
// RequestDone, with the status sent and fewer bytes than the handler
// meant to write; the handler's writes then fail and it ends. So for a
// cacheable GET (the engine's stream ends) and for a POST passed on
// (RFC 9111 §4.4; the reverse proxy aborts with http.ErrAbortHandler).
func TestMiddlewareTraceClientGone(t *testing.T) {
	for _, c := range []struct {
		method string
		status Outcome
	}{{"GET", OutcomeMiss}, {"POST", OutcomePass}} {
		t.Run(c.method, func(t *testing.T) {
			var log traceLog
			tr := log.trace()
			done := make(chan struct{}, 4)
			record := tr.RequestDone
			tr.RequestDone = func(ctx context.Context, info RequestInfo) {
				record(ctx, info)
				done <- struct{}{}
			}
			gone := make(chan struct{})
			handlerErr := make(chan error, 1)
			const chunks = 4096
			mw, err := NewMiddleware(MiddlewareConfig{MaxBodyBytes: 1024, Trace: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer mw.Close()
			srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				chunk := []byte(strings.Repeat("a", 1024))
				w.Write(chunk)
				w.Write(chunk)
				<-gone
				for range chunks {
					if _, err := w.Write(chunk); err != nil {
						handlerErr <- err
						return
					}
				}
				handlerErr <- nil
			})))
			defer srv.Close()
			req, _ := http.NewRequest(c.method, srv.URL+"/big", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 2048)); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close() // an unread body: the connection closes
			close(gone)
			select {
			case <-done:
			case <-time.After(30 * time.Second): // a bound, not a synchronisation
				t.Fatal("no RequestDone after the client left")
			}
			if err := <-handlerErr; err == nil {
				t.Error("the handler's writes did not fail after the client left")
			}
			srv.Close() // waits for the handler
			if n := log.doneCount(); n != 1 {
				t.Fatalf("%d RequestDone, want 1", n)
			}
			if d := log.lastDone(t); d.Status != 200 || d.CacheStatus != c.status || d.Bytes < 2048 || d.Bytes >= (chunks+2)*1024 {
				t.Fatalf("client gone: %+v", d)
			}
		})
	}
}

// TestMiddlewareTraceHandlerPanics: a handler that panics before its
// response gets a 502 (RequestDone with it); one that panics mid-body
// (the body streamed, above MaxBodyBytes and the window the engine holds
// back) cuts the response short
// (http.ErrAbortHandler reaches the server, the client sees a truncated
// body, RFC 9112 §8) and RequestDone still comes, once; so it does for
// a protocol switch, whose handler runs on the client's goroutine and
// whose panic goes on as it is.
func TestMiddlewareTraceHandlerPanics(t *testing.T) {
	var log traceLog
	h := newTracedMiddleware(t, &log, 1024, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mid":
			w.Write([]byte(strings.Repeat("a", 40<<10))) // beyond the engine's window: the head is sent
		case "/switch":
			w.Header().Set("Connection", "Upgrade")
		}
		panic("handler bug")
	})
	if w := serve(h, "GET", "/early"); w.Code != http.StatusBadGateway {
		t.Fatalf("early panic: %d", w.Code)
	}
	if d := log.lastDone(t); d.Status != 502 || d.CacheStatus != OutcomeMiss || d.Path != "/early" {
		t.Fatalf("early panic: %+v", d)
	}
	panics := func(path string, hdr ...string) (p any, w *httptest.ResponseRecorder) {
		defer func() { p = recover() }()
		w = serve(h, "GET", path, hdr...)
		return nil, w
	}
	n := log.doneCount()
	if p, _ := panics("/mid"); p != http.ErrAbortHandler {
		t.Fatalf("mid-body panic reached the server as %v, want http.ErrAbortHandler", p)
	}
	if log.doneCount() != n+1 {
		t.Fatalf("%d RequestDone for a mid-body panic, want 1", log.doneCount()-n)
	}
	if d := log.lastDone(t); d.Status != 200 || d.CacheStatus != OutcomeMiss || d.Bytes == 0 || d.Path != "/mid" {
		t.Fatalf("mid-body panic: %+v", d)
	}
	if p, _ := panics("/switch", "Connection", "Upgrade", "Upgrade", "websocket"); p != "handler bug" {
		t.Fatalf("protocol switch panic reached the server as %v", p)
	}
	if d := log.lastDone(t); log.doneCount() != n+2 || d.Status != 0 || d.CacheStatus != OutcomePass || d.Path != "/switch" {
		t.Fatalf("protocol switch panic: %d events, %+v", log.doneCount()-n, d)
	}
}

// TestMiddlewareTraceProtocolSwitch: a request to switch protocols
// (RFC 9110 §7.8) goes to the handler directly, which may still assert
// http.Hijacker on its writer; the trace reports it as a pass with the
// 101 the handler wrote on the hijacked connection.
func TestMiddlewareTraceProtocolSwitch(t *testing.T) {
	var log traceLog
	tr := log.trace()
	done := make(chan struct{}, 1)
	record := tr.RequestDone
	tr.RequestDone = func(ctx context.Context, info RequestInfo) {
		record(ctx, info)
		done <- struct{}{}
	}
	mw, err := NewMiddleware(MiddlewareConfig{Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("the handler's writer is not an http.Hijacker")
			http.Error(w, "no hijack", 500)
			return
		}
		conn, brw, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString(line)
		brw.Flush()
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rwc := resp.Body.(io.ReadWriteCloser)
	rwc.Write([]byte("ping\n"))
	if line, _ := bufio.NewReader(rwc).ReadString('\n'); line != "ping\n" {
		t.Fatalf("echo %q", line)
	}
	rwc.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a bound, not a synchronisation
		t.Fatal("no RequestDone")
	}
	if d := log.lastDone(t); log.doneCount() != 1 || d.Status != 101 || d.CacheStatus != OutcomePass || d.Path != "/ws" {
		t.Fatalf("protocol switch: %+v", d)
	}
}

// TestMiddlewareTraceOriginFetch: the runs of the wrapped handler the
// engine makes report OriginFetchStart and OriginFetchDone: a miss, then
// a validation the handler answers 304 (RFC 9111 §4.3.1).
func TestMiddlewareTraceOriginFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log traceLog
		h := newTracedMiddleware(t, &log, 0, validatingHandler)
		serve(h, "GET", "/f")
		time.Sleep(5 * time.Second)
		serve(h, "GET", "/f")
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.fetches) != 2 || log.fetches[0].Revalidation || !log.fetches[1].Revalidation || log.fetches[0].Pass {
			t.Fatalf("OriginFetchStart %+v", log.fetches)
		}
		if len(log.fetched) != 2 || log.fetched[0].Status != 200 || log.fetched[1].Status != 304 || !log.fetched[1].Revalidation {
			t.Fatalf("OriginFetchDone %+v", log.fetched)
		}
	})
}

// TestMiddlewareTraceRevalidation: a validation the handler answers 304
// (RFC 9111 §4.3.4) reports Revalidation, in the foreground and, under
// stale-while-revalidate, in the background (RFC 5861 §3).
func TestMiddlewareTraceRevalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log traceLog
		mw, err := NewMiddleware(MiddlewareConfig{Trace: log.trace()})
		if err != nil {
			t.Fatal(err)
		}
		defer mw.Close()
		h := mw.Wrap(http.HandlerFunc(validatingHandler))
		serve(h, "GET", "/r")
		time.Sleep(5 * time.Second)
		serve(h, "GET", "/r")
		serve(h, "GET", "/r?swr")
		time.Sleep(5 * time.Second)
		if d := serve(h, "GET", "/r?swr"); d.Header().Get(XCache) != "STALE" {
			t.Fatalf("swr: X-Cache %q", d.Header().Get(XCache))
		}
		synctest.Wait() // the background revalidation
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.revals) != 2 || !log.revals[0].NotModified || log.revals[0].Background || log.revals[0].Key == "" ||
			!log.revals[1].NotModified || !log.revals[1].Background {
			t.Fatalf("Revalidation %+v", log.revals)
		}
	})
}

// validatingHandler answers 304 to a request carrying its ETag, a
// 1-second-fresh 200 otherwise (stale-while-revalidate for ?swr).
func validatingHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Etag", `"v1"`)
	w.Header().Set("Cache-Control", "max-age=1")
	if r.URL.RawQuery == "swr" {
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
	}
	if r.Header.Get("If-None-Match") == `"v1"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	io.WriteString(w, "x")
}

// TestMiddlewareTraceCollapseWait: a request that waits for another's
// run of the handler for the same object reports the wait, on synctest's
// clock; both report RequestDone.
func TestMiddlewareTraceCollapseWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log traceLog
		release := make(chan struct{})
		ran := make(chan struct{}, 2)
		h := newTracedMiddleware(t, &log, 0, func(w http.ResponseWriter, r *http.Request) {
			ran <- struct{}{}
			<-release
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "shared")
		})
		var wg sync.WaitGroup
		get := func() {
			defer wg.Done()
			if w := serve(h, "GET", "/c"); w.Body.String() != "shared" {
				t.Errorf("body %q", w.Body.String())
			}
		}
		wg.Add(1)
		go get()
		<-ran
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
		if len(ran) != 0 {
			t.Fatal("the waiter ran the handler too")
		}
		if len(log.dones) != 2 || log.dones[0].Duration != 3*time.Second || log.dones[1].Duration != 3*time.Second {
			t.Fatalf("RequestDone %+v", log.dones)
		}
	})
}

// TestTraceUnsetMiddlewareAllocs: with no Trace, a hit through a
// wrapped handler allocates exactly what the Engine's ServeHTTP does on
// the same hit: the nil check is all it costs.
func TestTraceUnsetMiddlewareAllocs(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "x")
	})
	measure := func(h http.Handler) float64 {
		req := httptest.NewRequest("GET", "http://example.com/a", nil)
		w := nopWriter{http.Header{}}
		h.ServeHTTP(w, req)
		return testing.AllocsPerRun(100, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
	}
	mw, err := NewMiddleware(MiddlewareConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	c, _ := New(Config{Shared: true})
	e, err := NewEngine(EngineConfig{Cache: c, Upstream: handlerTransport{next, DefaultMaxObjectBytes}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if viaMiddleware, viaEngine := measure(mw.Wrap(next)), measure(e); viaMiddleware != viaEngine {
		t.Fatalf("allocs per hit: %v through Middleware without a Trace, %v through the Engine", viaMiddleware, viaEngine)
	}
}
