package balancer

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/internal/reqid"
	"github.com/edgekit/edgekit/internal/respmeter"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Trace holds functions a Pool or a Proxy calls at events, for metrics,
// logs and tracing spans, in the style of net/http/httptrace.ClientTrace.
// A Pool (Config.Trace) calls the pool events, a Proxy
// (ProxyConfig.Trace) the request events; one Trace may serve both. Any
// field may be nil; a nil *Trace costs a pointer check per pick or
// request and allocates nothing.
//
// The functions run synchronously on the goroutine of the event (a
// request's, a health check's, an ejection timer's), possibly on many at
// once, and outside the pool's locks: they must be safe for concurrent
// use, return quickly, not block, and not keep the requests they get. A
// Trace must not be changed once given to New or NewProxy.
type Trace struct {
	// Pool events.

	// Pick is called for every Pool.Pick and PickByIDHash, with the
	// backend chosen or the error.
	Pick func(PickEvent)
	// BackendEjected is called when passive outlier detection ejects a
	// backend.
	BackendEjected func(EjectEvent)
	// BackendReadmitted is called when an ejected backend's ejection has
	// ended and it is back in rotation.
	BackendReadmitted func(Backend)
	// HealthTransition is called when active health checks mark a backend
	// healthy or unhealthy (after Rise or Fall checks in a row).
	HealthTransition func(HealthEvent)

	// Proxy events.

	// RequestStart is called when the Proxy begins a request; the
	// context it returns (nil: unchanged) becomes the request's: the
	// backend attempts and RequestDone get it.
	RequestStart func(ctx context.Context, r *http.Request) context.Context
	// BackendStart is called before each attempt on a backend; it may add
	// header fields to a.Request (a traceparent). The context it returns
	// (nil: unchanged) becomes the attempt's and BackendDone's.
	BackendStart func(ctx context.Context, a BackendAttempt) context.Context
	// BackendDone is called when the backend's response head arrived or
	// the attempt failed: Latency is the backend's time to first byte.
	BackendDone func(ctx context.Context, d BackendResult)
	// Retry is called when a failed attempt is retried on another
	// backend.
	Retry func(ctx context.Context, r RetryEvent)
	// RequestDone is called when the response has been written.
	RequestDone func(ctx context.Context, info RequestInfo)
}

// PickEvent is a pick, for Trace.Pick. A plain value.
type PickEvent struct {
	// Backend is the one picked (zero with Err).
	Backend Backend
	// Retry reports a pick that excluded backends (after a failure).
	Retry bool
	// Sticky reports a pick by a sticky cookie (PickByIDHash).
	Sticky bool
	Err    error
}

// EjectEvent is an ejection, for Trace.BackendEjected. A plain value.
type EjectEvent struct {
	Backend Backend
	// For is how long the ejection lasts; Ejections counts the backend's
	// ejections in a row, this one included.
	For       time.Duration
	Ejections int
}

// HealthEvent is a health transition, for Trace.HealthTransition.
// A plain value, safe for concurrent use while no goroutine changes it.
type HealthEvent struct {
	Backend Backend
	Healthy bool
}

// BackendAttempt is an attempt about to be sent, for Trace.BackendStart.
// A plain value, safe for concurrent use while no goroutine changes it.
type BackendAttempt struct {
	// Request is what goes to the backend; the hook may add header
	// fields, and must not keep it or read its body.
	Request *http.Request
	Backend Backend
	// Attempt is 0 for the first, 1 for the first retry.
	Attempt int
}

// BackendResult is how an attempt went, for Trace.BackendDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type BackendResult struct {
	Backend Backend
	Attempt int
	// Status is the backend's (0 with Err).
	Status  int
	Latency time.Duration
	Err     error
}

// RetryEvent is a retry, for Trace.Retry.
// A plain value, safe for concurrent use while no goroutine changes it.
type RetryEvent struct {
	// Failed is the backend whose attempt failed; Attempt the number of
	// the attempt about to be made (1 for the first retry).
	Failed  Backend
	Attempt int
	Err     error
}

// RequestInfo describes a request the Proxy served, for
// Trace.RequestDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type RequestInfo struct {
	// Request is the client's; it must not be changed or kept.
	Request *http.Request
	// Method and Host are the request's; Path its URL's path.
	Method, Host, Path string
	// Status is the final status sent (0: none, the client left).
	Status int
	// Bytes counts the body bytes written to the client.
	Bytes int64
	// Backend is the last backend tried (zero when none was picked);
	// Attempts counts the attempts (1 without retries).
	Backend  Backend
	Attempts int
	// Start is when the request began; TTFB the time from Start to the
	// final status written, Duration to the end of the response.
	Start          time.Time
	TTFB, Duration time.Duration
}

// tracePick runs Trace.Pick.
func (p *Pool) tracePick(m *member, info *PickInfo, sticky bool, err error) {
	e := PickEvent{Retry: info != nil && len(info.Exclude) > 0, Sticky: sticky, Err: err}
	if m != nil {
		e.Backend = m.Backend
	}
	p.trace.Pick(e)
}

