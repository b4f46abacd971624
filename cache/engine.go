package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/background"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/collapse"
	"github.com/edgekit/edgekit/internal/hop"
	"github.com/edgekit/edgekit/internal/percpu"
	"go.uber.org/zap"
)

// EngineConfig configures an Engine. Cache and Upstream are required;
// every other zero value is a documented default.
// A plain value: set it up before use and do not change it while in use.
type EngineConfig struct {
	// Cache decides what may be reused and stores (RFC 9111). Required.
	Cache Cache
	// Upstream answers what the cache cannot: misses, validations and
	// requests passed through. Required.
	Upstream http.RoundTripper
	// MaxObjectBytes is the largest response body the engine buffers to
	// store; larger bodies stream to the client without being stored or
	// buffered (decided from Content-Length, or when a body of unknown
	// length outgrows it). Zero means 8 MiB.
	MaxObjectBytes int64
	// FetchTimeout bounds a background revalidation and a fetch whose
	// response may still be stored (which outlives the client that
	// started it, for its waiters and the cache). A body too large to
	// store is the client's alone: it is not bounded by FetchTimeout and
	// ends when the client leaves. Zero means 30 s.
	FetchTimeout time.Duration
	// HideFields lists header fields (canonical names) of stored and
	// fetched responses that the engine does not send on (an edge's
	// Surrogate-Control and surrogate keys). Nil means none.
	HideFields []string
	// Reveal, if set, reports requests whose responses carry HideFields
	// after all: those of the next tier of the same CDN (a shield tier's
	// lower level), which stores the object as this engine did and needs
	// its Surrogate-Control and surrogate keys. Nil means none.
	Reveal func(*http.Request) bool
	// Outgoing, if set, runs for every request the engine sends
	// upstream from ServeHTTP (a miss, a validation, a background
	// revalidation, and what the default Pass forwards) just before it
	// goes: the engine has already removed hop-by-hop fields, added
	// X-Forwarded-For, and for a cacheable fetch removed the client's own
	// conditional and Range fields and added its validators. It may add
	// header fields to o.Request (an edge adds Via and
	// Surrogate-Capability); it must not keep o.Request or read its body.
	Outgoing func(o Outgoing)
	// Control, if set, returns the directives the adapter reads for a
	// fetched response from a field of its own: an edge's
	// Surrogate-Control targeted at its device, its negative caching. A
	// shared Cache uses them in place of the response's targeted fields
	// and Cache-Control, as it would a targeted field (RFC 9213 §2.1;
	// Exchange.Control). It runs before Store, on the fetch's goroutine;
	// it must not keep f. Nil, or a nil result, means the response speaks
	// for itself. (Targeted fields the response carries, such as
	// CDN-Cache-Control, are the Cache's: Config.TargetedFields.)
	Control func(f Fetched) *Directives
	// Store, if set, is called in place of Cache.Store for every complete
	// response the engine fetched (not for a 304 that freshens a stored
	// one): it may set f.Exchange.Retained, must call store once with the
	// Exchange, and may act on the result (an edge indexes surrogate
	// keys). It runs on the fetch's goroutine, before any waiter is
	// answered. Nil means store(f.Exchange).
	Store func(f Fetched, store func(Exchange) StoreResult) StoreResult
	// Decorate, if set, runs on the header of every response the engine
	// sends (served, fetched, streamed, or an error it writes), after
	// the stored or fetched fields are copied in, before the status is
	// written. It may add and remove fields; it must not keep d.Header.
	// Nil means X-Cache (see XCache) set to d.Outcome.
	Decorate func(d Decoration)
	// Pass serves the requests the engine does not cache in ServeHTTP:
	// unsafe methods and protocol switches. Nil means an
	// httputil.ReverseProxy over Upstream that sets X-Forwarded-For,
	// -Host and -Proto, runs Outgoing, invalidates after a successful
	// unsafe method (RFC 9111 §4.4), removes HideFields from the answer
	// and runs Decorate (OutcomePass). It does not abort a forwarded
	// request when the client's context ends (a half-close ends it on
	// both net/http's server and httpfront's): a client that left is
	// found when writing to it fails.
	Pass http.Handler
	// Trace, if set, is called at events of the serving flow (requests
	// served, origin fetches, collapsed waits, revalidations). Nil means
	// none, at the cost of one pointer check per request.
	Trace *Trace
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
}

