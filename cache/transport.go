package cache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/background"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/hop"
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
	// store; larger bodies stream through unstored. Zero means 8 MiB.
	MaxBodyBytes int64
	// RevalidateTimeout bounds a background revalidation
	// (stale-while-revalidate), which no client waits for. Zero means
	// 30 s.
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
// origin fails (stale-if-error), and unsafe requests invalidate (§4.4).
// Every response it returns is free of hop-by-hop fields (RFC 9110
// §7.6.1), stored or not, except a 101 to a protocol switch.
//
// Every response body it receives is closed or handed to the caller. A
// Transport is safe for concurrent use by multiple goroutines. Background
// revalidations (at most one per key at a time and 1024 at once, each
// ended by RevalidateTimeout) run in goroutines the Transport owns; Close
// cancels and waits for them.
type Transport struct {
	cache   Cache
	base    http.RoundTripper
	maxBody int64
	now     func() time.Time
	log     *zap.Logger
	jobs    *background.Jobs // background revalidations, one per key
}

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
	return newTransport(cfg), nil
}

// newTransport builds a Transport from a validated config with a Cache.
func newTransport(cfg TransportConfig) *Transport {
	t := &Transport{
		cache:   cfg.Cache,
		base:    cfg.Base,
		maxBody: cfg.MaxBodyBytes,
		now:     clock.Or(cfg.Now),
		log:     cfg.Logger,
		jobs:    background.New(background.Config{Timeout: cfg.RevalidateTimeout}),
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.maxBody == 0 {
		t.maxBody = 8 << 20
	}
	return t
}

// Close cancels background revalidations and waits for them. It is
// idempotent; RoundTrip keeps working afterwards, without background work.
func (t *Transport) Close() error {
	t.jobs.Close()
	return nil
}

// Wait blocks until no background revalidation is running (those under
// way, and any RoundTrip starts meanwhile, have ended): for a graceful
// hand-over, or a test or demo that reads the cache after a
// stale-while-revalidate response. Unlike Close it stops nothing.
func (t *Transport) Wait() { t.jobs.Wait() }

// waitIdle is Wait (tests).
func (t *Transport) waitIdle() { t.Wait() }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead || hop.Upgrade(req.Header) != "" {
		// Unsafe methods, and protocol switches (whose 101 response keeps
		// its Connection and Upgrade fields), go straight through.
		resp, err := t.send(req)
		if err == nil {
			t.cache.Invalidate(req, resp)
		}
		return resp, err
	}
	if req.Header.Get("Range") != "" || hasConditional(req.Header) {
		// Partial content is not cached, and a client that validates
		// itself gets the origin's answer.
		resp, err := t.send(req)
		if err == nil {
			resp.Header.Set(XCache, "BYPASS")
		}
		return resp, err
	}
	l := t.cache.Lookup(req)
	switch l.Decision {
	case Fresh:
		if l.Stale {
			return t.serve(req, &l, "STALE"), nil
		}
		return t.serve(req, &l, "HIT"), nil
	case StaleWhileRevalidate:
		t.revalidateInBackground(req, l)
		return t.serve(req, &l, "STALE"), nil
	case Validate:
		if l.OnlyIfCached {
			return gatewayTimeout(req), nil
		}
		return t.validate(req, &l)
	}
	if l.OnlyIfCached {
		return gatewayTimeout(req), nil
	}
	return t.fetch(req, req)
}

// send forwards req to Base and removes the hop-by-hop fields of the
// answer (RFC 9110 §7.6.1), so a response passed through, streamed or
// used to validate carries the same fields as one served from the cache.
// A 101 keeps them: they describe the protocol switched to.
func (t *Transport) send(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		hop.Strip(resp.Header)
	}
	return resp, err
}

func hasConditional(h http.Header) bool {
	return h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" ||
		h.Get("If-Match") != "" || h.Get("If-Unmodified-Since") != "" || h.Get("If-Range") != ""
}

