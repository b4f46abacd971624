package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/background"
	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/collapse"
	"github.com/edgekit/edgekit/internal/hop"
	"github.com/edgekit/edgekit/internal/interim"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/zap"
)

// EdgeNode is a CDN edge server: an http.Handler that serves from its
// cache and fetches misses from origins, with purging and statistics.
// Node is the default implementation.
type EdgeNode interface {
	http.Handler
	// Purge removes (or, in soft mode, marks stale) cached objects by URL,
	// by surrogate key, or all of them, on this node and every node
	// sharing its purge bus.
	Purge(ctx context.Context, p PurgeRequest) (PurgeResult, error)
	// Stats returns a snapshot of the node's counters.
	Stats() Stats
}

// KeyConfig normalises cache keys. The zero value keys on scheme, the
// lower-cased host, path and query as sent.
type KeyConfig struct {
	// IgnoreQuery lists query parameters left out of the key (tracking
	// parameters such as utm_source).
	IgnoreQuery []string
	// SortQuery sorts query parameters, so ?a=1&b=2 and ?b=2&a=1 share an
	// object.
	SortQuery bool
	// Func, if set, replaces the key computation entirely. It must be
	// deterministic and cheap; it runs on every request.
	Func func(*http.Request) string
}

// Config configures a Node. Origin is required; every other zero value is
// a documented default.
type Config struct {
	// Name identifies the node in Via and Cache-Status. Empty means
	// "edgekit".
	Name string
	// Origin fetches misses and forwards uncacheable requests; typically
	// an *origin.Pool.
	Origin http.RoundTripper
	// Cache, if set, replaces the default cache. To support purging it
	// must also implement surrogate.Target (cache.HTTPCache does); the
	// node's key settings then do not apply (the cache keys requests).
	// Surrogate-Control and negative caching reach it with each stored
	// response (cache.Exchange.Control).
	Cache cache.Cache
	// MaxBytes sizes the default cache: it bounds what cached objects
	// really take, headers, keys and surrogate index entries included
	// (see package cache, # Memory). Zero means 256 MiB.
	MaxBytes int64
	// MaxObjectBytes is the largest body stored; larger bodies stream to
	// the client without being stored or buffered (decided from
	// Content-Length, or when a body of unknown length outgrows it).
	// Zero means 8 MiB.
	MaxObjectBytes int64
	// Policy is the default cache's eviction policy. Zero means TinyLFU.
	Policy cache.Policy
	// NegativeTTL caches 404, 410 and 5xx responses that carry no
	// freshness information of their own for this long (when nothing
	// better is stored). Zero disables negative caching.
	NegativeTTL time.Duration
	// StaleIfError serves stale objects for this long past freshness when
	// the origin cannot be reached or answers 500, 502, 503 or 504 (RFC
	// 9111 §4.2.4, RFC 5861 §4), for responses that set no stale-if-error
	// of their own, unless the response forbids stale use (must-revalidate,
	// proxy-revalidate, no-cache, s-maxage). Zero means
	// DefaultStaleIfError, as Varnish's default grace; negative turns it
	// off (only stale-if-error directives then allow it).
	StaleIfError time.Duration
	// DisableCDNCacheControl ignores the RFC 9213 CDN-Cache-Control field,
	// which the node honours by default.
	DisableCDNCacheControl bool
	// Device is the device token this node answers to in Surrogate-Control
	// targeting, and announces in Surrogate-Capability. Empty means
	// "edgekit".
	Device string
	// Key normalises cache keys (default cache only).
	Key KeyConfig
	// SurrogateKeys selects and bounds the surrogate-key fields read.
	SurrogateKeys surrogate.KeyConfig
	// KeepSurrogateHeaders forwards Surrogate-Control and surrogate-key
	// fields to clients instead of removing them.
	KeepSurrogateHeaders bool
	// Bus fans purges out to other nodes. Nil means this node only.
	Bus surrogate.Bus
	// XCache adds X-Cache: HIT|MISS|STALE|REVALIDATED|PASS to responses.
	XCache bool
	// FetchTimeout bounds a background revalidation and a fetch whose
	// response may still be stored (which outlives the client that
	// started it, for its waiters and the cache). A body too large to
	// store is the client's alone: it is not bounded by FetchTimeout and
	// ends when the client leaves. Zero means 30 s.
	FetchTimeout time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
}

