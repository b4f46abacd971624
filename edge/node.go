package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/percpu"
	"github.com/edgekit/edgekit/internal/reqid"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/zap"
)

// EdgeNode is a CDN edge server: an http.Handler that serves from its
// cache and fetches misses from origins, with purging and statistics.
// Node is the default implementation.
// Implementations must be safe for concurrent use by multiple goroutines.
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
// A plain value: set it up before use and do not change it while in use.
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
//
// What applies when: the node's own settings (Name, Origin, Device,
// NegativeTTL, SurrogateKeys, KeepSurrogateHeaders, Bus, XCache) and the
// serving engine's (MaxObjectBytes, FetchTimeout, Now, Logger) always
// apply. The default cache's settings (MaxBytes, Policy, StaleIfError,
// DisableCDNCacheControl, HonorClientCacheControl, Key) apply only when Cache is nil: a supplied
// Cache brings its own, and PurgeTarget then says what purges act on.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Name identifies the node in Via and Cache-Status. Empty means
	// "edgekit".
	Name string
	// Origin fetches misses and forwards uncacheable requests; typically
	// an *origin.Pool.
	Origin http.RoundTripper
	// Cache, if set, replaces the default cache; the default cache's
	// settings below are then not used, and the cache keys requests
	// (purges by URL use its Key method when it has one, as
	// *cache.HTTPCache does, and cache.DefaultKey otherwise).
	// Surrogate-Control and negative caching reach it with each stored
	// response (cache.Exchange.Control).
	Cache cache.Cache
	// PurgeTarget is what purges act on when Cache is set: usually the
	// same cache (*cache.HTTPCache implements surrogate.Target). Nil with
	// Cache set means the node cannot purge (ErrPurgeUnsupported). With
	// the default cache it must be nil: the node purges its own cache.
	PurgeTarget surrogate.Target
	// MaxObjectBytes is the largest body stored; larger bodies stream to
	// the client without being stored or buffered (decided from
	// Content-Length, or when a body of unknown length outgrows it).
	// Zero means 8 MiB.
	MaxObjectBytes int64
	// NegativeTTL caches 404, 410 and 5xx responses that carry no
	// freshness information of their own for this long (when nothing
	// better is stored). Zero disables negative caching.
	NegativeTTL time.Duration
	// Device is the device token this node answers to in Surrogate-Control
	// targeting, and announces in Surrogate-Capability. Empty means
	// "edgekit".
	Device string
	// SurrogateKeys selects and bounds the surrogate-key fields read.
	SurrogateKeys surrogate.KeyConfig
	// KeepSurrogateHeaders forwards Surrogate-Control and surrogate-key
	// fields to clients instead of removing them.
	KeepSurrogateHeaders bool
	// Bus fans purges out to other nodes. Nil means this node only. A
	// Bus that acknowledges (surrogate.AckBus, such as
	// surrogate/redisbus) makes Purge wait for the fleet.
	Bus surrogate.Bus
	// RevalidateUnsynced, if positive, and the Bus reports when this node
	// was last in sync with the fleet's purges (surrogate.Syncer), makes
	// a node out of sync for longer than this serve stored objects only
	// after the origin validates them (a conditional request; the object
	// is served stale only if the origin cannot be reached, within
	// stale-if-error): it may have missed a purge. Zero means stored
	// objects are served as usual whatever the Bus's state.
	RevalidateUnsynced time.Duration
	// CDNID is this CDN's cdn-id, which the node appends to CDN-Loop on
	// every request it sends upstream (RFC 8586 §2: a CDN adds itself),
	// so loops through it can be found; a Shield's Token must be the
	// same. Empty means DefaultCDNID ("edgekit").
	CDNID string
	// Tier, if set, reports a request forwarded by the lower level of a
	// shield tier (Shield.FromTier): the node's answers to it carry the
	// origin's surrogate fields (surrogate keys and Surrogate-Control),
	// which it otherwise hides, whether or not it stored the object, so
	// the lower level stores it under the same rules and indexes its keys,
	// and a purge by key reaches it too (Fastly's shielding does the same).
	// Nil means no request is.
	Tier func(*http.Request) bool
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
	// Trace, if set, is called at request, origin fetch and purge events
	// (see Trace). Nil means none.
	Trace *Trace
	// AccessLog, if set, receives one line per request at info level
	// (see package doc, # Access log). Nil means no access log.
	AccessLog *zap.Logger

	// The default cache's settings, used only when Cache is nil.

	// MaxBytes bounds what cached objects really take, headers, keys and
	// surrogate index entries included (see package cache, # Memory).
	// Zero means 256 MiB.
	MaxBytes int64
	// Policy is the eviction policy. Zero means TinyLFU.
	Policy cache.Policy
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
	// HonorClientCacheControl honours the request directives by which a
	// client asks for the origin's answer instead of the stored one
	// (Cache-Control no-cache, max-age, min-fresh; Pragma: no-cache). By
	// default the node ignores them, as RFC 9111 §5.2.1 allows (request
	// directives are advisory) and as Varnish, nginx, Fastly, Cloudflare
	// and Apache Traffic Server do at a shared edge: otherwise any client
	// sends every request past the cache to the origin. only-if-cached,
	// max-stale and stale-if-error are honoured either way, and so is a
	// request's no-store where it binds: that request's response is not
	// stored (a stored one is still served). See
	// cache.Config.IgnoreRequestRefresh.
	HonorClientCacheControl bool
	// Key normalises cache keys.
	Key KeyConfig
}

