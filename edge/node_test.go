package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/testorigin"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// site is a loopback origin whose Date follows the fake clock.
type site = testorigin.Server

func newSite(t *testing.T, fc *clock.Fake, h http.HandlerFunc) *site {
	return testorigin.New(t, fc.Now, h)
}

func static(body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		io.WriteString(w, body)
	}
}

type env struct {
	t    *testing.T
	fc   *clock.Fake
	node *Node
	pool *origin.Pool
	srv  *httptest.Server
}

func newEnv(t *testing.T, fc *clock.Fake, cfg Config, origins ...*site) *env {
	return newEnvPool(t, fc, cfg, origin.Config{}, nil, origins...)
}

// newEnvPool is newEnv with the origin pool's settings given (its Origins
// and Now are filled in) and, if wrap is set, the test server's handler
// wrapped by it.
func newEnvPool(t *testing.T, fc *clock.Fake, cfg Config, pcfg origin.Config, wrap func(http.Handler) http.Handler, origins ...*site) *env {
	var os []origin.Origin
	for i, o := range origins {
		os = append(os, origin.Origin{Name: fmt.Sprint("o", i), URL: o.URL, Priority: i})
	}
	pcfg.Origins, pcfg.Now = os, fc.Now
	pool, err := origin.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Origin = pool
	cfg.Now = fc.Now
	cfg.XCache = true
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	purge, err := n.PurgeHandler(PurgeConfig{AdminListener: true}) // a test listener stands in for the admin one
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/.edge/purge", purge)
	mux.Handle("/", n)
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); n.Close(); pool.Close() })
	return &env{t: t, fc: fc, node: n, pool: pool, srv: srv}
}

type reply struct {
	status                int
	body, xcache, status2 string
	h                     http.Header
}

func (e *env) do(method, path string, hdr ...string) reply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"), resp.Header}
}

func (e *env) get(path string, hdr ...string) reply {
	e.t.Helper()
	return e.do(http.MethodGet, path, hdr...)
}

func TestHitMissHeaders(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("hello", "Cache-Control", "max-age=60", "Surrogate-Key", "greeting"))
	e := newEnv(t, fc, Config{}, o)
	r := e.get("/hi")
	if r.xcache != "MISS" || r.body != "hello" || !strings.Contains(r.status2, "fwd=uri-miss") || !strings.Contains(r.status2, "stored") {
		t.Fatalf("miss: %+v", r)
	}
	if r.h.Get("Via") != "1.1 edgekit" || r.h.Get("Surrogate-Key") != "" {
		t.Fatalf("headers: %v", r.h)
	}
	fc.Advance(10 * time.Second)
	r = e.get("/hi")
	if r.xcache != "HIT" || r.h.Get("Age") != "10" || r.status2 != "edgekit; hit; ttl=50" {
		t.Fatalf("hit: %+v", r)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
	if st := e.node.Stats(); st.Hits != 1 || st.Misses != 1 || st.HitRatio != 0.5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestThunderingHerdCollapsesToOneOriginFetch(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	release := make(chan struct{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "popular")
	})
	// The origin is held until every request has arrived, which on a
	// loaded machine under -race can take longer than the default
	// per-try and fetch timeouts: those are not what this test checks.
	const n = 1000
	arrived := make(chan struct{}, n)
	e := newEnvPool(t, fc, Config{FetchTimeout: time.Hour}, origin.Config{TryTimeout: time.Hour}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			next.ServeHTTP(w, r)
		})
	}, o)
	var wg sync.WaitGroup
	var ok atomic.Int32
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(e.srv.URL + "/hot")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "popular" {
				ok.Add(1)
			}
		}()
	}
	// Release the origin once every request has reached the node (a
	// request that arrives after the fetch ended finds the stored object,
	// cache's TestEngineLateMissLeaderFindsStoredObject).
	for range n {
		<-arrived
	}
	close(release)
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d requests got the body", ok.Load(), n)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("%d origin requests for %d concurrent misses", o.Hits.Load(), n)
	}
}

// A miss looks the cache up once: the engine looks again before going to
// the origin only when a fetch stored something since its lookup (the
// race cache's TestEngineLateMissLeaderFindsStoredObject covers).
func TestMissLooksUpOnce(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "popular")
	})
	e := newEnv(t, fc, Config{}, o)
	if r := e.get("/hot"); r.body != "popular" || r.xcache != "MISS" {
		t.Fatalf("first fetch: %+v", r)
	}
	if m := e.node.Cache().(*cache.HTTPCache).Stats().Misses; m != 1 {
		t.Fatalf("%d cache lookups missed for one miss, want 1", m)
	}
}

func TestUncacheableResponseReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls, inflight atomic.Int32
		gate := make(chan struct{})
		o := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			calls.Add(1)
			inflight.Add(1)
			<-gate
			inflight.Add(-1)
			return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Cache-Control": {"private"}}, ContentLength: 8,
				Body: io.NopCloser(strings.NewReader("per-user")), Request: req}, nil
		})
		n := newTestNode(t, Config{Origin: o})
		get := func(wg *sync.WaitGroup) {
			defer wg.Done()
			rec := httptest.NewRecorder()
			n.ServeHTTP(rec, httptest.NewRequest("GET", "http://site/account", nil))
			if rec.Body.String() != "per-user" {
				t.Errorf("body %q", rec.Body.String())
			}
		}
		var wg sync.WaitGroup
		start := func(k int) {
			for range k {
				wg.Add(1)
				go get(&wg)
			}
			synctest.Wait()
		}
		start(20)
		if c := calls.Load(); c != 1 {
			t.Fatalf("%d fetches before the first answered, want 1 (the rest wait)", c)
		}
		// The first fetch returns uncacheable; the key becomes hit-for-pass
		// and every waiter goes to the origin on its own.
		close(gate)
		wg.Wait()
		if c := calls.Load(); c != 20 {
			t.Fatalf("origin saw %d requests, want 20 (one each)", c)
		}
		if c := n.Stats().Collapsed; c != 0 {
			t.Fatalf("Collapsed = %d for waiters that fetched on their own", c)
		}
		// Later requests skip collapsing altogether: all five are at the
		// origin at once.
		gate = make(chan struct{})
		start(5)
		if c := inflight.Load(); c != 5 {
			t.Fatalf("hit-for-pass requests serialised: only %d at the origin at once", c)
		}
		close(gate)
		wg.Wait()
	})
}

func TestFailoverAndStaleIfError(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	primary := newSite(t, fc, static("primary", "Cache-Control", "max-age=10, stale-if-error=300"))
	alternate := newSite(t, fc, static("alternate", "Cache-Control", "max-age=10, stale-if-error=300"))
	e := newEnv(t, fc, Config{}, primary, alternate)
	if r := e.get("/page"); r.body != "primary" {
		t.Fatalf("%+v", r)
	}
	primary.Close()
	if r := e.get("/other"); r.body != "alternate" || r.status != 200 {
		t.Fatalf("origin down: the alternate must serve: %+v", r)
	}
	alternate.Close()
	fc.Advance(60 * time.Second)
	if r := e.get("/page"); r.status != 200 || r.body != "primary" || r.xcache != "STALE" || !strings.Contains(r.status2, "stale-if-error") {
		t.Fatalf("all origins down: stale-if-error must serve: %+v", r)
	}
	if r := e.get("/never-cached"); r.status != http.StatusBadGateway || !strings.Contains(r.body, "no origin could serve") {
		t.Fatalf("no stale copy: %+v", r)
	}
}

// An origin that never answers is a 504, whichever of the pool's timers
// (TryTimeout, Timeout) ends the wait and however late the transport
// reports it: once, under load, the try's timer fired, the overall
// Timeout passed before the pool looked, and the transport's "request
// canceled" went out as a 502. Fake time (synctest): the transport that
// answers late is a Sleep in the bubble, not a loaded machine.
func TestOriginTimeoutIs504(t *testing.T) {
	for _, late := range []time.Duration{0, 30 * time.Millisecond, time.Second} {
		synctest.Test(t, func(t *testing.T) {
			never := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				<-r.Context().Done()
				time.Sleep(late)
				return nil, errors.New("net/http: request canceled")
			})
			pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: "http://origin.test"}}, Transport: never,
				TryTimeout: 50 * time.Millisecond, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			n, err := New(Config{Origin: pool})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			rec := httptest.NewRecorder()
			n.ServeHTTP(rec, httptest.NewRequest("GET", "http://site/slow", nil))
			if rec.Code != http.StatusGatewayTimeout {
				t.Fatalf("transport %v late: status %d: %s", late, rec.Code, rec.Body)
			}
		})
	}
}

