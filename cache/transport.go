package cache

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// XCache is the response header Transport sets to say how a response was
// produced: HIT (served from the cache), MISS (fetched and, if storable,
// stored), REVALIDATED (the origin answered 304 to a conditional request,
// the stored response was freshened and served), STALE (a stale stored
// response, under stale-while-revalidate, max-stale or stale-if-error) or
// BYPASS (the request was not one the cache handles, e.g. a Range request).
const XCache = "X-Cache"

// TransportConfig configures a Transport. The zero value gives a 64 MiB
// private cache over http.DefaultTransport.
type TransportConfig struct {
	// Cache decides and stores. Nil means a new private HTTPCache built
	// from Now and Logger.
	Cache Cache
	// Base sends requests to the network. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// MaxBodyBytes is the largest response body the Transport buffers to
	// store; larger bodies stream through unstored
	// (EngineConfig.MaxObjectBytes). Zero means 8 MiB.
	MaxBodyBytes int64
	// RevalidateTimeout bounds a background revalidation
	// (stale-while-revalidate), which no client waits for, and a fetch
	// whose response is being stored (EngineConfig.FetchTimeout). Zero
	// means 30 s.
	RevalidateTimeout time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called at the events of every RoundTrip as for
	// an Engine's ServeHTTP (see Trace and Transport.RoundTrip): a span
	// or a metric per request, per origin fetch, per revalidation and
	// per collapsed wait. Nil (the zero value) calls nothing and costs
	// RoundTrip one pointer check, no allocation.
	Trace *Trace
}

// Transport is an http.RoundTripper that gives an HTTP client a cache with
// RFC 9111 and RFC 5861 semantics: fresh responses are served from memory,
// stale ones are revalidated with conditional requests, served while being
// revalidated in the background (stale-while-revalidate) or when the
// origin fails (stale-if-error), concurrent misses for one key share one
// fetch, and unsafe requests invalidate (§4.4). Every response it returns
// is free of hop-by-hop fields (RFC 9110 §7.6.1), stored or not, except a
// 101 to a protocol switch. It is a thin adapter: Engine.RoundTrip with
// the settings below.
//
// Every response body it receives is closed or handed to the caller. A
// Transport is safe for concurrent use by multiple goroutines. Background
// revalidations (at most one per key at a time and 1024 at once) and
// fetches whose response is being stored run in goroutines the Transport
// owns, each ended by RevalidateTimeout; Close cancels and waits for them.
type Transport struct {
	e     *Engine
	trace *Trace
	now   func() time.Time
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport configured by cfg.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.MaxBodyBytes < 0 || cfg.RevalidateTimeout < 0 {
		return nil, ErrInvalidConfig
	}
	if cfg.Cache == nil {
		c, err := New(Config{Now: cfg.Now, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		cfg.Cache = c
	}
	if cfg.Base == nil {
		cfg.Base = http.DefaultTransport
	}
	ecfg := EngineConfig{Cache: cfg.Cache, Upstream: cfg.Base, MaxObjectBytes: cfg.MaxBodyBytes,
		FetchTimeout: cfg.RevalidateTimeout, Now: cfg.Now, Logger: cfg.Logger, Trace: cfg.Trace}
	if cfg.Trace != nil {
		ecfg.Decorate = decorateTraced // X-Cache, and the outcome for RequestDone
	}
	e, err := NewEngine(ecfg)
	if err != nil {
		return nil, err
	}
	return &Transport{e: e, trace: cfg.Trace, now: e.now}, nil
}

// Close cancels background revalidations and fetches and waits for them.
// It is idempotent; RoundTrip keeps working afterwards, without
// background work.
func (t *Transport) Close() error { return t.e.Close() }

// Wait blocks until no background work is running (that under way, and
// any RoundTrip starts meanwhile, has ended): for a graceful hand-over, or
// a test or demo that reads the cache after a stale-while-revalidate
// response. Unlike Close it stops nothing.
func (t *Transport) Wait() { t.e.Wait() }

// waitIdle is Wait (tests).
func (t *Transport) waitIdle() { t.Wait() }

// Stats returns the counters of the Transport's engine.
func (t *Transport) Stats() EngineStats { return t.e.Stats() }

// RoundTrip implements http.RoundTripper (see Engine.RoundTrip).
//
// With TransportConfig.Trace set, RequestStart is called first (the
// context it returns becomes the request's, so the origin fetches made
// for it derive from it) and RequestDone once the response is over: when
// its body has been read to the end or closed, or at once when RoundTrip
// fails (Status 0) or switches protocols (101, whose body is the
// connection). RequestInfo carries the cache status (the X-Cache
// outcome; OutcomePass for what the cache does not handle), the status,
// the body bytes the caller read, TTFB (to RoundTrip's return, when the
// response head is ready) and Duration (to the end of the body).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.trace != nil {
		return t.roundTripTraced(req)
	}
	return t.e.RoundTrip(req)
}