// DefaultStaleIfError is the stale-on-error window a zero
// Config.StaleIfError means: Varnish's default_grace (10 s).
const DefaultStaleIfError = 10 * time.Second

// Node is the default EdgeNode. It is safe for concurrent use by multiple
// goroutines and must not be copied. Background revalidations (one per
// object at a time, at most 1024 at once) and origin fetches that may be
// stored run in goroutines the Node owns, each ended by FetchTimeout;
// Close cancels and waits for them. Several Nodes in one process keep
// independent caches.
type Node struct {
	name, via, device string
	viaOnly           []string // {via}, shared read-only by responses
	hitPrefix         string   // "<name>; hit; ttl="
	origin            http.RoundTripper
	cache             cache.Cache
	target            surrogate.Target
	keyOf             func(*http.Request) string
	index             *surrogate.Index
	purger            *surrogate.Purger
	keyCfg            surrogate.KeyConfig
	keepSurrogate     bool
	maxObject         int64
	negativeTTL       time.Duration
	xcache            bool
	fetchTimeout      time.Duration
	now               func() time.Time
	log               *zap.Logger
	proxy             *httputil.ReverseProxy

	group   collapse.Group[*fetchResult]
	windows sync.Pool // *[]byte of window bytes: fetch and copy buffers
	passMu  sync.Mutex
	pass    map[string]passMark // hit-for-pass markers
	jobs    *background.Jobs    // background revalidations, one per key
	bgWG    sync.WaitGroup      // fills of foreground fetches
	fillMu  sync.Mutex          // orders bgWG.Add before Close's Wait (see goFill)
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool

	st counters
}

// New returns a Node configured by cfg.
func New(cfg Config) (*Node, error) {
	if cfg.Origin == nil {
		return nil, fmt.Errorf("%w: Origin is required", ErrInvalidConfig)
	}
	if cfg.MaxBytes < 0 || cfg.MaxObjectBytes < 0 || cfg.NegativeTTL < 0 || cfg.FetchTimeout < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	n := &Node{
		st:   newCounters(),
		name: cfg.Name, device: cfg.Device, origin: cfg.Origin, keepSurrogate: cfg.KeepSurrogateHeaders,
		maxObject: cfg.MaxObjectBytes, negativeTTL: cfg.NegativeTTL, xcache: cfg.XCache,
		fetchTimeout: cfg.FetchTimeout, now: clock.Or(cfg.Now), log: cfg.Logger, keyCfg: cfg.SurrogateKeys,
		index: &surrogate.Index{}, pass: map[string]passMark{},
	}
	if n.name == "" {
		n.name = "edgekit"
	}
	n.via = "1.1 " + n.name
	n.viaOnly = []string{n.via}
	n.hitPrefix = n.name + "; hit; ttl="
	if n.device == "" {
		n.device = "edgekit"
	}
	if n.maxObject == 0 {
		n.maxObject = 8 << 20
	}
	if n.fetchTimeout == 0 {
		n.fetchTimeout = 30 * time.Second
	}
	if n.log == nil {
		n.log = zap.NewNop()
	}
	n.keyOf = keyFunc(cfg.Key)
	if cfg.Cache != nil {
		n.cache = cfg.Cache
		if k, ok := cfg.Cache.(interface{ Key(*http.Request) string }); ok {
			n.keyOf = k.Key
		}
	} else {
		maxBytes := cfg.MaxBytes
		if maxBytes == 0 {
			maxBytes = 256 << 20
		}
		grace := cfg.StaleIfError
		switch {
		case grace == 0:
			grace = DefaultStaleIfError
		case grace < 0:
			grace = 0 // off: the cache's zero
		}
		var targeted []string
		if !cfg.DisableCDNCacheControl {
			targeted = []string{"CDN-Cache-Control"}
		}
		c, err := cache.New(cache.Config{
			Shared: true, MaxBytes: maxBytes, MaxObjectBytes: n.maxObject, Policy: cfg.Policy,
			TargetedFields: targeted, StaleIfError: grace, Key: n.keyOf, Now: cfg.Now,
			Logger: n.log, OnEvict: func(r cache.Removal) { n.index.Remove(r.Key) },
		})
		if err != nil {
			return nil, err
		}
		n.cache = c
	}
	if t, ok := n.cache.(surrogate.Target); ok {
		n.target = t
		p, err := surrogate.NewPurger(surrogate.PurgerConfig{Index: n.index, Target: t, Bus: cfg.Bus, Node: n.name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), Logger: n.log})
		if err != nil {
			return nil, err
		}
		n.purger = p
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.jobs = background.New(background.Config{Timeout: n.fetchTimeout})
	n.proxy = &httputil.ReverseProxy{
		// Invalidation (RFC 9111 §4.4) needs the request as the client
		// addressed it, before the origin transport rewrites it.
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := n.origin.RoundTrip(req)
			if err == nil && n.cache.Invalidate(req, resp) > 0 {
				n.st.invalidations.Add(1)
			}
			return resp, err
		}),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Host
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Add("Via", n.via)
		},
		ModifyResponse: func(resp *http.Response) error {
			n.decorate(resp.Header, "fwd=method", "PASS")
			if !n.keepSurrogate {
				surrogate.StripHeaders(resp.Header)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			n.st.originErrors.Add(1)
			n.writeError(w, r, err)
		},
		ErrorLog: nil,
	}
	return n, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// keyFunc builds the cache-key function from a KeyConfig.
