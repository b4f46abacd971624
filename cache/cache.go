package cache

import (
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/hop"
	"github.com/edgekit/edgekit/internal/memsize"
	"github.com/edgekit/edgekit/internal/percpu"
	"github.com/edgekit/edgekit/internal/store"
	"go.uber.org/zap"
)

// Cache decides, for a request and the responses stored for it, what may be
// reused (RFC 9111 §4), records responses that may be stored (§3), and
// invalidates after unsafe requests (§4.4). HTTPCache is the default
// implementation; Transport and edge.Node are built on this interface.
// The engine calls an implementation from many goroutines at once: it
// must be safe for concurrent use.
type Cache interface {
	// Lookup finds what is stored for req and decides how it may be used.
	// It never blocks on the network.
	Lookup(req *http.Request) Lookup
	// Store records the origin's response to a request, or, for a 304,
	// freshens the stored responses it validates (§4.3.4).
	Store(x Exchange) StoreResult
	// Invalidate applies §4.4 for an unsafe request and its response and
	// returns how many stored objects it removed.
	Invalidate(req *http.Request, resp *http.Response) int
}

// Decision is what a Lookup allows.
type Decision int

const (
	// Miss: nothing stored may be used; forward the request.
	Miss Decision = iota
	// Fresh: serve the stored response without contacting the origin. It
	// may be stale if the request's max-stale allowed it (Lookup.Stale).
	Fresh
	// StaleWhileRevalidate: serve the stale stored response now and
	// revalidate it in the background (RFC 5861 §3, or a soft purge).
	StaleWhileRevalidate
	// Validate: the stored response may be used only after the origin
	// validates it; send Lookup.Conditional with the request.
	Validate
)

// String returns the decision's name.
func (d Decision) String() string {
	return [...]string{"miss", "fresh", "stale-while-revalidate", "validate"}[d]
}

// Lookup is the result of Cache.Lookup. Header and Body are shared with
// the cache and must not be modified; use Response for a private copy.
type Lookup struct {
	// Key is the primary cache key of the request.
	Key      string
	Decision Decision
	// Status, Header and Body are the selected stored response (empty on
	// a Miss). Header is the stored header as received (hop-by-hop fields
	// removed); its Age field, if any, is the origin's, so send Age (the
	// field below) instead, as Response does.
	Status int
	Header http.Header
	Body   []byte
	// Age is the response's current age (§4.2.3); TTL its remaining
	// freshness, negative when stale.
	Age, TTL time.Duration
	// Stale reports that the selected response is stale.
	Stale bool
	// StaleIfError reports that the selected response may be served if the
	// origin fails or answers 500, 502, 503 or 504 (RFC 5861 §4).
	StaleIfError bool
	// Conditional holds If-None-Match / If-Modified-Since built from the
	// stored validators (§4.3.1), for Decisions Validate and
	// StaleWhileRevalidate only; it is built per lookup, not stored.
	Conditional http.Header
	// OnlyIfCached reports a request with only-if-cached (§5.2.1.7): when
	// Decision is Miss or Validate, answer 504 without forwarding.
	OnlyIfCached bool
	// Refresh reports a request whose Cache-Control has no-cache or
	// no-store (§5.2.1.4, §5.2.1.5): it wants the origin's own answer, so
	// a shared cache forwards it on its own instead of collapsing it
	// behind another request's fetch.
	Refresh bool
	// ByRequest reports a Validate decision on a response that was
	// fresh, forced by the request's own directives (no-cache, max-age,
	// min-fresh, Pragma: no-cache): RFC 9211 §2.2's fwd=request.
	ByRequest bool
	// Heuristic reports that the freshness lifetime is heuristic.
	Heuristic bool
}

// Response returns a new *http.Response carrying a copy of the stored
// header and a reader over the stored body, for req.
func (l *Lookup) Response(req *http.Request) *http.Response {
	body := l.Body
	if req != nil && req.Method == http.MethodHead {
		body = nil
	}
	return &http.Response{
		Status:        statusLine(l.Status),
		StatusCode:    l.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        l.header(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(l.Body)),
		Request:       req,
	}
}