// Outgoing is a request about to be sent upstream, for
// EngineConfig.Outgoing.
// A plain value, safe for concurrent use while no goroutine changes it.
type Outgoing struct {
	// Request is what goes upstream (a GET, even for a client's HEAD).
	Request *http.Request
	// Client is the request as the client sent it; it must not be
	// modified. A background revalidation has no client left: Client is
	// then a copy of the request that started it.
	Client *http.Request
	// Pass reports a request the default Pass handler forwards (an
	// unsafe method, a protocol switch), not a cacheable fetch.
	Pass bool
}

// Fetched is a complete response the engine is about to offer its Cache,
// for EngineConfig.Store.
// A plain value, safe for concurrent use while no goroutine changes it.
type Fetched struct {
	// Exchange is what goes to Cache.Store.
	Exchange Exchange
	// Validation reports that the fetch validated a stored response (the
	// origin answered it in full), rather than filling a miss.
	Validation bool
}

// Outcome says how the engine produced a response.
type Outcome uint8

const (
	// OutcomeHit: served from the cache, fresh.
	OutcomeHit Outcome = iota
	// OutcomeMiss: fetched (and stored when allowed), or an error.
	OutcomeMiss
	// OutcomeStale: a stale stored response, under max-stale,
	// stale-while-revalidate or stale-if-error.
	OutcomeStale
	// OutcomeRevalidated: the origin answered 304 and the freshened
	// stored response was served.
	OutcomeRevalidated
	// OutcomePass: not a request the cache handles (an unsafe method).
	OutcomePass
	// OutcomeBypass: a request RoundTrip sends on as it is (a Range or
	// conditional request of the client's own).
	OutcomeBypass
)

var outcomeNames = [...][]string{{"HIT"}, {"MISS"}, {"STALE"}, {"REVALIDATED"}, {"PASS"}, {"BYPASS"}}

// String returns the outcome as X-Cache carries it: HIT, MISS, STALE,
// REVALIDATED, PASS or BYPASS.
func (o Outcome) String() string { return outcomeNames[o][0] }

// Decoration is a response about to be sent, for EngineConfig.Decorate.
// A plain value, safe for concurrent use while no goroutine changes it.
type Decoration struct {
	// Header is the response's header; the hook may change it.
	Header  http.Header
	Request *http.Request
	Outcome Outcome
	// detail holds the RFC 9211 parameters of the cache's entry, or is
	// empty for a fresh hit, whose parameters are "hit; ttl=" and ttl.
	detail string
	ttl    time.Duration
}

// AppendCacheStatus appends the RFC 9211 Cache-Status parameters of this
// response (without the cache's name), e.g. "hit; ttl=30" or
// "fwd=uri-miss; fwd-status=200; stored", to b.
func (d Decoration) AppendCacheStatus(b []byte) []byte {
	if d.detail != "" {
		return append(b, d.detail...)
	}
	return strconv.AppendInt(append(b, "hit; ttl="...), int64(d.ttl/time.Second), 10)
}

// setXCache is the default decoration.
func setXCache(d Decoration) { d.Header[XCache] = outcomeNames[d.Outcome] }