func keyFunc(k KeyConfig) func(*http.Request) string {
	if k.Func != nil {
		return k.Func
	}
	if len(k.IgnoreQuery) == 0 && !k.SortQuery {
		return cache.DefaultKey
	}
	ignore := map[string]bool{}
	for _, q := range k.IgnoreQuery {
		ignore[q] = true
	}
	return func(r *http.Request) string {
		u := *r.URL
		if u.RawQuery != "" {
			parts := strings.Split(u.RawQuery, "&")
			kept := parts[:0]
			for _, p := range parts {
				name, _, _ := strings.Cut(p, "=")
				if dn, err := url.QueryUnescape(name); err == nil {
					name = dn
				}
				if !ignore[name] && p != "" {
					kept = append(kept, p)
				}
			}
			if k.SortQuery {
				sort.Strings(kept)
			}
			u.RawQuery = strings.Join(kept, "&")
		}
		r2 := *r
		r2.URL = &u
		return cache.DefaultKey(&r2)
	}
}

// Close stops background revalidations and waits for them, and leaves the
// purge bus. It is idempotent.
func (n *Node) Close() error {
	n.fillMu.Lock()
	was := n.closed.Swap(true)
	n.fillMu.Unlock()
	if was {
		return nil
	}
	n.cancel()
	n.jobs.Close()
	n.bgWG.Wait()
	if n.purger != nil {
		n.purger.Close()
	}
	return nil
}

// Cache returns the node's cache.
func (n *Node) Cache() cache.Cache { return n.cache }

// ServeHTTP implements http.Handler.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.st.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead || hop.Upgrade(r.Header) != "" {
		// Unsafe methods, and protocol switches (which ReverseProxy
		// carries through), bypass the cache.
		n.st.passes.Add(1)
		n.proxy.ServeHTTP(w, r)
		return
	}
	l := n.cache.Lookup(r)
	switch l.Decision {
	case cache.Fresh:
		n.st.hits.Add(1)
		if l.Stale {
			n.st.staleServed.Add(1)
			n.serveStored(w, r, &l, fmt.Sprintf("hit; ttl=%d; detail=max-stale", ttlSeconds(l.TTL)), "STALE")
			return
		}
		var buf [96]byte
		entry := string(strconv.AppendInt(append(buf[:0], n.hitPrefix...), ttlSeconds(l.TTL), 10))
		n.st.bytesFromCache.Add(uint64(len(l.Body)))
		n.writeEntry(w, r, l.Status, l.Header, l.Body, l.Age, true, entry, "HIT")
		return
	case cache.StaleWhileRevalidate:
		n.st.hits.Add(1)
		n.st.staleServed.Add(1)
		n.revalidateInBackground(r, l)
		n.serveStored(w, r, &l, fmt.Sprintf("hit; ttl=%d; detail=stale-while-revalidate", ttlSeconds(l.TTL)), "STALE")
		return
	}
	if l.OnlyIfCached {
		n.st.misses.Add(1)
		http.Error(w, "edge: only-if-cached and no usable stored response", http.StatusGatewayTimeout)
		return
	}
	n.st.misses.Add(1)
	var lp *cache.Lookup
	if l.Decision == cache.Validate {
		lp = &l
	}
	n.fetchAndServe(w, r, l.Key, lp, l.Refresh)
}