func (t *Transport) serve(req *http.Request, l *Lookup, how string) *http.Response {
	resp := l.Response(req)
	resp.Header.Set(XCache, how)
	return resp
}

// gatewayTimeout answers only-if-cached when nothing usable is stored
// (RFC 9111 §5.2.1.7).
func gatewayTimeout(req *http.Request) *http.Response {
	body := "cache: only-if-cached and no usable stored response\n"
	return &http.Response{
		Status: "504 Gateway Timeout", StatusCode: http.StatusGatewayTimeout,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}, XCache: {"MISS"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// fetch forwards out (req, or a conditional copy) and stores the answer.
func (t *Transport) fetch(req, out *http.Request) (*http.Response, error) {
	reqTime := t.now()
	resp, err := t.send(out)
	if err != nil {
		return nil, err
	}
	respTime := t.now()
	if req.Method == http.MethodHead {
		resp.Header.Set(XCache, "MISS")
		return resp, nil
	}
	return t.storeAndReturn(req, resp, reqTime, respTime)
}

// storeAndReturn buffers a full response (up to MaxBodyBytes), stores it
// when the cache allows, and returns it with a fresh body. A larger body
// streams through unstored.
func (t *Transport) storeAndReturn(req *http.Request, resp *http.Response, reqTime, respTime time.Time) (*http.Response, error) {
	body, complete, err := readUpTo(resp.Body, t.maxBody)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Header.Set(XCache, "MISS")
	if !complete {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp, nil
	}
	resp.Body.Close()
	t.cache.Store(Exchange{Request: req, Response: resp, Body: body, RequestTime: reqTime, ResponseTime: respTime})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// readUpTo reads at most limit bytes; complete is false when more remain.
func readUpTo(r io.Reader, limit int64) (body []byte, complete bool, err error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		return buf.Bytes(), false, nil
	}
	return buf.Bytes(), true, nil
}

// conditionalRequest clones req with the stored validators (§4.3.1).
func conditionalRequest(ctx context.Context, req *http.Request, l *Lookup) *http.Request {
	out := req.Clone(ctx)
	for k, v := range l.Conditional {
		out.Header[k] = v
	}
	return out
}

// isServerError lists the statuses stale-if-error applies to (RFC 5861 §4).
func isServerError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

func (t *Transport) validate(req *http.Request, l *Lookup) (*http.Response, error) {
	out := conditionalRequest(req.Context(), req, l)
	reqTime := t.now()
	resp, err := t.send(out)
	if err != nil {
		if l.StaleIfError {
			return t.serve(req, l, "STALE"), nil
		}
		return nil, err
	}
	respTime := t.now()
	if isServerError(resp.StatusCode) && l.StaleIfError {
		drainClose(resp.Body)
		return t.serve(req, l, "STALE"), nil
	}
	if resp.StatusCode == http.StatusNotModified {
		drainClose(resp.Body)
		res := t.cache.Store(Exchange{Request: out, Response: resp, RequestTime: reqTime, ResponseTime: respTime})
		if res.Stored && res.Updated.Decision != Miss {
			return t.serve(req, &res.Updated, "REVALIDATED"), nil
		}
		// The 304 matched nothing stored (evicted meanwhile): ask again,
		// unconditionally.
		return t.fetch(req, req)
	}
	// A full response replaces the stored one.
	return t.storeAndReturn(req, resp, reqTime, respTime)
}

func drainClose(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

// revalidateInBackground starts one revalidation per key at a time,
// bounded by RevalidateTimeout. It takes the path a client's validation
// takes (validate), and drops the response.
func (t *Transport) revalidateInBackground(req *http.Request, l Lookup) {
	t.jobs.Go(l.Key, func(ctx context.Context) {
		resp, err := t.validate(req.Clone(ctx), &l)
		if err != nil {
			t.log.Debug("cache: background revalidation failed", zap.String("key", l.Key), zap.Error(err))
			return
		}
		drainClose(resp.Body)
	})
}