func TestFleetPurgeBySurrogateKey(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var version atomic.Int32
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		switch r.URL.Path {
		case "/a":
			w.Header().Set("Surrogate-Key", "sports article-1")
		case "/b":
			w.Header().Set("Cache-Tag", "sports")
		default:
			w.Header().Set("Surrogate-Key", "weather")
		}
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	bus := &surrogate.LocalBus{}
	defer bus.Close()
	var nodes []*env
	for i := 0; i < 3; i++ {
		nodes = append(nodes, newEnv(t, fc, Config{Name: fmt.Sprint("edge", i), Bus: bus}, o))
	}
	paths := []string{"/a", "/b", "/c"}
	for _, n := range nodes {
		for _, p := range paths {
			n.get(p)
		}
	}
	version.Store(1)
	res, err := nodes[0].node.Purge(context.Background(), PurgeRequest{Keys: []string{"sports"}})
	if err != nil || res.Objects != 2 {
		t.Fatalf("purge: %+v %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bus.Flush(ctx)
	for i, n := range nodes {
		for _, p := range paths {
			r := n.get(p)
			wantFresh := p != "/c"
			if got := strings.HasSuffix(r.body, "v1"); got != wantFresh {
				t.Fatalf("node %d %s after purging 'sports': %q (%s)", i, p, r.body, r.xcache)
			}
		}
	}
}

func TestSoftPurgeServesStaleOnceThenFresh(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var version atomic.Int32
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Surrogate-Key", "news")
		fmt.Fprintf(w, "v%d", version.Load())
	})
	e := newEnv(t, fc, Config{}, o)
	e.get("/n")
	version.Store(1)
	r := e.do(http.MethodPost, "/.edge/purge?key=news&mode=soft")
	var res PurgeResult
	json.Unmarshal([]byte(r.body), &res)
	if r.status != 200 || res.Objects != 1 || res.Mode != "soft" {
		t.Fatalf("purge API: %d %s", r.status, r.body)
	}
	if r := e.get("/n"); r.body != "v0" || r.xcache != "STALE" {
		t.Fatalf("first after soft purge: %+v", r)
	}
	e.node.waitIdle()
	if r := e.get("/n"); r.body != "v1" || r.xcache != "HIT" {
		t.Fatalf("second after soft purge: %+v", r)
	}
}

func TestPurgeAPIByURLAndGuard(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("x", "Cache-Control", "max-age=60"))
	e := newEnv(t, fc, Config{}, o)
	e.get("/x?y=1")
	r := e.do(http.MethodPost, "/.edge/purge?url="+e.srv.URL+"/x%3Fy%3D1")
	if r.status != 200 || !strings.Contains(r.body, `"purged":1`) {
		t.Fatalf("purge by URL: %d %s", r.status, r.body)
	}
	if r := e.get("/x?y=1"); r.xcache != "MISS" {
		t.Fatalf("purged URL still cached: %+v", r)
	}
	if r := e.do(http.MethodGet, "/.edge/purge?all=1"); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET on purge API: %d", r.status)
	}
	if r := e.do(http.MethodPost, "/.edge/purge"); r.status != http.StatusBadRequest {
		t.Fatalf("empty purge: %d %s", r.status, r.body)
	}
}