func ttlSeconds(d time.Duration) int64 { return int64(d / time.Second) }

// fetchResult is an origin fetch as the leader of a collapsed group saw it.
type fetchResult struct {
	status int
	header http.Header
	body   []byte
	age    time.Duration
	stored bool
	// status text for Cache-Status / X-Cache
	cacheStatus, xcache string
	fromCache           bool // body came from the cache (revalidated or stale)
	err                 error
	vary                bool
	// inCache: the leader found a fresh response stored by a fetch that
	// finished between its own cache miss and its joining the group.
	inCache bool
}

// passMark is a hit-for-pass marker: requests for the key fetch on their
// own for a while instead of waiting for one another. tooBig says the
// response was too large to store, so they do not try to keep a copy.
type passMark struct {
	until  time.Time
	tooBig bool
}

func (n *Node) passState(key string) (pass, tooBig bool) {
	n.passMu.Lock()
	defer n.passMu.Unlock()
	m, ok := n.pass[key]
	if ok && n.now().Before(m.until) {
		return true, m.tooBig
	}
	if ok {
		delete(n.pass, key)
	}
	return false, false
}

func (n *Node) markPass(key string, tooBig bool) {
	n.passMu.Lock()
	if len(n.pass) > 100_000 { // bounded: drop the lot rather than grow
		n.pass = map[string]passMark{}
	}
	n.pass[key] = passMark{until: n.now().Add(30 * time.Second), tooBig: tooBig}
	n.passMu.Unlock()
}

// fetchAndServe answers a miss (l nil) or a stored response to validate
// (l) from the origin; refresh is the lookup's Refresh.
func (n *Node) fetchAndServe(w http.ResponseWriter, r *http.Request, key string, l *cache.Lookup, refresh bool) {
	r = withInterim(r, w)
	if pass, tooBig := n.passState(key); pass || refresh {
		// Hit-for-pass (a recent response was uncacheable or too
		// large) or a client asking to bypass: fetch alone, no waiting
		// behind others.
		n.serveOrigin(w, r, key, l, nil, !tooBig)
		return
	}
	fl, res, err := n.group.Start(r.Context(), key)
	if err != nil {
		return // the client went away while waiting
	}
	if fl != nil {
		// A request that missed the cache just as another's fetch ended
		// leads a group of its own: look again before going to the
		// origin, as Varnish finds the object its busy one became.
		if l == nil {
			if _, ok := n.storedFresh(r); ok {
				fl.Finish(&fetchResult{inCache: true}, true)
				n.serveStoredOrFetch(w, r, l, false)
				return
			}
		}
		n.serveOrigin(w, r, key, l, fl, true)
		return
	}
	fr := res.Val
	switch {
	case !res.Shared:
		// The leader's response could not be shared: fetch our own,
		// not counted as collapsed.
		_, tooBig := n.passState(key)
		n.serveOrigin(w, r, key, l, nil, !tooBig)
	case fr.inCache || fr.vary:
		// The leader found or stored a response; a varying one may not
		// be our variant.
		if n.serveStoredOrFetch(w, r, l, true) {
			n.st.collapsed.Add(1)
		}
	default:
		n.st.collapsed.Add(1)
		n.serveFetch(w, r, fr, true)
	}
}

// storedFresh looks r up again: a fetch that ended a moment ago may have
// stored a fresh response for it.
func (n *Node) storedFresh(r *http.Request) (cache.Lookup, bool) {
	again := n.cache.Lookup(r)
	return again, again.Decision == cache.Fresh && !again.Stale
}

// serveStoredOrFetch serves the fresh response a finished fetch stored
// for r, or else fetches r's own (another variant, or evicted meanwhile).
// It reports whether it served the stored response.
func (n *Node) serveStoredOrFetch(w http.ResponseWriter, r *http.Request, l *cache.Lookup, collapsed bool) bool {
	again, ok := n.storedFresh(r)
	if ok {
		status := "hit"
		if collapsed {
			status = "hit; collapsed"
		}
		n.serveStored(w, r, &again, status, "HIT")
		return true
	}
	n.serveOrigin(w, r, again.Key, l, nil, true)
	return false
}

