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
	e *Engine
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
	e, err := NewEngine(EngineConfig{Cache: cfg.Cache, Upstream: cfg.Base, MaxObjectBytes: cfg.MaxBodyBytes,
		FetchTimeout: cfg.RevalidateTimeout, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Transport{e: e}, nil
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
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.e.RoundTrip(req) }