// statusLine is an http.Response Status: "200 OK", code and reason.
func statusLine(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

func (l *Lookup) header() http.Header {
	h := l.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Age", formatAge(l.Age))
	return h
}

// Exchange is one request/response pair handed to Store. Body is the
// complete response body; the cache may keep it (it is never modified)
// or, when its capacity much exceeds its length, keep a copy of exact
// size. Zero times mean "now".
type Exchange struct {
	Request      *http.Request
	Response     *http.Response
	Body         []byte
	RequestTime  time.Time
	ResponseTime time.Time
	// Retained is the memory, in bytes, the caller keeps beside the
	// stored response for as long as it stays stored (edge's surrogate
	// index entries, for instance). It is counted against MaxBytes with
	// the response, so the limit bounds both. Zero means none.
	Retained int64
	// Control, if set, are the response's directives as the caller reads
	// them from a field of its own (an edge's Surrogate-Control, its
	// negative caching): a shared cache uses them instead of the
	// response's targeted fields and Cache-Control, as it would a
	// targeted field (RFC 9213 §2.1), to decide whether to store and for
	// how long, for as long as the response stays stored (a 304 that
	// freshens it does not replace them). A private cache ignores them.
	Control *Directives

	// noRequestNoStore is set by the Engine when the request's Lookup
	// found no no-cache or no-store in it (Lookup.Refresh false): Store
	// then does not parse the request's Cache-Control a second time.
	noRequestNoStore bool
}

// NotStored says why a response was not stored.
type NotStored int

const (
	Stored NotStored = iota
	NotStoredMethod
	NotStoredStatus
	NotStoredNoStore
	NotStoredPrivate
	NotStoredAuthorization
	NotStoredVaryStar
	NotStoredNoFreshness
	NotStoredSetCookie
	NotStoredTooLarge
	NotStoredAdmission
	NotStoredNoMatch // a 304 that matched nothing stored
	numNotStored
)

var notStoredNames = [...]string{"stored", "method", "status", "no-store", "private", "authorization", "vary-star", "no-freshness", "set-cookie", "too-large", "admission", "no-match"}

// String returns the reason's name.
func (r NotStored) String() string {
	if r < 0 || r >= numNotStored {
		return "unknown"
	}
	return notStoredNames[r]
}

// StoreResult reports what Store did.
type StoreResult struct {
	Key    string
	Stored bool
	Reason NotStored
	// Updated is the freshened response after a 304 (Decision Fresh);
	// zero otherwise.
	Updated Lookup
}

// Removal reports an object that left the cache, for Config.OnEvict.
type Removal struct {
	Key    string
	Reason RemovalReason
}

// Config configures an HTTPCache. The zero value is a 64 MiB private
// cache.
type Config struct {
	// Shared makes this a shared cache (a proxy or CDN, RFC 9111 §1):
	// s-maxage and proxy-revalidate apply, private responses and responses
	// to requests with Authorization are not stored (§3.5), and responses
	// with Set-Cookie are not stored (a deliberate choice, as Varnish and
	// Fastly make by default). False means a private cache.
	Shared bool
	// MaxBytes bounds the memory of stored responses: what each one
	// really takes on the heap (body capacity, the header map with its
	// strings, the key, the variant and the store's bookkeeping, see
	// variantCost) plus what callers retain beside it
	// (Exchange.Retained). Zero means 64 MiB.
	MaxBytes int64
	// MaxObjectBytes is the largest response body stored. Zero means
	// MaxBytes/8.
	MaxObjectBytes int64
	// Policy is the eviction policy of the store. Zero means TinyLFU.
	Policy Policy
	// HeuristicFraction is the fraction of the time since Last-Modified
	// used as heuristic freshness (§4.2.2). Zero means 0.1; negative
	// disables heuristic freshness.
	HeuristicFraction float64
	// HeuristicMax caps heuristic freshness. Zero means 24 hours.
	HeuristicMax time.Duration
	// TargetedFields lists RFC 9213 targeted cache-control fields, most
	// specific first, that take precedence over Cache-Control, e.g.
	// {"Edgekit-Cache-Control", "CDN-Cache-Control"}. Only a shared cache
	// uses them. Nil means none.
	TargetedFields []string
	// StaleIfError is a default stale-if-error window for responses that
	// set none (like Varnish's grace), where staleness is not forbidden.
	// Zero means none.
	StaleIfError time.Duration
	// KeepStale is how long a stale response with a validator is kept for
	// revalidation after its last usable moment. Zero means 1 hour.
	KeepStale time.Duration
	// Key computes the primary cache key of a request. Nil means
	// DefaultKey.
	Key func(*http.Request) string
	// IgnoreRequestRefresh makes Lookup ignore the request directives
	// by which a client asks for the origin's answer over a stored one:
	// no-cache, max-age and min-fresh (§5.2.1, which makes request
	// directives advisory) and Pragma: no-cache (§5.4). A shared edge
	// sets it so that no client can send all its requests past the cache
	// to the origin, as Varnish, nginx, Fastly, Cloudflare and Apache
	// Traffic Server (ignore_client_no_cache) do by default.
	// only-if-cached, max-stale and stale-if-error are still honoured
	// (they never add origin traffic), and so is no-store where it binds
	// (§5.2.1.5): the response to that request is not stored, but a
	// stored response is served. False (a private cache, Transport,
	// Middleware) honours them all.
	IgnoreRequestRefresh bool
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
	// OnEvict, if set, is called with the key of every object (all
	// variants of one primary key) that leaves the cache for any reason
	// but replacement, after the cache's locks are released.
	OnEvict func(Removal)
}

// DefaultKey is scheme://host/path?query of the request, with the host
// lower-cased.
func DefaultKey(r *http.Request) string {
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return scheme + "://" + strings.ToLower(host) + r.URL.RequestURI()
}

// HTTPCache is the default Cache: RFC 9111 semantics over a byte-bounded
// store. It is safe for concurrent use by multiple goroutines and starts
// no goroutines.
type HTTPCache struct {
	st                *store.Store[string, *object]
	shared            bool
	maxObject         int64
	heuristicFraction float64
	heuristicMax      time.Duration
	targeted          []string
	staleIfError      time.Duration
	keepStale         time.Duration
	ignoreRefresh     bool
	key               func(*http.Request) string
	now               func() time.Time
	log               *zap.Logger
	onEvict           func(Removal)

	// lookups counts Lookup decisions (hits, misses, stale hits,
	// validations), striped per processor: every request bumps one.
	lookups                        *percpu.Counters
	stores, updates, invalidations atomic.Uint64
	notStored                      [numNotStored]atomic.Uint64
	// gen is bumped by MarkAllStale: a variant stored or validated
	// under an earlier value is soft-purged.
	gen atomic.Uint32
}

// Indexes of HTTPCache.lookups.
const (
	cHits = iota
	cMisses
	cStaleHits
	cValidations
	numLookupCounters
)

// object holds the variants stored under one primary key. It is immutable
// once stored; changes store a new object.
type object struct {
	variants []*variant
}

type variant struct {
	status       int
	header       http.Header
	body         []byte
	vary         []string          // canonical names of selecting fields
	selecting    map[string]string // normalised request values of vary
	requestTime  time.Time
	responseTime time.Time
	softPurged   bool
	controlled   bool   // d came from Exchange.Control, not the header
	gen          uint32 // HTTPCache.gen when stored or validated; another is soft-purged
	cost         int64  // bytes the variant holds (see variantCost)
	headerCost   uint32 // bytes the header holds (see ownHeader)
	retained     uint32 // Exchange.Retained, at most 4 GiB (MaxEntryLimit)

	// Derived once from the header when stored (see prepare).
	d          Directives
	initialAge time.Duration // corrected_initial_age of §4.2.3
	lifetime   time.Duration
	heuristic  bool
}

// prepare computes what lookups need from a variant's header, so a hit
// does no parsing.
func (c *HTTPCache) prepare(v *variant) {
	if !v.controlled {
		v.d = c.directives(v.header)
	}
	v.initialAge = currentAge(v.header, v.requestTime, v.responseTime, v.responseTime)
	v.lifetime, v.heuristic = c.lifetime(v.status, v.header, v.d, v.responseTime)
}

func (v *variant) age(now time.Time) time.Duration {
	resident := now.Sub(v.responseTime)
	if resident < 0 {
		resident = 0
	}
	return v.initialAge + resident
}

const maxVariants = 16

// New returns an HTTPCache configured by cfg.
func New(cfg Config) (*HTTPCache, error) {
	if cfg.MaxBytes < 0 || cfg.MaxObjectBytes < 0 || cfg.HeuristicMax < 0 || cfg.StaleIfError < 0 || cfg.KeepStale < 0 {
		return nil, ErrInvalidConfig
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = 64 << 20
	}
	c := &HTTPCache{
		shared:            cfg.Shared,
		lookups:           percpu.New(numLookupCounters),
		maxObject:         cfg.MaxObjectBytes,
		heuristicFraction: cfg.HeuristicFraction,
		heuristicMax:      cfg.HeuristicMax,
		targeted:          cfg.TargetedFields,
		staleIfError:      cfg.StaleIfError,
		keepStale:         cfg.KeepStale,
		ignoreRefresh:     cfg.IgnoreRequestRefresh,
		key:               cfg.Key,
		now:               clock.Or(cfg.Now),
		log:               cfg.Logger,
		onEvict:           cfg.OnEvict,
	}
	if c.maxObject == 0 {
		c.maxObject = maxBytes / 8
	}
	if c.heuristicFraction == 0 {
		c.heuristicFraction = 0.1
	}
	if c.heuristicMax == 0 {
		c.heuristicMax = 24 * time.Hour
	}
	if c.keepStale == 0 {
		c.keepStale = time.Hour
	}
	if c.key == nil {
		c.key = DefaultKey
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	scfg := store.Config[string, *object]{MaxBytes: maxBytes, Policy: cfg.Policy.store(), Now: c.now}
	if maxObj := c.maxObject + 64<<10; maxObj < maxBytes {
		scfg.MaxEntryBytes = maxObj * 2 // room for a few variants of a large object
		scfg.MaxEntryBytes = min(scfg.MaxEntryBytes, maxBytes, store.MaxEntryLimit)
	}
	if c.onEvict != nil {
		scfg.OnEvict = func(e store.Eviction[string, *object]) {
			if e.Reason != store.Replaced {
				c.onEvict(Removal{Key: e.Key, Reason: reasonOf(e.Reason)})
			}
		}
	}
	st, err := store.New(scfg)
	if err != nil {
		return nil, err
	}
	c.st = st
	return c, nil
}

// Key returns the primary cache key of req.
func (c *HTTPCache) Key(req *http.Request) string { return c.key(req) }

// directives returns the response directives in force: the first valid
// targeted field for a shared cache (RFC 9213 §2.1), else Cache-Control.
func (c *HTTPCache) directives(h http.Header) Directives {
	if c.shared {
		for _, name := range c.targeted {
			if d, ok := parseTargeted(h, name); ok {
				return d
			}
		}
	}
	return ParseDirectives(h.Values("Cache-Control"))
}

func requestDirectives(h http.Header) (Directives, bool) {
	cc := h["Cache-Control"] // canonical key: no canonicalization per request
	if len(cc) == 0 && len(h["Pragma"]) == 0 {
		return newDirectives(), false
	}
	d := ParseDirectives(cc)
	// §5.4: Pragma: no-cache counts only when Cache-Control is absent.
	pragmaNoCache := false
	if len(cc) == 0 {
		for _, p := range h.Values("Pragma") {
			for _, item := range splitList(p) {
				if strings.EqualFold(item, "no-cache") {
					pragmaNoCache = true
				}
			}
		}
	}
	return d, d.NoCache || pragmaNoCache
}

// Lookup implements Cache.
func (c *HTTPCache) Lookup(req *http.Request) Lookup {
	l := Lookup{Key: c.key(req)}
	reqD, reqNoCache := requestDirectives(req.Header)
	if c.ignoreRefresh {
		// §5.2.1: advisory; only no-store binds, and only storing.
		reqNoCache, reqD.NoCache, reqD.MaxAge, reqD.MinFresh = false, false, -1, -1
	}
	l.OnlyIfCached, l.Refresh = reqD.OnlyIfCached, reqD.NoCache || reqD.NoStore
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		c.lookups.Add(cMisses, 1)
		return l
	}
	now := c.now() // one clock reading for the store's expiry and the Age
	obj, ok := c.st.GetAt(l.Key, now)
	if !ok {
		c.lookups.Add(cMisses, 1)
		return l
	}
	v := obj.match(req.Header)
	if v == nil {
		c.lookups.Add(cMisses, 1)
		return l
	}
	d := &v.d
	age := v.age(now)
	life := v.lifetime
	softPurged := v.softPurged || v.gen != c.gen.Load()
	if softPurged {
		life = 0
	}
	l.Status, l.Body, l.Age, l.TTL, l.Heuristic = v.status, v.body, age, life-age, v.heuristic
	l.Header = v.header
	fresh := life > age
	l.Stale = !fresh
	staleness := age - life
	forbidStale := d.MustRevalidate || d.NoCache || (c.shared && (d.ProxyRevalidate || d.SMaxAge.Present()))
	if !forbidStale && !fresh {
		within := func(s Seconds) bool { return s.Present() && staleness <= time.Duration(s)*time.Second }
		l.StaleIfError = within(d.StaleIfError) || within(reqD.StaleIfError) ||
			(c.staleIfError > 0 && !d.StaleIfError.Present() && staleness <= c.staleIfError)
	}

	switch {
	case reqNoCache || d.NoCache:
		l.Decision = Validate
		l.ByRequest = fresh && !d.NoCache
	case fresh:
		l.Decision = Fresh
		if reqD.MaxAge.Present() && age > time.Duration(reqD.MaxAge)*time.Second {
			l.Decision, l.ByRequest = Validate, true
		}
		if reqD.MinFresh.Present() && life-age < time.Duration(reqD.MinFresh)*time.Second {
			l.Decision, l.ByRequest = Validate, true
		}
	case !forbidStale && reqD.MaxStale.Present() && staleness <= time.Duration(reqD.MaxStale)*time.Second &&
		!(reqD.MaxAge.Present() && age > time.Duration(reqD.MaxAge)*time.Second):
		l.Decision = Fresh
	case !forbidStale && (softPurged || d.StaleWhileRevalidate.Present() && staleness <= time.Duration(d.StaleWhileRevalidate)*time.Second):
		l.Decision = StaleWhileRevalidate
	default:
		l.Decision = Validate
	}
	switch l.Decision {
	case Fresh:
		c.lookups.Add(cHits, 1)
		if l.Stale {
			c.lookups.Add(cStaleHits, 1)
		}
	case StaleWhileRevalidate:
		c.lookups.Add(cHits, 1)
		c.lookups.Add(cStaleHits, 1)
	case Validate:
		c.lookups.Add(cValidations, 1)
	}
	if l.Decision == Validate || l.Decision == StaleWhileRevalidate {
		// Built when a validation needs it, not kept with every object.
		l.Conditional = conditional(v.header)
	}
	return l
}

// conditional builds validation headers from a stored response (§4.3.1).
func conditional(h http.Header) http.Header {
	var out http.Header
	if etag := h.Get("Etag"); etag != "" {
		out = http.Header{"If-None-Match": {etag}}
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		if out == nil {
			out = http.Header{}
		}
		out.Set("If-Modified-Since", lm)
	}
	return out
}

// match selects the most recent variant whose selecting header fields
// match the request (§4.1).
func (o *object) match(h http.Header) *variant {
	for _, v := range o.variants {
		if v.matches(h) {
			return v
		}
	}
	return nil
}

func (v *variant) matches(h http.Header) bool {
	for _, name := range v.vary {
		if name == "*" {
			return false
		}
		if normalizedField(h, name) != v.selecting[name] {
			return false
		}
	}
	return true
}

// normalizedField combines a request field's lines and normalises white
// space around list separators, so equivalent requests match (§4.1).
func normalizedField(h http.Header, name string) string {
	vals := h.Values(name)
	if len(vals) == 0 {
		return "\x00absent"
	}
	parts := make([]string, 0, len(vals))
	fold := caseInsensitiveField(name)
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.Join(strings.Fields(p), " "); p != "" {
				if fold {
					p = strings.ToLower(p)
				}
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, ",")
}

// caseInsensitiveField lists request fields whose values compare without
// regard to case (language tags, content codings, charsets), so their
// variants match however a client capitalises them (§4.1 allows such
// normalisation). Order is kept: it can express preference.
func caseInsensitiveField(name string) bool {
	switch name {
	case "Accept-Language", "Accept-Encoding", "Accept-Charset":
		return true
	}
	return false
}

// varyNames returns the canonical selecting field names of a response.
func varyNames(h http.Header) []string {
	var names []string
	for _, line := range h.Values("Vary") {
		for _, n := range strings.Split(line, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if n == "*" {
				return []string{"*"}
			}
			names = append(names, textproto.CanonicalMIMEHeaderKey(n))
		}
	}
	return names
}

// StripHopByHop removes the hop-by-hop fields, and those named by
// Connection, from h in place (RFC 9110 §7.6.1): the SDK's one rule
// (internal/hop), which the cache applies to what it stores (§3.1) and to
// every response its Transport and Middleware return.
func StripHopByHop(h http.Header) { hop.Strip(h) }

// storable applies RFC 9111 §3 to a response.
func (c *HTTPCache) storable(req *http.Request, noRequestNoStore bool, status int, h http.Header, d Directives) NotStored {
	if req.Method != http.MethodGet {
		return NotStoredMethod
	}
	if !noRequestNoStore {
		if reqD, _ := requestDirectives(req.Header); reqD.NoStore {
			return NotStoredNoStore
		}
	}
	if !understoodStatus(status) {
		if status == http.StatusPartialContent || status == http.StatusNotModified || status < 200 {
			return NotStoredStatus
		}
		if d.MustUnderstand || !(d.Public || d.MaxAge.Present() || d.SMaxAge.Present() || h.Get("Expires") != "") {
			return NotStoredStatus
		}
	}
	// must-understand lets a cache that understands the status code ignore
	// no-store (§5.2.2.3).
	if d.NoStore && !(d.MustUnderstand && understoodStatus(status)) {
		return NotStoredNoStore
	}
	if c.shared && d.Private {
		return NotStoredPrivate
	}
	if c.shared && req.Header.Get("Authorization") != "" && !(d.MustRevalidate || d.Public || d.SMaxAge.Present()) {
		return NotStoredAuthorization
	}
	if names := varyNames(h); len(names) == 1 && names[0] == "*" {
		return NotStoredVaryStar
	}
	if c.shared && len(h.Values("Set-Cookie")) > 0 {
		return NotStoredSetCookie
	}
	explicit := d.Public || (!c.shared && d.Private) || d.MaxAge.Present() || (c.shared && d.SMaxAge.Present()) || h.Get("Expires") != ""
	if !explicit && !heuristicStatus(status) && !d.NoCache {
		return NotStoredNoFreshness
	}
	return Stored
}

// Store implements Cache.
func (c *HTTPCache) Store(x Exchange) StoreResult {
	req, resp := x.Request, x.Response
	res := StoreResult{Key: c.key(req)}
	now := c.now()
	if x.RequestTime.IsZero() {
		x.RequestTime = now
	}
	if x.ResponseTime.IsZero() {
		x.ResponseTime = now
	}
	if resp.StatusCode == http.StatusNotModified {
		return c.freshen(req, resp, x, res)
	}
	controlled := x.Control != nil && c.shared
	var d Directives
	if controlled {
		d = *x.Control
	} else {
		d = c.directives(resp.Header)
	}
	if r := c.storable(req, x.noRequestNoStore, resp.StatusCode, resp.Header, d); r != Stored {
		return c.notStoredResult(res, r)
	}
	if int64(len(x.Body)) > c.maxObject {
		return c.notStoredResult(res, NotStoredTooLarge)
	}
	h := resp.Header.Clone()
	StripHopByHop(h)
	c.dropFields(h, d)
	if h.Get("Date") == "" {
		// RFC 9110 §6.6.1: a recipient with a clock adds a missing Date.
		h.Set("Date", x.ResponseTime.UTC().Format(http.TimeFormat))
	}
	h, hcost := ownHeader(h)
	v := &variant{
		status:       resp.StatusCode,
		header:       h,
		headerCost:   clamp32(hcost),
		body:         ownBody(x.Body),
		vary:         varyNames(h),
		requestTime:  x.RequestTime,
		responseTime: x.ResponseTime,
		retained:     clamp32(x.Retained),
		gen:          c.gen.Load(),
		controlled:   controlled,
		d:            d,
	}
	if len(v.vary) > 0 {
		v.selecting = make(map[string]string, len(v.vary))
		for _, name := range v.vary {
			// A copy: the request's value may share a buffer with its
			// whole head.
			v.selecting[name] = strings.Clone(normalizedField(req.Header, name))
		}
	}
	c.prepare(v)
	v.cost = variantCost(v) // after prepare: it counts the parsed directives
	var old []*variant
	if o, ok := c.st.Peek(res.Key); ok {
		old = o.variants
	}
	obj := &object{variants: make([]*variant, 0, len(old)+1)}
	obj.variants = append(obj.variants, v)
	for _, o := range old {
		if len(obj.variants) >= maxVariants {
			break
		}
		if !sameSelection(o, v) {
			obj.variants = append(obj.variants, o)
		}
	}
	if !c.put(res.Key, obj) {
		return c.notStoredResult(res, NotStoredAdmission)
	}
	c.stores.Add(1)
	res.Stored = true
	return res
}

func (c *HTTPCache) notStoredResult(res StoreResult, r NotStored) StoreResult {
	c.notStored[r].Add(1)
	res.Reason = r
	return res
}

func sameSelection(a, b *variant) bool {
	if len(a.vary) != len(b.vary) {
		return false
	}
	for _, n := range a.vary {
		if bv, ok := b.selecting[n]; !ok || bv != a.selecting[n] {
			return false
		}
	}
	return true
}

// put stores obj under key with an expiry after which no variant could be
// used any more, and reports whether the store admitted it. The cost is
// the variants' plus the object, its variant slice and the key string.
func (c *HTTPCache) put(key string, obj *object) bool {
	cost := objectSize + memsize.Alloc(8*cap(obj.variants)) + memsize.String(key)
	var until time.Time
	for _, v := range obj.variants {
		cost += v.cost
		if u := c.usableUntil(v); u.After(until) {
			until = u
		}
	}
	ok, err := c.st.Set(key, obj, cost, until)
	if err != nil {
		c.log.Debug("cache: not stored", zap.String("key", key), zap.Error(err))
		return false
	}
	return ok
}

// usableUntil is the last moment a variant could serve any request: its
// freshness plus the longest stale window any directive or the
// configuration allows, or KeepStale past freshness when it can be
// revalidated.
func (c *HTTPCache) usableUntil(v *variant) time.Time {
	d := &v.d
	freshUntil := v.responseTime.Add(v.lifetime - v.initialAge)
	grace := c.staleIfError
	if d.StaleWhileRevalidate.Present() {
		grace = max(grace, time.Duration(d.StaleWhileRevalidate)*time.Second)
	}
	if d.StaleIfError.Present() {
		grace = max(grace, time.Duration(d.StaleIfError)*time.Second)
	}
	if v.header.Get("Etag") != "" || v.header.Get("Last-Modified") != "" {
		grace = max(grace, c.keepStale)
	}
	// Requests may carry max-stale or stale-if-error of their own; keep
	// every stored response at least a minute past freshness for them.
	grace = max(grace, time.Minute)
	return freshUntil.Add(grace)
}

// freshen applies a 304 to the stored responses it validates (§4.3.4)
// and updates their header fields (§3.2).
func (c *HTTPCache) freshen(req *http.Request, resp *http.Response, x Exchange, res StoreResult) StoreResult {
	obj, ok := c.st.Peek(res.Key)
	if !ok {
		return c.notStoredResult(res, NotStoredNoMatch)
	}
	etag := resp.Header.Get("Etag")
	strong := etag != "" && !strings.HasPrefix(etag, "W/")
	var targets []int
	switch {
	case strong:
		for i, v := range obj.variants {
			if v.header.Get("Etag") == etag {
				targets = append(targets, i)
			}
		}
	case etag != "" || resp.Header.Get("Last-Modified") != "":
		lm := resp.Header.Get("Last-Modified")
		for i, v := range obj.variants {
			if (etag != "" && weakMatch(v.header.Get("Etag"), etag)) || (etag == "" && lm != "" && v.header.Get("Last-Modified") == lm) {
				targets = append(targets, i)
				break // the most recent matching one
			}
		}
	default:
		if len(obj.variants) == 1 && obj.variants[0].header.Get("Etag") == "" && obj.variants[0].header.Get("Last-Modified") == "" {
			targets = []int{0}
		} else if v := obj.match(req.Header); v != nil && etag == "" {
			// The request validated one variant with its stored
			// validators; the 304 echoes none. Update that variant.
			for i, o := range obj.variants {
				if o == v {
					targets = []int{i}
				}
			}
		}
	}
	if len(targets) == 0 {
		return c.notStoredResult(res, NotStoredNoMatch)
	}
	next := &object{variants: append([]*variant(nil), obj.variants...)}
	for _, i := range targets {
		old := next.variants[i]
		v := *old
		h := old.header.Clone()
		updateHeaders(h, resp.Header)
		if !old.controlled {
			c.dropQualifiedFields(h)
		}
		var hcost int64
		v.header, hcost = ownHeader(h)
		v.headerCost = clamp32(hcost)
		v.requestTime, v.responseTime, v.softPurged, v.gen = x.RequestTime, x.ResponseTime, false, c.gen.Load()
		c.prepare(&v)
		v.cost = variantCost(&v)
		next.variants[i] = &v
	}
	if !c.put(res.Key, next) {
		return c.notStoredResult(res, NotStoredAdmission)
	}
	c.updates.Add(1)
	res.Stored = true
	res.Updated = c.Lookup(req)
	return res
}

// dropFields removes from h the fields a qualified no-cache names (RFC 9111
// §5.2.2.4: not to be reused without revalidation, so not kept) and, in a
// shared cache, those a qualified private names (§5.2.2.7).
func (c *HTTPCache) dropFields(h http.Header, d Directives) {
	for _, f := range d.NoCacheFields {
		h.Del(f)
	}
	if c.shared {
		for _, f := range d.PrivateFields {
			h.Del(f)
		}
	}
}

// dropQualifiedFields applies dropFields to a stored header after a 304
// updated it: the 304's own Cache-Control may name fields it also sent.
func (c *HTTPCache) dropQualifiedFields(h http.Header) {
	c.dropFields(h, c.directives(h))
}

// updateHeaders copies the fields of a 304 (or HEAD) response into a
// stored header, except those §3.2 excludes: hop-by-hop fields,
// Content-Length, and the fields that describe the stored content itself
// and would no longer match it (Content-Encoding, Content-Range,
// Content-MD5) or that select it (ETag, by which the 304 was matched).
func updateHeaders(stored, fresh http.Header) {
	h := fresh.Clone()
	StripHopByHop(h)
	for _, n := range []string{"Content-Length", "Content-Encoding", "Content-Range", "Content-Md5", "Etag"} {
		h.Del(n)
	}
	for k, v := range h {
		stored[k] = v
	}
}

func weakMatch(a, b string) bool {
	return a != "" && strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// Invalidate implements Cache (RFC 9111 §4.4): after a non-error response
// to an unsafe method, the target URI and the same-origin URIs in Location
// and Content-Location are invalidated.
func (c *HTTPCache) Invalidate(req *http.Request, resp *http.Response) int {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return 0
	}
	if resp == nil || resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return 0
	}
	n := 0
	if c.Delete(c.key(req)) {
		n++
	}
	base := *req.URL
	if base.Host == "" {
		base.Host = req.Host
	}
	if base.Scheme == "" {
		base.Scheme = "http"
		if req.TLS != nil {
			base.Scheme = "https"
		}
	}
	for _, f := range []string{"Location", "Content-Location"} {
		v := resp.Header.Get(f)
		if v == "" {
			continue
		}
		u, err := base.Parse(v)
		if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
			continue // only same-origin URIs (§4.4)
		}
		r2 := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}, TLS: req.TLS}
		if c.Delete(c.key(r2)) {
			n++
		}
	}
	c.invalidations.Add(uint64(n))
	return n
}