// outgoing builds the request sent to the origin for a cacheable fetch.
func (n *Node) outgoing(ctx context.Context, r *http.Request, l *cache.Lookup) *http.Request {
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.Close = false           // the client's connection is not the origin's
	out.Method = http.MethodGet // a HEAD miss fetches the object to store it
	out.Body = http.NoBody
	out.ContentLength = 0
	if out.URL.Scheme == "" {
		out.URL.Scheme = "http"
	}
	if out.URL.Host == "" {
		out.URL.Host = r.Host
	}
	// The fetch buffers the response and switches no protocol: no TE,
	// no Upgrade, nothing hop-by-hop (RFC 9110 §7.6.1).
	hop.Strip(out.Header)
	// The cache validates with its own validators, and serves the client's
	// conditional and range requests from the full response itself.
	for _, f := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		out.Header.Del(f)
	}
	if l != nil {
		for k, v := range l.Conditional {
			out.Header[k] = v
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header.Get("X-Forwarded-For"); prior != "" {
			out.Header.Set("X-Forwarded-For", prior+", "+ip)
		} else {
			out.Header.Set("X-Forwarded-For", ip)
		}
	}
	out.Header.Add("Via", n.via)
	out.Header.Add("Surrogate-Capability", n.device+`="Surrogate/1.0"`)
	return out
}

// fetchHead asks the origin. It returns either what to serve at once (an
// error, a stale response, a stored one freshened by a 304), or the head
// of a response whose body is still to be read.
func (n *Node) fetchHead(ctx context.Context, r *http.Request, l *cache.Lookup) (*fetchResult, *head) {
	out := n.outgoing(ctx, r, l)
	reqTime := n.now()
	resp, err := n.origin.RoundTrip(out)
	interim.Done(ctx)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		n.st.originErrors.Add(1)
		if l != nil && l.StaleIfError {
			n.st.staleServed.Add(1)
			return n.staleResult(l, "fwd=stale; detail=stale-if-error"), nil
		}
		return &fetchResult{err: err}, nil
	}
	respTime := n.now()
	// One rule for every path the response takes from here: stored,
	// passed through, streamed, merged by a 304 (RFC 9110 §7.6.1).
	hop.Strip(resp.Header)
	if resp.StatusCode >= 500 {
		n.st.originErrors.Add(1)
	}
	if l != nil && l.StaleIfError && (resp.StatusCode == 500 || resp.StatusCode == 502 || resp.StatusCode == 503 || resp.StatusCode == 504) {
		drainClose(resp.Body)
		n.st.staleServed.Add(1)
		return n.staleResult(l, fmt.Sprintf("fwd=stale; fwd-status=%d; detail=stale-if-error", resp.StatusCode)), nil
	}
	if resp.StatusCode == http.StatusNotModified && l != nil {
		drainClose(resp.Body)
		n.st.revalidations.Add(1)
		res := n.cache.Store(cache.Exchange{Request: out, Response: resp, RequestTime: reqTime, ResponseTime: respTime})
		if res.Stored && res.Updated.Decision != cache.Miss {
			u := res.Updated
			return &fetchResult{status: u.Status, header: u.Header, body: u.Body, age: u.Age, stored: true, fromCache: true,
				cacheStatus: "fwd=stale; fwd-status=304; stored", xcache: "REVALIDATED"}, nil
		}
		// Nothing matched any more: ask again without validators.
		return n.fetchHead(ctx, r, nil)
	}
	h := &head{req: r, resp: resp, reqTime: reqTime, respTime: respTime, fwd: "uri-miss",
		control: n.control(resp.Header, resp.StatusCode, l == nil)}
	if l != nil {
		h.fwd = "stale"
	}
	return nil, h
}

// storeFetched stores a complete body read for h when it may be stored,
// and returns what to serve.
func (n *Node) storeFetched(h *head, body []byte) *fetchResult {
	resp := h.resp
	fr := &fetchResult{status: resp.StatusCode, header: resp.Header, body: body, xcache: "MISS",
		vary: resp.Header.Get("Vary") != ""}
	// The index entries live as long as the object: the cache counts
	// them against its limit with it.
	keys, kerr := surrogate.ParseKeys(resp.Header, n.keyCfg)
	res := n.cache.Store(cache.Exchange{Request: h.req, Response: resp, Body: body, RequestTime: h.reqTime, ResponseTime: h.respTime,
		Retained: surrogate.IndexCost(keys), Control: h.control})
	if res.Stored {
		fr.stored = true
		fr.header = resp.Header.Clone()
		fr.age = time.Duration(0)
		if kerr != nil {
			n.log.Debug("edge: surrogate keys", zap.String("key", res.Key), zap.Error(kerr))
		}
		n.indexStored(res.Key, keys)
		fr.cacheStatus = fmt.Sprintf("fwd=%s; fwd-status=%d; stored", h.fwd, resp.StatusCode)
	} else {
		fr.cacheStatus = fmt.Sprintf("fwd=%s; fwd-status=%d; detail=%s", h.fwd, resp.StatusCode, res.Reason)
	}
	return fr
}