// TestPurgeAPINeverTrustsPeerAddress: a purge handler for a public
// listener needs a token; a loopback peer (a proxy on the same host) gets
// nothing without it, whatever its address; Allow narrows, never grants.
func TestPurgeAPINeverTrustsPeerAddress(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("x", "Cache-Control", "max-age=60"))
	e := newEnv(t, fc, Config{}, o)
	if _, err := e.node.PurgeHandler(PurgeConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("PurgeConfig{} (anonymous, any listener): %v, want ErrInvalidConfig", err)
	}
	if _, err := e.node.PurgeHandler(PurgeConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("an Allow list alone granted purging: %v", err)
	}
	h, err := e.node.PurgeHandler(PurgeConfig{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	purge := func(remote string, hdr ...string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/.edge/purge?all=1", nil)
		req.RemoteAddr = remote
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		remote string
		hdr    []string
		want   int
	}{
		{"127.0.0.1:5000", nil, http.StatusUnauthorized},
		{"[::1]:5000", nil, http.StatusUnauthorized},
		{"127.0.0.1:5000", []string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{"127.0.0.1:5000", []string{"Authorization", "Bearer s3cre"}, http.StatusUnauthorized},
		{"127.0.0.1:5000", []string{"X-Purge-Token", ""}, http.StatusUnauthorized},
		{"192.0.2.1:5000", []string{"Authorization", "Bearer s3cret"}, http.StatusOK},
		{"127.0.0.1:5000", []string{"X-Purge-Token", "s3cret"}, http.StatusOK},
	} {
		if got := purge(c.remote, c.hdr...); got != c.want {
			t.Errorf("%s %v: %d, want %d", c.remote, c.hdr, got, c.want)
		}
	}
	h, err = e.node.PurgeHandler(PurgeConfig{Token: "s3cret", Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := purge("127.0.0.1:5000", "X-Purge-Token", "s3cret"); got != http.StatusForbidden {
		t.Errorf("peer outside Allow, with token: %d", got)
	}
	if got := purge("10.1.2.3:5000", "X-Purge-Token", "s3cret"); got != http.StatusOK {
		t.Errorf("peer inside Allow, with token: %d", got)
	}
}

func TestVaryRangeHEADAnd304(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.Header().Set("X-Revalidated", "yes")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "0123456789-"+r.Header.Get("Accept-Language"))
	})
	e := newEnv(t, fc, Config{}, o)
	e.get("/v", "Accept-Language", "en")
	e.get("/v", "Accept-Language", "de")
	if r := e.get("/v", "Accept-Language", "en"); r.xcache != "HIT" || r.body != "0123456789-en" {
		t.Fatalf("vary en: %+v", r)
	}
	if r := e.get("/v", "Accept-Language", "de", "Range", "bytes=2-4"); r.status != http.StatusPartialContent || r.body != "234" || r.h.Get("Content-Range") != "bytes 2-4/13" {
		t.Fatalf("range from cache: %+v", r)
	}
	if r := e.get("/v", "Accept-Language", "de", "Range", "bytes=50-"); r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("unsatisfiable range: %+v", r)
	}
	if r := e.do(http.MethodHead, "/v", "Accept-Language", "en"); r.status != 200 || r.body != "" || r.xcache != "HIT" {
		t.Fatalf("HEAD from stored GET: %+v", r)
	}
	if r := e.get("/v", "Accept-Language", "en", "If-None-Match", `"e1"`); r.status != http.StatusNotModified {
		t.Fatalf("client conditional from cache: %+v", r)
	}
	fc.Advance(20 * time.Second)
	r := e.get("/v", "Accept-Language", "en")
	if r.xcache != "REVALIDATED" || r.body != "0123456789-en" || r.h.Get("X-Revalidated") != "yes" || !strings.Contains(r.status2, "fwd-status=304") {
		t.Fatalf("304 freshening: %+v", r)
	}
	if r := e.get("/v", "Accept-Language", "en"); r.xcache != "HIT" {
		t.Fatalf("after 304: %+v", r)
	}
}

func TestUnsafeMethodsReachOriginAndInvalidate(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var posts atomic.Int32
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			posts.Add(1)
			w.Header().Set("Location", "/list")
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, r.URL.Path)
	})
	e := newEnv(t, fc, Config{}, o)
	e.get("/item")
	e.get("/list")
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if r := e.do(m, "/item"); r.status != http.StatusCreated {
			t.Fatalf("%s: %+v", m, r)
		}
	}
	if posts.Load() != 3 {
		t.Fatalf("unsafe requests at origin: %d", posts.Load())
	}
	if r := e.get("/item"); r.xcache != "MISS" {
		t.Fatalf("target URI not invalidated: %+v", r)
	}
	if r := e.get("/list"); r.xcache != "MISS" {
		t.Fatalf("Location not invalidated: %+v", r)
	}
}

func TestLargeObjectsStreamUnstored(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	big := strings.Repeat("b", 5000)
	o := newSite(t, fc, static(big, "Cache-Control", "max-age=60"))
	e := newEnv(t, fc, Config{MaxObjectBytes: 1000}, o)
	for i := 0; i < 2; i++ {
		if r := e.get("/big"); r.body != big || r.xcache != "MISS" {
			t.Fatalf("large object %d: %d bytes, %s", i, len(r.body), r.xcache)
		}
	}
	if o.Hits.Load() != 2 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
}

func TestSurrogateControlAndNegativeCaching(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sc":
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Surrogate-Control", "max-age=60;edgekit")
			io.WriteString(w, "edge-only")
		default:
			http.NotFound(w, r)
		}
	})
	e := newEnv(t, fc, Config{NegativeTTL: 5 * time.Second}, o)
	e.get("/sc")
	r := e.get("/sc")
	if r.xcache != "HIT" || r.h.Get("Surrogate-Control") != "" || r.h.Get("Edgekit-Control") != "" || r.h.Get("Cache-Control") != "no-store" {
		t.Fatalf("Surrogate-Control: %+v", r)
	}
	e.get("/missing")
	if r := e.get("/missing"); r.status != 404 || r.xcache != "HIT" {
		t.Fatalf("negative caching: %+v", r)
	}
	fc.Advance(6 * time.Second)
	if r := e.get("/missing"); r.xcache != "MISS" {
		t.Fatalf("negative TTL outlived: %+v", r)
	}
}

