package cache

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/internal/hop"
	"github.com/edgekit/edgekit/internal/respmeter"
)

// The request events of a Trace (RequestStart, RequestDone), written once
// for the three ways a request reaches an engine: Engine.ServeHTTP (and
// so an edge.Node), Middleware.Wrap's handler and Transport.RoundTrip.

// requestTrace is one request a Trace follows from RequestStart to
// RequestDone. ServeHTTP keeps it on its stack; a traced RoundTrip keeps
// it in its response body (tracedRequest).
type requestTrace struct {
	t    *Trace
	now  func() time.Time
	ctx  context.Context // RequestStart's, or the request's own
	info RequestInfo
}

// start fills q for r and runs RequestStart. The cache status defaults to
// what the engine answers when it decorates nothing: a miss for a
// cacheable request that failed, a pass for what it does not cache.
func (q *requestTrace) start(t *Trace, now func() time.Time, r *http.Request) {
	q.t, q.now, q.ctx = t, now, r.Context()
	q.info = RequestInfo{Request: r, Method: r.Method, Host: r.Host, Path: r.URL.Path, Start: now(), CacheStatus: OutcomeMiss}
	if q.info.Host == "" {
		q.info.Host = r.URL.Host // a client's request may name its host in the URL only
	}
	if !cacheable(r) {
		q.info.CacheStatus = OutcomePass
	}
	if t.RequestStart != nil {
		if c := t.RequestStart(q.ctx, r); c != nil {
			q.ctx = c
		}
	}
}

// done runs RequestDone (if set): status is the final status (0 if
// none), first when it was written or ready, bytes the body bytes.
func (q *requestTrace) done(status int, first time.Time, bytes int64) {
	if q.t.RequestDone == nil {
		return
	}
	info := q.info
	info.Status, info.Bytes = status, bytes
	info.Duration = q.now().Sub(info.Start)
	if status != 0 {
		info.TTFB = first.Sub(info.Start)
	}
	q.t.RequestDone(q.ctx, info)
}

// serveTraced serves r through serve between RequestStart and RequestDone:
// RequestStart's context becomes r's, and RequestDone runs once when serve
// returns (with its outcome) or panics (a handler's panic, or
// http.ErrAbortHandler on a response cut short: the default outcome; the
// panic goes on), with the status and body bytes written to w.
func serveTraced(t *Trace, now func() time.Time, w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request) Outcome) {
	var q requestTrace
	q.start(t, now, r)
	if q.ctx != r.Context() {
		r = r.WithContext(q.ctx)
	}
	tw := &respmeter.Writer{ResponseWriter: w, Now: now}
	var mw http.ResponseWriter = tw
	if _, ok := w.(http.Hijacker); ok && hop.Upgrade(r.Header) != "" {
		mw = hijackMeter{tw} // a handler switching protocols may assert it
	}
	defer func() { q.done(tw.Status, tw.First, tw.Bytes) }()
	q.info.CacheStatus = serve(mw, r)
}

// hijackMeter is a respmeter.Writer for a request to switch protocols
// over a writer that can be hijacked: a handler may assert http.Hijacker
// rather than use http.ResponseController (which finds it too). What is
// written on a hijacked connection is not seen: a handler that hijacks it
// without calling WriteHeader (httputil.ReverseProxy, WebSocket servers)
// writes its 101 there, so a hijack notes 101 Switching Protocols
// (RFC 9110 §15.2.2) as the status, as a Transport reports it.
type hijackMeter struct{ *respmeter.Writer }

func (h hijackMeter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil && h.Status == 0 {
		h.Status, h.First = http.StatusSwitchingProtocols, h.Now()
	}
	return c, rw, err
}

// serveTraced is ServeHTTP with e.trace set.
func (e *Engine) serveTraced(w http.ResponseWriter, r *http.Request) {
	serveTraced(e.trace, e.now, w, r, e.serve)
}