// indexStored records the surrogate keys of an object just stored. An
// eviction between the store and this call removed nothing from the index
// (the keys were not there yet), so the entry is dropped again when the
// object is already gone: index entries never outlive their object.
func (n *Node) indexStored(key string, keys []string) {
	n.index.Set(key, keys)
	if c, ok := n.cache.(interface{ Contains(string) bool }); ok && len(keys) > 0 && !c.Contains(key) {
		n.index.Remove(key)
	}
}

// control reads what the node itself says about storing a response:
// Surrogate-Control targeted at its device, else negative caching of a
// miss that states no freshness. The cache uses it in place of the
// response's Cache-Control and CDN-Cache-Control (cache.Exchange.Control).
// Nil means the response speaks for itself.
func (n *Node) control(h http.Header, status int, miss bool) *cache.Directives {
	if sc := h.Values("Surrogate-Control"); len(sc) > 0 {
		if c, ok := surrogate.ParseControl(sc, n.device); ok {
			switch {
			case c.NoStore:
				d := cache.ParseDirectives(nil)
				d.NoStore = true
				return &d
			case c.MaxAge >= 0:
				d := cache.ParseDirectives(nil)
				d.MaxAge = seconds(c.MaxAge)
				if c.Stale >= 0 {
					d.StaleWhileRevalidate, d.StaleIfError = seconds(c.Stale), seconds(c.Stale)
				}
				return &d
			}
		}
	}
	if n.negativeTTL > 0 && miss && (status == 404 || status == 410 || status >= 500) &&
		h.Get("Cache-Control") == "" && h.Get("Expires") == "" && h.Get("CDN-Cache-Control") == "" {
		d := cache.ParseDirectives(nil)
		d.MaxAge = seconds(int64(n.negativeTTL / time.Second))
		return &d
	}
	return nil
}

// seconds caps a delta-seconds at 2^31, as RFC 9111 §1.2.2 says a cache
// reads a larger one.
func seconds(s int64) cache.Seconds { return cache.Seconds(min(s, 1<<31)) }

func (n *Node) staleResult(l *cache.Lookup, status string) *fetchResult {
	return &fetchResult{status: l.Status, header: l.Header, body: l.Body, age: l.Age, fromCache: true, stored: true, cacheStatus: status, xcache: "STALE"}
}