// DefaultStaleIfError is the stale-on-error window a zero
// Config.StaleIfError means: Varnish's default_grace (10 s).
const DefaultStaleIfError = 10 * time.Second

// Node is the default EdgeNode: a cache.Engine (the RFC 9111 flow: serve,
// revalidate, collapse, store, stream) with what is an edge's own around
// it: cache keys, surrogate keys and purging, Via and Cache-Status, the
// origin. It is safe for concurrent use by multiple goroutines and must
// not be copied. Background revalidations (one per object at a time, at
// most 1024 at once) and origin fetches that may be stored run in
// goroutines the Node's engine owns, each ended by FetchTimeout; Close
// cancels and waits for them. Several Nodes in one process keep
// independent caches.
type Node struct {
	name, via, device string
	cdnID             string
	viaOnly           []string // {via}, shared read-only by responses
	capability        string   // Surrogate-Capability value
	engine            *cache.Engine
	cache             cache.Cache
	keyOf             func(*http.Request) string
	index             *surrogate.Index
	purger            *surrogate.Purger
	keyCfg            surrogate.KeyConfig
	negativeTTL       time.Duration
	xcache            bool
	log               *zap.Logger
	requests          *percpu.Counters
	access            *zap.Logger      // Config.AccessLog
	ids               *reqid.Generator // request IDs, with access
}

var (
	_ EdgeNode         = (*Node)(nil)
	_ surrogate.Target = (*cache.HTTPCache)(nil) // the default cache purges
)

// New returns a Node configured by cfg.
func New(cfg Config) (*Node, error) {
	if cfg.Origin == nil {
		return nil, fmt.Errorf("%w: Origin is required", ErrInvalidConfig)
	}
	if cfg.MaxBytes < 0 || cfg.MaxObjectBytes < 0 || cfg.NegativeTTL < 0 || cfg.FetchTimeout < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	if cfg.Cache == nil && cfg.PurgeTarget != nil {
		return nil, fmt.Errorf("%w: PurgeTarget without Cache", ErrInvalidConfig)
	}
	n := &Node{
		requests: percpu.New(1),
		name:     cfg.Name, device: cfg.Device, negativeTTL: cfg.NegativeTTL, xcache: cfg.XCache,
		log: cfg.Logger, keyCfg: cfg.SurrogateKeys, index: &surrogate.Index{},
		cdnID: cfg.CDNID,
	}
	if n.cdnID == "" {
		n.cdnID = DefaultCDNID
	}
	if n.name == "" {
		n.name = "edgekit"
	}
	n.via = "1.1 " + n.name
	n.viaOnly = []string{n.via}
	if n.device == "" {
		n.device = "edgekit"
	}
	n.capability = n.device + `="Surrogate/1.0"`
	if n.log == nil {
		n.log = zap.NewNop()
	}
	maxObject := cfg.MaxObjectBytes
	if maxObject == 0 {
		maxObject = cache.DefaultMaxObjectBytes
	}
	target := cfg.PurgeTarget
	if cfg.Cache != nil {
		n.cache = cfg.Cache
		n.keyOf = cache.DefaultKey
		if k, ok := cfg.Cache.(interface{ Key(*http.Request) string }); ok {
			n.keyOf = k.Key
		}
	} else {
		n.keyOf = keyFunc(cfg.Key)
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
			Shared: true, MaxBytes: maxBytes, MaxObjectBytes: maxObject, Policy: cfg.Policy,
			TargetedFields: targeted, StaleIfError: grace, Key: n.keyOf, Now: cfg.Now,
			IgnoreRequestRefresh: !cfg.HonorClientCacheControl,
			Logger:               n.log, OnEvict: func(r cache.Removal) { n.index.Remove(r.Key) },
		})
		if err != nil {
			return nil, err
		}
		n.cache, target = c, c
	}
	if target != nil {
		p, err := surrogate.NewPurger(surrogate.PurgerConfig{Index: n.index, Target: target, Bus: cfg.Bus, Node: n.name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), Logger: n.log,
			Trace: purgeTrace(cfg.Trace)})
		if err != nil {
			return nil, err
		}
		n.purger = p
	}
	var hide []string
	if !cfg.KeepSurrogateHeaders {
		hide = surrogate.HeaderFields()
	}
	engineCache := n.cache
	if s, ok := cfg.Bus.(surrogate.Syncer); ok && cfg.RevalidateUnsynced > 0 {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		engineCache = &unsyncedCache{Cache: n.cache, bus: s, after: cfg.RevalidateUnsynced, now: now}
	}
	e, err := cache.NewEngine(cache.EngineConfig{
		Cache: engineCache, Upstream: cfg.Origin, MaxObjectBytes: maxObject, FetchTimeout: cfg.FetchTimeout,
		HideFields: hide, Reveal: cfg.Tier, Outgoing: n.outgoing, Control: n.control, Store: n.store, Decorate: n.decorate,
		Now: cfg.Now, Logger: n.log, Trace: n.engineTrace(&cfg),
	})
	if err != nil {
		return nil, err
	}
	n.engine = e
	return n, nil
}

