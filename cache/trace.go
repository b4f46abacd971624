package cache

import (
	"context"
	"net/http"
	"time"
)

// Trace holds functions an Engine calls at events of its serving flow,
// in the style of net/http/httptrace.ClientTrace: for metrics, access
// logs and tracing spans (an OpenTelemetry adapter starts a span in
// RequestStart, a child span in OriginFetchStart, and injects its
// traceparent into FetchStart.Request's header).
//
// Any field may be nil; a nil *Trace costs the engine one pointer check
// per request and allocates nothing. The functions run synchronously on
// the goroutine of the event (the client's, a fetch's or a background
// revalidation's), possibly on many goroutines at once: they must be safe
// for concurrent use, return quickly and not block. They must not keep
// the requests they are given past the call, nor change them except
// where the field says so. The event values are plain copies.
//
// A Trace must not be changed once given to NewEngine.
type Trace struct {
	// RequestStart is called when ServeHTTP (an Engine's, an edge
	// Node's, a Middleware's wrapped handler's) or a Transport's
	// RoundTrip begins a request, before the cache is looked up; r must
	// not be changed. The context it returns
	// becomes the request's for the rest of its handling: the fetches
	// made for it derive from it (OriginFetchStart's ctx) and
	// RequestDone receives it. A nil result keeps r's context.
	RequestStart func(ctx context.Context, r *http.Request) context.Context
	// RequestDone is called once per request, with the context
	// RequestStart returned: when ServeHTTP has written its response, or
	// the client left, or serving panicked (a handler's panic, or
	// http.ErrAbortHandler cutting short a response whose origin failed
	// mid-body: the panic then goes on to the server). For a
	// Transport's RoundTrip it is called when the caller has read the
	// response body to its end or closed it, or at once when RoundTrip
	// fails or switches protocols.
	RequestDone func(ctx context.Context, info RequestInfo)
	// OriginFetchStart is called before every request the engine sends
	// upstream: a miss, a validation, a background revalidation, and
	// what the default Pass forwards (not what RoundTrip passes on as it
	// is: unsafe methods, Range and conditional requests of a client's
	// own, which keep the caller's context). It may add header fields to
	// f.Request (a traceparent); the context it returns, if not nil,
	// becomes the outgoing request's and OriginFetchDone's.
	OriginFetchStart func(ctx context.Context, f FetchStart) context.Context
	// OriginFetchDone is called when the origin's response head arrived
	// or the fetch failed.
	OriginFetchDone func(ctx context.Context, f FetchInfo)
	// CollapseWait is called when a request waited for another
	// request's fetch of the same object (request collapsing), once the
	// wait ends.
	CollapseWait func(ctx context.Context, c CollapseInfo)
	// Revalidation is called when the origin answered a validation of a
	// stored response (RFC 9111 §4.3): 304, which freshened it, or a new
	// response, which replaces it.
	Revalidation func(ctx context.Context, v RevalidationInfo)
}

// RequestInfo describes a request ServeHTTP (an Engine's, a Node's, a
// Middleware's) or a Transport's RoundTrip served, for Trace.RequestDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type RequestInfo struct {
	// Request is the client's request; it must not be changed or kept.
	Request *http.Request
	// Method and Host are the request's; Path is its URL's path.
	Method, Host, Path string
	// Status is the final status sent (0 if none was: the client left,
	// a handler panicked before writing one, or RoundTrip failed). A
	// protocol switch whose handler hijacked the connection reports 101:
	// what is written on it is not seen.
	Status int
	// CacheStatus says how the response was produced (OutcomePass for
	// what the cache does not handle): the engine's own decision, never
	// an X-Cache field the origin or a wrapped handler wrote. A request
	// whose serving panicked reports OutcomeMiss (a cacheable request)
	// or OutcomePass.
	CacheStatus Outcome
	// Bytes counts the body bytes written to the client (for RoundTrip:
	// read by the caller).
	Bytes int64
	// Start is when the request began; TTFB is the time from Start to
	// the final status being written (for RoundTrip: to its return, the
	// response head ready), Duration to the end of the response.
	Start          time.Time
	TTFB, Duration time.Duration
	// Node names the edge node that served it; the engine leaves it empty
	// (package edge sets it).
	Node string
}

// FetchStart describes a request about to go upstream, for
// Trace.OriginFetchStart.
// A plain value, safe for concurrent use while no goroutine changes it.
type FetchStart struct {
	// Request is what goes upstream; the hook may add header fields to
	// it, and must not keep it or read its body.
	Request *http.Request
	// Revalidation reports a conditional request validating a stored
	// response; Background one that no client waits for
	// (stale-while-revalidate); Pass a request the default Pass forwards.
	Revalidation, Background, Pass bool
}

// FetchInfo describes how an origin fetch went, for Trace.OriginFetchDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type FetchInfo struct {
	// Status is the origin's status (0 when Err is set).
	Status int
	// Duration is the time to the response head (the body is read
	// afterwards) or to the failure.
	Duration time.Duration
	// Err is why no response came.
	Err                            error
	Revalidation, Background, Pass bool
	// Response is the origin's response (nil with Err): its header may
	// be read; it must not be changed or kept, nor its body read.
	Response *http.Response
}

// CollapseInfo describes a wait for another request's fetch, for
// Trace.CollapseWait.
// A plain value, safe for concurrent use while no goroutine changes it.
type CollapseInfo struct {
	Key  string
	Wait time.Duration
	// Shared reports that the response fetched could be shared: when
	// false, the waiter went on to fetch its own.
	Shared bool
}

// RevalidationInfo describes a validation the origin answered, for
// Trace.Revalidation.
// A plain value, safe for concurrent use while no goroutine changes it.
type RevalidationInfo struct {
	Key string
	// NotModified reports a 304 (the stored response was freshened);
	// otherwise Status is the new response's.
	NotModified bool
	Status      int
	Background  bool
}

// backgroundKey marks the context of a background revalidation, for the
// trace (set only when a Trace is).
type backgroundKey struct{}

// fetchStart runs Trace.OriginFetchStart for out; it returns the request
// to send and the context of the fetch's trace.
func (e *Engine) fetchStart(out *http.Request, f *FetchStart) (*http.Request, context.Context) {
	ctx := out.Context()
	f.Background = ctx.Value(backgroundKey{}) != nil
	if e.trace.OriginFetchStart == nil {
		return out, ctx
	}
	f.Request = out
	if c := e.trace.OriginFetchStart(ctx, *f); c != nil && c != ctx {
		return out.WithContext(c), c
	}
	return out, ctx
}

// fetchDone runs Trace.OriginFetchDone.
func (e *Engine) fetchDone(ctx context.Context, f *FetchStart, resp *http.Response, err error, d time.Duration) {
	if e.trace.OriginFetchDone == nil {
		return
	}
	info := FetchInfo{Duration: d, Err: err, Revalidation: f.Revalidation, Background: f.Background, Pass: f.Pass, Response: resp}
	if resp != nil {
		info.Status = resp.StatusCode
	}
	e.trace.OriginFetchDone(ctx, info)
}

// passTraced is the default Pass's transport with e.trace set.
func (e *Engine) passTraced(req *http.Request) (*http.Response, error) {
	f := FetchStart{Pass: true}
	req, ctx := e.fetchStart(req, &f)
	start := e.now()
	resp, err := e.upstream.RoundTrip(req)
	e.fetchDone(ctx, &f, resp, err, e.now().Sub(start))
	if err == nil && e.cache.Invalidate(req, resp) > 0 {
		e.st.Add(sInvalidations, 1)
	}
	return resp, err
}