func drainClose(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

func (n *Node) serveFetch(w http.ResponseWriter, r *http.Request, fr *fetchResult, collapsed bool) {
	if fr.err != nil {
		n.writeError(w, r, fr.err)
		return
	}
	status := fr.cacheStatus
	if collapsed {
		status += "; collapsed"
	}
	if fr.fromCache {
		n.st.bytesFromCache.Add(uint64(len(fr.body)))
	}
	// A response fetched just now keeps the origin's Age; one served from
	// the cache carries the age the cache computed.
	n.write(w, r, fr.status, fr.header, fr.body, fr.age, fr.fromCache, status, fr.xcache)
}

// serveStored answers from a cache lookup.
func (n *Node) serveStored(w http.ResponseWriter, r *http.Request, l *cache.Lookup, status, xcache string) {
	n.st.bytesFromCache.Add(uint64(len(l.Body)))
	n.write(w, r, l.Status, l.Header, l.Body, l.Age, true, status, xcache)
}

// write sends a complete response, answering the client's own conditional
// and range requests from it (RFC 9111 §4.3.2, RFC 9110 §14).
func (n *Node) write(w http.ResponseWriter, r *http.Request, status int, stored http.Header, body []byte, age time.Duration, withAge bool, cacheStatus, xcache string) {
	n.writeEntry(w, r, status, stored, body, age, withAge, n.name+"; "+cacheStatus, xcache)
}

// writeEntry is write with a complete Cache-Status entry.
func (n *Node) writeEntry(w http.ResponseWriter, r *http.Request, status int, stored http.Header, body []byte, age time.Duration, withAge bool, entry, xcache string) {
	h := w.Header()
	copyHeader(h, stored, n.keepSurrogate)
	if withAge {
		h["Age"] = []string{strconv.FormatInt(int64(age/time.Second), 10)}
	}
	n.decorateEntry(h, entry, xcache)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // do not sniff a type the origin did not send
	}
	// Keys are canonical literals: reading the map directly skips
	// Header.Get's canonicalization, a tenth of a hit's CPU.
	rh := r.Header
	if status == http.StatusOK && (has(rh, "Range") || has(rh, "If-None-Match") ||
		has(rh, "If-Modified-Since") || has(rh, "If-Match") || has(rh, "If-Unmodified-Since")) &&
		writeConditional(w, r, h, stored, body, n.now()) {
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead && status != http.StatusNotModified && status != http.StatusNoContent {
		w.Write(body)
	}
}

// has reports whether h has a non-empty first value for key, which must
// be in canonical form.
func has(h http.Header, key string) bool {
	v := h[key]
	return len(v) > 0 && v[0] != ""
}

// copyHeader copies a stored header into a response, sharing the value
// slices (they are never modified), minus what clients must not see.
func copyHeader(dst, src http.Header, keepSurrogate bool) {
	for k, v := range src {
		switch k {
		case "Content-Length":
			continue
		case "Surrogate-Control", surrogate.SurrogateKey, surrogate.CacheTag, surrogate.XKey, surrogate.XKeyAlt:
			if !keepSurrogate {
				continue
			}
		}
		dst[k] = v
	}
}

// decorate adds Via, Cache-Status (RFC 9211; ours last) and X-Cache.
func (n *Node) decorate(h http.Header, cacheStatus, xcache string) {
	n.decorateEntry(h, n.name+"; "+cacheStatus, xcache)
}

var xcacheValues = map[string][]string{"HIT": {"HIT"}, "MISS": {"MISS"}, "STALE": {"STALE"}, "REVALIDATED": {"REVALIDATED"}, "PASS": {"PASS"}}

func (n *Node) decorateEntry(h http.Header, entry, xcache string) {
	if via := h["Via"]; len(via) > 0 {
		h["Via"] = append(append([]string(nil), via...), n.via)
	} else {
		h["Via"] = n.viaOnly
	}
	if cs := h["Cache-Status"]; len(cs) > 0 {
		h["Cache-Status"] = append(append([]string(nil), cs...), entry)
	} else {
		h["Cache-Status"] = []string{entry}
	}
	if n.xcache {
		if v, ok := xcacheValues[xcache]; ok {
			h["X-Cache"] = v
		} else {
			h["X-Cache"] = []string{xcache}
		}
	}
}

// writeError answers when no origin could be reached: 504 for timeouts,
// 502 otherwise, with a plain body saying so.
func (n *Node) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	var ne net.Error
	var client *blame.ClientError
	switch {
	case errors.As(err, &client):
		code = http.StatusBadRequest // the client's fault (origin.Pool says so), not the origin's
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		code = http.StatusGatewayTimeout
	}
	n.log.Debug("edge: origin failed", zap.String("url", r.URL.String()), zap.Error(err))
	h := w.Header()
	n.decorate(h, "fwd=uri-miss; detail=origin-unreachable", "MISS")
	http.Error(w, fmt.Sprintf("edge: no origin could serve %s (%s)", r.URL.Path, http.StatusText(code)), code)
}

// revalidateInBackground refreshes a stale object once at a time per key,
// bounded by FetchTimeout.
func (n *Node) revalidateInBackground(r *http.Request, l cache.Lookup) {
	n.jobs.Go(l.Key, func(ctx context.Context) {
		n.st.backgroundFetches.Add(1)
		req := r.Clone(ctx)
		fx := n.newFetch(ctx)
		_, h := n.fetchHead(fx.ctx, req, &l)
		if h == nil || h.resp.ContentLength > n.maxObject {
			if h != nil {
				h.resp.Body.Close()
			}
			fx.release()
			return
		}
		n.runFill(fx, newFill(h.resp.ContentLength, n.maxObject, false), h, "", nil)
	})
}

// waitIdle waits for background revalidations and fills (tests).
func (n *Node) waitIdle() {
	n.jobs.Wait()
	n.bgWG.Wait()
}