// flushEvents runs the readmission events rebuildLocked queued; p.mu
// must not be held.
func (p *Pool) flushEvents() {
	if p.trace == nil || p.trace.BackendReadmitted == nil {
		return
	}
	p.mu.Lock()
	q := p.readmitted
	p.readmitted = nil
	p.mu.Unlock()
	for _, b := range q {
		p.trace.BackendReadmitted(b)
	}
}

// noteReadmitted records, under p.mu, that m was ejected in the last
// snapshot and is not now.
func (p *Pool) noteReadmitted(m *member, ejected bool) {
	if m.wasEjected && !ejected && p.trace != nil && p.trace.BackendReadmitted != nil {
		p.readmitted = append(p.readmitted, m.Backend)
	}
	m.wasEjected = ejected
}

// proxyCtx carries what a traced request needs through its context: the
// request ID (access log) and the attempts made.
type proxyCtx struct {
	id       string
	ownID    bool
	attempts int
	backend  Backend
}

type proxyCtxKey struct{}

func proxyCtxFrom(ctx context.Context) *proxyCtx {
	c, _ := ctx.Value(proxyCtxKey{}).(*proxyCtx)
	return c
}

// serveTraced is ServeHTTP with a Trace or an access log.
func (p *Proxy) serveTraced(w http.ResponseWriter, r *http.Request) {
	t := p.trace
	start := time.Now()
	pc := &proxyCtx{}
	if p.access != nil && p.access.Core().Enabled(zapcore.InfoLevel) { // the level may change at run time
		pc.id, pc.ownID = p.ids.Of(r)
	}
	ctx := context.WithValue(r.Context(), proxyCtxKey{}, pc)
	if t.RequestStart != nil {
		if c := t.RequestStart(ctx, r); c != nil {
			ctx = c
		}
	}
	r = r.WithContext(ctx)
	mw := &respmeter.Writer{ResponseWriter: w, Now: time.Now}
	p.serve(mw, r)
	if t.RequestDone == nil && p.access == nil {
		return
	}
	info := RequestInfo{Request: r, Method: r.Method, Host: r.Host, Path: r.URL.Path, Status: mw.Status,
		Bytes: mw.Bytes, Backend: pc.backend, Attempts: pc.attempts, Start: start, Duration: time.Since(start)}
	if mw.Status != 0 {
		info.TTFB = mw.First.Sub(start)
	}
	if p.access != nil {
		p.logAccess(pc, &info)
	}
	if t.RequestDone != nil {
		t.RequestDone(ctx, info)
	}
}

// attemptStart records an attempt and runs Trace.BackendStart; it returns
// the request to send. base is the request's context.
func (p *Proxy) attemptStart(base context.Context, req *http.Request, b Backend, attempt int) *http.Request {
	pc := proxyCtxFrom(base)
	if pc != nil {
		pc.attempts, pc.backend = attempt+1, b
		if pc.id != "" && !pc.ownID {
			req.Header[reqid.Header] = []string{pc.id}
		}
	}
	if p.trace.BackendStart == nil {
		return req
	}
	// Each attempt's context derives from the request's (base), not from
	// the previous attempt's.
	if c := p.trace.BackendStart(base, BackendAttempt{Request: req, Backend: b, Attempt: attempt}); c != nil && c != req.Context() {
		return req.WithContext(c)
	}
	return req
}

// attemptDone runs Trace.BackendDone.
func (p *Proxy) attemptDone(ctx context.Context, b Backend, attempt int, resp *http.Response, lat time.Duration, err error) {
	if p.trace.BackendDone == nil {
		return
	}
	d := BackendResult{Backend: b, Attempt: attempt, Latency: lat, Err: err}
	if resp != nil {
		d.Status = resp.StatusCode
	}
	p.trace.BackendDone(ctx, d)
}

// logAccess writes a request's access log line: the fields of HAProxy's
// HTTP log format (client, accept date, backend/server, timers, status,
// bytes, retries, request line) and the request ID.
func (p *Proxy) logAccess(pc *proxyCtx, info *RequestInfo) {
	ce := p.access.Check(zap.InfoLevel, "request")
	if ce == nil {
		return
	}
	r := info.Request
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	ce.Write(
		zap.Time("start", info.Start),
		zap.String("client", client),
		zap.String("method", info.Method),
		zap.String("host", info.Host),
		zap.String("path", info.Path),
		zap.String("query", r.URL.RawQuery),
		zap.String("proto", r.Proto),
		zap.Int("status", info.Status),
		zap.Int64("bytes", info.Bytes),
		zap.Duration("duration", info.Duration),
		zap.Duration("ttfb", info.TTFB),
		zap.String("backend", info.Backend.ID),
		zap.String("server", info.Backend.Addr),
		zap.Int("retries", max(0, info.Attempts-1)),
		zap.String("user_agent", r.Header.Get("User-Agent")),
		zap.String("request_id", pc.id),
	)
}