// Engine is the one RFC 9111 serving flow of the SDK: it looks a request
// up in its Cache and serves what is fresh; serves what is stale while
// revalidating it in the background (RFC 5861 §3); validates with a
// conditional request and merges a 304 (§4.3); serves what is stale when
// the origin fails (§4.2.4, RFC 5861 §4); fetches a miss once for all
// concurrent requests for it (collapsing), or alone for a while after an
// uncacheable or too large response (hit-for-pass); stores what may be
// stored; and streams what is too large to store. It forwards 1xx
// responses (RFC 9110 §15.2) and removes hop-by-hop fields (§7.6.1) from
// everything it sends on.
//
// It serves as an http.Handler (ServeHTTP, for a proxy or edge) and as an
// http.RoundTripper (RoundTrip, for a client); Transport, Middleware and
// edge.Node are thin adapters over it.
//
// An Engine is safe for concurrent use by multiple goroutines and must not
// be copied. Background revalidations (one per key at a time, at most
// 1024 at once) and fetches whose response may be stored run in
// goroutines the Engine owns, each ended by FetchTimeout; Close cancels
// and waits for them.
type Engine struct {
	cache        Cache
	upstream     http.RoundTripper
	maxObject    int64
	fetchTimeout time.Duration
	hide         []string
	reveal       func(*http.Request) bool
	outgoingHook func(Outgoing)
	controlHook  func(Fetched) *Directives
	storeHook    func(Fetched, func(Exchange) StoreResult) StoreResult
	decorate     func(Decoration)
	pass         http.Handler
	trace        *Trace
	now          func() time.Time
	log          *zap.Logger

	group   collapse.Group[*fetchResult]
	windows sync.Pool // *[]byte of window bytes: fetch and copy buffers
	passMu  sync.Mutex
	passes  map[string]passMark // hit-for-pass markers
	jobs    *background.Jobs    // background revalidations, one per key
	// filled counts fetches that ended storing a response: a miss whose
	// flight starts after it changed looks again (see fetch).
	filled atomic.Uint64

	fillMu    sync.Mutex
	fillIdle  sync.Cond   // on fillMu; broadcast when fills drops to 0
	fills     int         // fill goroutines running
	closed    bool        // on fillMu: goFill starts nothing
	stopped   atomic.Bool // Close has begun: fetches follow their client
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once

	st *percpu.Counters
}

// Indexes of Engine.st.
const (
	sHits = iota
	sMisses
	sStale
	sRevalidations
	sCollapsed
	sOriginErrors
	sBackground
	sBytesFromCache
	sBytesFromOrigin
	sPasses
	sInvalidations
	numEngineCounters
)

// EngineStats is a snapshot of an Engine's counters.
// A plain value, safe for concurrent use while no goroutine changes it.
type EngineStats struct {
	// Hits are requests answered from the cache without waiting for the
	// origin (stale-while-revalidate and max-stale included); Misses the
	// other cacheable ones.
	Hits, Misses uint64
	// StaleServed counts stale responses served (stale-while-revalidate,
	// stale-if-error, max-stale).
	StaleServed uint64
	// Revalidations counts 304 answers that freshened stored responses.
	Revalidations uint64
	// Collapsed counts requests answered from another request's fetch.
	// Waiters released to fetch on their own (the response was
	// uncacheable or too large to store) are not counted.
	Collapsed uint64
	// OriginErrors counts failed fetches and 5xx answers.
	OriginErrors uint64
	// BackgroundFetches counts stale-while-revalidate refreshes.
	BackgroundFetches               uint64
	BytesFromCache, BytesFromOrigin uint64
	// Passes counts requests forwarded uncached (unsafe methods, protocol
	// switches) by RoundTrip or the default Pass, and Invalidations those
	// of them that
	// invalidated something stored (RFC 9111 §4.4).
	Passes, Invalidations uint64
}

// The default implementations of the interfaces the engine takes and
// offers.
var (
	_ Cache             = (*HTTPCache)(nil)
	_ http.Handler      = (*Engine)(nil)
	_ http.RoundTripper = (*Engine)(nil)
)

// DefaultMaxObjectBytes is what a zero EngineConfig.MaxObjectBytes means.
const DefaultMaxObjectBytes = 8 << 20