func TestIndependentCachesPerNode(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("x", "Cache-Control", "max-age=60"))
	a, b := newEnv(t, fc, Config{Name: "a"}, o), newEnv(t, fc, Config{Name: "b"}, o)
	a.get("/x")
	if r := b.get("/x"); r.xcache != "MISS" {
		t.Fatalf("node b shared node a's cache: %+v", r)
	}
}

func TestKeyNormalisation(t *testing.T) {
	f := keyFunc(KeyConfig{IgnoreQuery: []string{"utm_source"}, SortQuery: true})
	a := httptest.NewRequest("GET", "http://Example.com/p?b=2&utm_source=x&a=1", nil)
	b := httptest.NewRequest("GET", "http://example.com/p?a=1&b=2", nil)
	if f(a) != f(b) {
		t.Fatalf("%q != %q", f(a), f(b))
	}
}

// TestClientDisconnectDoesNotLeakTheFetch: the client gives up while the
// origin is still answering; the collapsed fetch completes on its own
// (bounded by FetchTimeout), stores the response for the next request,
// and no goroutine is left behind (goleak in TestMain).
func TestClientDisconnectDoesNotLeakTheFetch(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "slow object")
	})
	e := newEnv(t, fc, Config{}, o)
	// The client gives up once its request is at the origin (not after a
	// wall-clock time, which a loaded machine may spend before the
	// request even reaches the node).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/slow", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the client should have given up")
	}
	close(release)
	// The next request either joins the abandoned fetch, still under way
	// (collapsed), or finds what it stored; the one after is a hit. The
	// origin answers once either way.
	if r := e.get("/slow"); r.body != "slow object" || (r.xcache != "HIT" && !strings.Contains(r.status2, "collapsed")) {
		t.Fatalf("the abandoned fetch was neither joined nor stored: %+v", r)
	}
	if r := e.get("/slow"); r.xcache != "HIT" || r.body != "slow object" {
		t.Fatalf("the abandoned fetch was not completed and stored: %+v", r)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
}

// TestClientFaultIsNotABadGateway: a pass-through whose client sends a
// body shorter than announced is answered 400 and leaves the origins
// healthy (issue: 4 such requests ejected both origins).
func TestClientFaultIsNotABadGateway(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	upload := func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }
	e := newEnv(t, fc, Config{}, newSite(t, fc, upload), newSite(t, fc, upload))
	for range 6 {
		r := httptest.NewRequest("POST", "http://site.test/upload", io.MultiReader(strings.NewReader("0123456789"), errReader{io.ErrUnexpectedEOF}))
		r.ContentLength = 1000
		rec := httptest.NewRecorder()
		e.node.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("short body: %d, want 400", rec.Code)
		}
	}
	for _, st := range e.pool.Stats() {
		if st.State != origin.Healthy || st.Errors != 0 {
			t.Errorf("origin %s: %v, %d errors", st.Name, st.State, st.Errors)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Surrogate-Control (W3C Edge Architecture, read as an RFC 9213 targeted
// field) reaches a cache the user supplies too: the node hands its
// directives to the cache with the exchange, where before it wrote them
// into a hidden field that only the node's default cache read.
func TestRFC9213_SurrogateControlWithSuppliedCache(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("edge-only", "Cache-Control", "no-store", "Surrogate-Control", "max-age=60"))
	c, err := cache.New(cache.Config{Shared: true, Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, fc, Config{Cache: c}, o)
	e.get("/sc")
	if r := e.get("/sc"); r.xcache != "HIT" || r.body != "edge-only" || r.h.Get("Cache-Control") != "no-store" {
		t.Fatalf("Surrogate-Control ignored with a supplied cache: %+v", r)
	}
}

// A HEAD miss fetches the whole object with a GET (RFC 9110 §9.3.2: the
// answer to HEAD is the GET's without content), so it stores it: a GET
// after it is a hit, and the origin is asked once.
func TestRFC9111_HEADMissStoresTheGET(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("whole object", "Cache-Control", "max-age=60"))
	e := newEnv(t, fc, Config{}, o)
	if r := e.do(http.MethodHead, "/h"); r.status != 200 || r.body != "" || r.xcache != "MISS" || !strings.Contains(r.status2, "stored") {
		t.Fatalf("HEAD miss: %+v", r)
	}
	if r := e.get("/h"); r.xcache != "HIT" || r.body != "whole object" {
		t.Fatalf("GET after the HEAD miss: %+v", r)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("origin asked %d times, want 1", o.Hits.Load())
	}
}