// Delete removes every variant stored under key (a hard purge) and
// reports whether there was any.
func (c *HTTPCache) Delete(key string) bool { return c.st.Delete(key) }

// MarkStale soft-purges key: its variants become stale, so the next
// request is served the stale copy while it is revalidated (unless the
// response forbids stale use, in which case it is validated first). It
// reports whether anything was stored under key.
func (c *HTTPCache) MarkStale(key string) bool {
	obj, ok := c.st.Peek(key)
	if !ok {
		return false
	}
	next := &object{variants: make([]*variant, len(obj.variants))}
	for i, v := range obj.variants {
		cp := *v
		cp.softPurged = true
		next.variants[i] = &cp
	}
	c.put(key, next)
	return true
}

// MarkAllStale soft-purges everything stored now, in constant time: each
// object is served stale while it is revalidated, as after MarkStale.
// Objects stored or validated afterwards are not affected. A fleet node
// that lost track of the purges it may have missed calls it
// (surrogate.StaleMarker).
func (c *HTTPCache) MarkAllStale() { c.gen.Add(1) }

// Clear removes everything.
func (c *HTTPCache) Clear() { c.st.Clear() }

// Len returns the number of primary keys stored.
func (c *HTTPCache) Len() int { return c.st.Len() }

// URLKey is a convenience for purging by URL with the default key: the
// key DefaultKey gives a GET of rawURL.
func URLKey(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", ErrInvalidURL
	}
	return DefaultKey(&http.Request{Method: http.MethodGet, URL: u, Host: u.Host}), nil
}