// NewEngine returns an Engine configured by cfg.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Cache == nil || cfg.Upstream == nil {
		return nil, fmt.Errorf("%w: Engine needs a Cache and an Upstream", ErrInvalidConfig)
	}
	if cfg.MaxObjectBytes < 0 || cfg.FetchTimeout < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	e := &Engine{
		cache: cfg.Cache, upstream: cfg.Upstream, maxObject: cfg.MaxObjectBytes,
		fetchTimeout: cfg.FetchTimeout, hide: cfg.HideFields, reveal: cfg.Reveal, outgoingHook: cfg.Outgoing,
		storeHook: cfg.Store, controlHook: cfg.Control, decorate: cfg.Decorate, pass: cfg.Pass,
		trace: cfg.Trace, now: clock.Or(cfg.Now), log: cfg.Logger, passes: map[string]passMark{},
		st: percpu.New(numEngineCounters),
	}
	if e.maxObject == 0 {
		e.maxObject = DefaultMaxObjectBytes
	}
	if e.fetchTimeout == 0 {
		e.fetchTimeout = background.DefaultTimeout
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.decorate == nil {
		e.decorate = setXCache
	}
	e.fillIdle.L = &e.fillMu
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.jobs = background.New(background.Config{Timeout: e.fetchTimeout})
	if e.pass == nil {
		e.pass = e.defaultPass()
	}
	return e, nil
}

// Close cancels background revalidations and fetches and waits for them.
// It is idempotent. The Engine keeps serving afterwards, without
// background work: a miss is then fetched for its own client only and not
// stored.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.stopped.Store(true)
		e.fillMu.Lock()
		e.closed = true
		e.fillMu.Unlock()
		e.cancel()
		e.jobs.Close()
		e.waitFills()
	})
	return nil
}

// Wait blocks until no background work runs (revalidations and fetches
// under way, and any started meanwhile, have ended): for a graceful
// hand-over, or a test or demo that reads the cache after a
// stale-while-revalidate response. Unlike Close it stops nothing.
func (e *Engine) Wait() {
	e.jobs.Wait()
	e.waitFills()
}

func (e *Engine) waitFills() {
	e.fillMu.Lock()
	for e.fills > 0 {
		e.fillIdle.Wait()
	}
	e.fillMu.Unlock()
}

// Cache returns the engine's Cache.
func (e *Engine) Cache() Cache { return e.cache }

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() EngineStats {
	return EngineStats{
		Hits: e.st.Load(sHits), Misses: e.st.Load(sMisses), StaleServed: e.st.Load(sStale),
		Revalidations: e.st.Load(sRevalidations), Collapsed: e.st.Load(sCollapsed),
		OriginErrors: e.st.Load(sOriginErrors), BackgroundFetches: e.st.Load(sBackground),
		BytesFromCache: e.st.Load(sBytesFromCache), BytesFromOrigin: e.st.Load(sBytesFromOrigin),
		Passes: e.st.Load(sPasses), Invalidations: e.st.Load(sInvalidations),
	}
}

// cacheable reports whether the engine serves r through the cache: GET
// and HEAD, except protocol switches.
func cacheable(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && hop.Upgrade(r.Header) == ""
}

// ServeHTTP implements http.Handler: it answers r from the cache or the
// origin, and answers the client's own conditional and Range requests
// from a stored 200 (RFC 9111 §4.3.2, RFC 9110 §13, §14). Requests the
// cache does not handle go to EngineConfig.Pass.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.trace != nil {
		e.serveTraced(w, r)
		return
	}
	e.serve(w, r)
}

