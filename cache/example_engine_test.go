package cache_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/edgekit/edgekit/cache"
)

// The engine as a caching reverse proxy: an http.Handler in front of an
// origin, with a Decorate hook that adds an RFC 9211 Cache-Status entry
// of its own instead of X-Cache, and a Store hook that sees what is
// stored.
func ExampleEngine() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	c, err := cache.New(cache.Config{Shared: true, Now: now})
	if err != nil {
		panic(err)
	}
	e, err := cache.NewEngine(cache.EngineConfig{
		Cache:    c,
		Upstream: http.DefaultTransport,
		Now:      now,
		Decorate: func(d cache.Decoration) {
			d.Header.Set("Cache-Status", string(d.AppendCacheStatus([]byte("example; "))))
		},
		Store: func(f cache.Fetched, store func(cache.Exchange) cache.StoreResult) cache.StoreResult {
			res := store(f.Exchange)
			fmt.Println("stored:", res.Stored)
			return res
		},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	proxy := httptest.NewServer(e)
	defer proxy.Close()

	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/greeting", nil)
		req.Host = origin.Listener.Addr().String() // the origin the proxy fetches from
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("Cache-Status"), string(body))
	}
	// Output:
	// stored: true
	// example; fwd=uri-miss; fwd-status=200; stored hello
	// example; hit; ttl=60 hello
}

// The same engine as an http.RoundTripper for a client: a miss, then a
// hit answered without the network.
func ExampleEngine_RoundTrip() {
	var fetches int
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches++
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	c, err := cache.New(cache.Config{})
	if err != nil {
		panic(err)
	}
	e, err := cache.NewEngine(cache.EngineConfig{Cache: c, Upstream: http.DefaultTransport})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	client := &http.Client{Transport: e}
	for range 2 {
		resp, err := client.Get(origin.URL)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get(cache.XCache), string(body))
	}
	fmt.Println("origin fetches:", fetches)
	// Output:
	// MISS hello
	// HIT hello
	// origin fetches: 1
}

// tinyCache is a cache.Cache written outside the module: it keeps every
// 200 to a GET for a fixed time, whatever the response says. It shows the
// contract, not a policy to copy (RFC 9111 is HTTPCache's job).
type tinyCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]tinyEntry
}

type tinyEntry struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (c *tinyCache) Lookup(req *http.Request) cache.Lookup {
	l := cache.Lookup{Key: cache.DefaultKey(req)}
	c.mu.Lock()
	e, ok := c.m[l.Key]
	c.mu.Unlock()
	if !ok || req.Method != http.MethodGet && req.Method != http.MethodHead {
		return l // cache.Miss
	}
	l.Age = c.now().Sub(e.at)
	l.TTL = c.ttl - l.Age
	if l.TTL <= 0 {
		return cache.Lookup{Key: l.Key}
	}
	l.Decision, l.Status, l.Header, l.Body = cache.Fresh, http.StatusOK, e.header, e.body
	return l
}

func (c *tinyCache) Store(x cache.Exchange) cache.StoreResult {
	res := cache.StoreResult{Key: cache.DefaultKey(x.Request)}
	if x.Request.Method != http.MethodGet || x.Response.StatusCode != http.StatusOK {
		res.Reason = cache.NotStoredStatus
		return res
	}
	c.mu.Lock()
	c.m[res.Key] = tinyEntry{header: x.Response.Header.Clone(), body: x.Body, at: c.now()}
	c.mu.Unlock()
	res.Stored = true
	return res
}

func (c *tinyCache) Invalidate(req *http.Request, resp *http.Response) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cache.DefaultKey(req)
	if _, ok := c.m[key]; !ok {
		return 0
	}
	delete(c.m, key)
	return 1
}

// A cache adapter of your own under the engine: the engine brings the
// flow (collapsing, streaming, validation), the adapter decides and
// stores.
func Example_customCache() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "no cache headers at all")
	}))
	defer origin.Close()

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var c cache.Cache = &tinyCache{ttl: time.Minute, now: clock, m: map[string]tinyEntry{}}
	e, err := cache.NewEngine(cache.EngineConfig{Cache: c, Upstream: http.DefaultTransport, Now: clock})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	client := &http.Client{Transport: e}
	for _, wait := range []time.Duration{0, 30 * time.Second, time.Minute} {
		now = now.Add(wait)
		resp, err := client.Get(origin.URL + "/page")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get(cache.XCache), resp.Header.Get("Age"), string(body))
	}
	// Output:
	// MISS  no cache headers at all
	// HIT 30 no cache headers at all
	// MISS  no cache headers at all
}