// outgoing adds the node's Via and CDN-Loop entry (RFC 8586 §2) to every
// request to the origin and, on a cacheable fetch, announces its device
// (Surrogate-Capability).
func (n *Node) outgoing(o cache.Outgoing) {
	o.Request.Header.Add("Via", n.via)
	o.Request.Header.Add("CDN-Loop", n.cdnID)
	if !o.Pass {
		o.Request.Header.Add("Surrogate-Capability", n.capability)
	}
	n.forwardRequestID(o)
}

// store hands a fetched response to the cache with the cost of its
// surrogate index entries, and indexes its surrogate keys once it is
// stored.
func (n *Node) store(f cache.Fetched, store func(cache.Exchange) cache.StoreResult) cache.StoreResult {
	x := f.Exchange
	// The index entries live as long as the object: the cache counts
	// them against its limit with it.
	keys, kerr := surrogate.ParseKeys(x.Response.Header, n.keyCfg)
	x.Retained = surrogate.IndexCost(keys)
	res := store(x)
	if res.Stored {
		if kerr != nil {
			n.log.Debug("edge: surrogate keys", zap.String("key", res.Key), zap.Error(kerr))
		}
		n.indexStored(res.Key, keys)
	}
	return res
}

// decorate adds Via, Cache-Status (RFC 9211; ours last) and X-Cache to
// every response the engine sends.
func (n *Node) decorate(d cache.Decoration) {
	h := d.Header
	if via := h["Via"]; len(via) > 0 {
		h["Via"] = append(append([]string(nil), via...), n.via)
	} else {
		h["Via"] = n.viaOnly
	}
	var buf [96]byte
	entry := string(d.AppendCacheStatus(append(append(buf[:0], n.name...), "; "...)))
	if cs := h["Cache-Status"]; len(cs) > 0 {
		h["Cache-Status"] = append(append([]string(nil), cs...), entry)
	} else {
		h["Cache-Status"] = []string{entry}
	}
	if n.xcache {
		h[cache.XCache] = xcacheValues[d.Outcome]
	}
}

// xcacheValues are the X-Cache values, shared read-only by responses.
var xcacheValues = func() [cache.OutcomeBypass + 1][]string {
	var v [cache.OutcomeBypass + 1][]string
	for o := range v {
		v[o] = []string{cache.Outcome(o).String()}
	}
	return v
}()

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

// Close stops background revalidations and fetches and waits for them,
// and leaves the purge bus. It is idempotent.
func (n *Node) Close() error {
	n.engine.Close()
	if n.purger != nil {
		n.purger.Close()
	}
	return nil
}

// Cache returns the node's cache.
func (n *Node) Cache() cache.Cache { return n.cache }

// ServeHTTP implements http.Handler.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.requests.Add(0, 1)
	n.engine.ServeHTTP(w, r)
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
func (n *Node) control(f cache.Fetched) *cache.Directives {
	h, status, miss := f.Exchange.Response.Header, f.Exchange.Response.StatusCode, !f.Validation
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

// waitIdle waits for background revalidations and fills (tests).
func (n *Node) waitIdle() { n.engine.Wait() }