// serve is ServeHTTP; it returns how the response was produced.
func (e *Engine) serve(w http.ResponseWriter, r *http.Request) Outcome {
	if !cacheable(r) {
		e.pass.ServeHTTP(w, r)
		return OutcomePass
	}
	filled := e.filled.Load()
	l := e.cache.Lookup(r)
	if l.Decision == Fresh && !l.Stale {
		// The fast path: the stored entry is written as it is.
		e.st.Add(sHits, 1)
		e.st.Add(sBytesFromCache, uint64(len(l.Body)))
		e.writeComplete(w, r, l.Status, l.Header, l.Body, l.Age, true, Decoration{Outcome: OutcomeHit, ttl: l.TTL})
		return OutcomeHit
	}
	a := e.answer(withInterim(r, w), l, filled)
	e.write(w, r, &a)
	if a.err != nil {
		return OutcomeMiss
	}
	return a.outcome
}

// RoundTrip implements http.RoundTripper over the same flow as ServeHTTP.
// Unsafe methods and protocol switches go to Upstream (an unsafe one then
// invalidates, RFC 9111 §4.4); so do Range and conditional requests of
// the client's own, which get the origin's answer (OutcomeBypass). An
// origin that cannot be reached is an error, unless a stale response may
// be served instead. The 1xx responses of a fetch reach the request's
// httptrace.ClientTrace, as from http.Transport.
func (e *Engine) RoundTrip(r *http.Request) (*http.Response, error) {
	if !cacheable(r) {
		e.st.Add(sPasses, 1)
		resp, err := e.send(r)
		if err == nil && e.cache.Invalidate(r, resp) > 0 {
			e.st.Add(sInvalidations, 1)
		}
		return resp, err
	}
	if r.Header.Get("Range") != "" || hasConditional(r.Header) {
		resp, err := e.send(r)
		if err == nil {
			e.decorate(Decoration{Header: resp.Header, Request: r, Outcome: OutcomeBypass, detail: "fwd=bypass"})
		}
		return resp, err
	}
	filled := e.filled.Load()
	l := e.cache.Lookup(r)
	if l.Decision == Fresh && !l.Stale {
		e.st.Add(sHits, 1)
		e.st.Add(sBytesFromCache, uint64(len(l.Body)))
		a := answer{status: l.Status, header: l.Header, body: l.Body, age: l.Age, fromCache: true, outcome: OutcomeHit, ttl: l.TTL}
		return e.response(r, &a), nil
	}
	a := e.answer(r, l, filled)
	if a.err != nil {
		return nil, a.err
	}
	return e.response(r, &a), nil
}

// send forwards r as it is and removes the hop-by-hop fields of the
// answer (RFC 9110 §7.6.1); a 101 keeps them: they describe the protocol
// switched to.
func (e *Engine) send(r *http.Request) (*http.Response, error) {
	resp, err := e.upstream.RoundTrip(r)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		hop.Strip(resp.Header)
	}
	return resp, err
}

// hasConditional reports a request with preconditions of its own. A
// client may set fields under any capitalisation: Get canonicalizes.
func hasConditional(h http.Header) bool {
	return h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" || h.Get("If-Match") != "" ||
		h.Get("If-Unmodified-Since") != "" || h.Get("If-Range") != ""
}

// has reports whether h has a non-empty first value for key, which must
// be in canonical form. Reading the map directly skips Header.Get's
// canonicalization, a tenth of a hit's CPU.
func has(h http.Header, key string) bool {
	v := h[key]
	return len(v) > 0 && v[0] != ""
}

// defaultPass is a reverse proxy over Upstream for what the cache does
// not handle; a successful unsafe request invalidates (RFC 9111 §4.4).
func (e *Engine) defaultPass() http.Handler {
	proxy := &httputil.ReverseProxy{
		// Invalidation needs the request as the client addressed it,
		// before Upstream rewrites it.
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if e.trace != nil {
				return e.passTraced(req)
			}
			resp, err := e.upstream.RoundTrip(req)
			if err == nil && e.cache.Invalidate(req, resp) > 0 {
				e.st.Add(sInvalidations, 1)
			}
			return resp, err
		}),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			if pr.In.TLS != nil {
				pr.Out.URL.Scheme = "https"
			}
			pr.Out.URL.Host = pr.In.Host
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			if e.outgoingHook != nil {
				e.outgoingHook(Outgoing{Request: pr.Out, Client: pr.In, Pass: true})
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			for _, f := range e.hide {
				delete(resp.Header, f)
			}
			e.decorate(Decoration{Header: resp.Header, Request: resp.Request, Outcome: OutcomePass, detail: "fwd=method"})
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			e.st.Add(sOriginErrors, 1)
			e.writeErrorAs(w, r, err, Decoration{Outcome: OutcomePass, detail: "fwd=method; detail=origin-unreachable"})
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.st.Add(sPasses, 1)
		// A request passed through is not aborted when its client's
		// context ends (HAProxy's default, without abortonclose): both
		// fronts, net/http's and httpfront, end it when the connection
		// reads EOF, and a client that half-closes after its request
		// (TCP lets it, RFC 9293 §3.6) still reads the response. An
		// unsafe request already forwarded must not be cut half-way
		// either. A client that left is found when writing the response
		// fails, which ends the copy and the origin's response; one that
		// leaves during its upload fails the body's read, which ends the
		// forwarded request.
		// (Cancelled when the handler returns: a context with a Done
		// channel also keeps ReverseProxy off net/http's CloseNotifier,
		// which would abort on the same EOF.)
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		proxy.ServeHTTP(w, r.WithContext(ctx))
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answer is what the engine serves for a cacheable request: a complete
// response (header and body are shared, read-only), a streamed one, or an
// error.
type answer struct {
	status    int
	header    http.Header
	body      []byte
	age       time.Duration
	fromCache bool // a stored response: send the age the cache computed
	outcome   Outcome
	detail    string // RFC 9211 parameters (see Decoration)
	ttl       time.Duration
	// stream, when set, is the body still arriving, of length (or -1).
	stream io.ReadCloser
	length int64
	err    error
	// gone: the client left while waiting; nothing is to be sent.
	gone bool
}

// errOnlyIfCached is the body of the 504 that answers only-if-cached when
// nothing usable is stored (RFC 9111 §5.2.1.7).
const errOnlyIfCached = "cache: only-if-cached and no usable stored response\n"

var textPlain = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}

// answer serves a lookup that was not a fresh hit. filled is e.filled as
// read before the lookup. l is a copy: the fast hit path keeps its own on
// the stack.
func (e *Engine) answer(r *http.Request, lv Lookup, filled uint64) answer {
	l := &lv
	switch l.Decision {
	case Fresh: // stale, as the request's max-stale allowed
		e.st.Add(sHits, 1)
		e.st.Add(sStale, 1)
		return e.stored(l, OutcomeStale, fmt.Sprintf("hit; ttl=%d; detail=max-stale", ttlSeconds(l.TTL)))
	case StaleWhileRevalidate:
		e.st.Add(sHits, 1)
		e.st.Add(sStale, 1)
		e.revalidateInBackground(r, *l)
		return e.stored(l, OutcomeStale, fmt.Sprintf("hit; ttl=%d; detail=stale-while-revalidate", ttlSeconds(l.TTL)))
	}
	e.st.Add(sMisses, 1)
	if l.OnlyIfCached {
		return answer{status: http.StatusGatewayTimeout, header: textPlain, body: []byte(errOnlyIfCached),
			outcome: OutcomeMiss, detail: "fwd=miss; detail=only-if-cached"}
	}
	var lp *Lookup
	if l.Decision == Validate {
		lp = l
	}
	return e.fetch(r, l.Key, lp, l.Refresh, filled)
}

func ttlSeconds(d time.Duration) int64 { return int64(d / time.Second) }

// stored is an answer from a lookup.
func (e *Engine) stored(l *Lookup, o Outcome, detail string) answer {
	e.st.Add(sBytesFromCache, uint64(len(l.Body)))
	return answer{status: l.Status, header: l.Header, body: l.Body, age: l.Age, fromCache: true, outcome: o, detail: detail}
}
