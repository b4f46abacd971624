package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/internal/drain"
	"github.com/edgekit/edgekit/internal/hop"
	"github.com/edgekit/edgekit/internal/interim"
)

// fetchResult is an origin fetch as the leader of a collapsed group saw
// it, shared read-only with the group's waiters.
type fetchResult struct {
	status int
	header http.Header
	body   []byte
	age    time.Duration
	stored bool
	// detail is the RFC 9211 parameters, outcome the X-Cache value.
	detail    string
	outcome   Outcome
	fromCache bool // body came from the cache (revalidated or stale)
	err       error
	vary      bool
	// inCache: the leader found a fresh response stored by a fetch that
	// finished between its own cache miss and its joining the group.
	inCache bool
}

// answer is fr as served to one request.
func (fr *fetchResult) answer(collapsed bool) answer {
	if fr.err != nil {
		return answer{err: fr.err}
	}
	detail := fr.detail
	if collapsed {
		detail += "; collapsed"
	}
	// A response fetched just now keeps the origin's Age; one served from
	// the cache carries the age the cache computed.
	return answer{status: fr.status, header: fr.header, body: fr.body, age: fr.age, fromCache: fr.fromCache,
		outcome: fr.outcome, detail: detail}
}

// passMark is a hit-for-pass marker: requests for the key fetch on their
// own for a while instead of waiting for one another. tooBig says the
// response was too large to store, so they do not try to keep a copy.
type passMark struct {
	until  time.Time
	tooBig bool
}

// hitForPass is how long a key stays marked hit-for-pass.
const hitForPass = 30 * time.Second

func (e *Engine) passState(key string) (pass, tooBig bool) {
	e.passMu.Lock()
	defer e.passMu.Unlock()
	m, ok := e.passes[key]
	if ok && e.now().Before(m.until) {
		return true, m.tooBig
	}
	if ok {
		delete(e.passes, key)
	}
	return false, false
}

func (e *Engine) markPass(key string, tooBig bool) {
	e.passMu.Lock()
	if len(e.passes) > 100_000 { // bounded: drop the lot rather than grow
		e.passes = map[string]passMark{}
	}
	e.passes[key] = passMark{until: e.now().Add(hitForPass), tooBig: tooBig}
	e.passMu.Unlock()
}

// fetch answers a miss (l nil) or a stored response to validate (l) from
// the origin; refresh is the lookup's Refresh, filled e.filled as read
// before the lookup.
func (e *Engine) fetch(r *http.Request, key string, l *Lookup, refresh bool, filled uint64) answer {
	if pass, tooBig := e.passState(key); pass || refresh {
		// Hit-for-pass (a recent response was uncacheable or too
		// large) or a client asking to bypass: fetch alone, no waiting
		// behind others.
		return e.fromOrigin(r, key, l, nil, !tooBig, !refresh)
	}
	// A waiter stays for the leader's fetch, which runs to its end
	// (bounded by FetchTimeout) whether or not it waits: its client's
	// context ending may be a half-close (both fronts end it on a read
	// EOF), and a client that half-closed still reads its response. A
	// client that left is found when the answer's write fails.
	var waitStart time.Time
	if e.trace != nil && e.trace.CollapseWait != nil {
		waitStart = e.now()
	}
	fl, res, _ := e.group.Start(context.WithoutCancel(r.Context()), key) // no error: the context never ends
	if fl == nil && !waitStart.IsZero() {
		e.trace.CollapseWait(r.Context(), CollapseInfo{Key: key, Wait: e.now().Sub(waitStart), Shared: res.Shared})
	}
	if fl != nil {
		// A request that missed the cache just as another's fetch ended
		// leads a group of its own: when a fetch stored something since
		// the lookup, look again before going to the origin, as Varnish
		// finds the object its busy one became.
		if l == nil && e.filled.Load() != filled {
			if again, ok := e.storedFresh(r); ok {
				fl.Finish(&fetchResult{inCache: true}, true)
				e.st.Add(sHits, 1)
				return e.stored(&again, OutcomeHit, "hit")
			}
		}
		return e.fromOrigin(r, key, l, fl, true, !refresh)
	}
	fr := res.Val
	switch {
	case !res.Shared:
		// The leader's response could not be shared: fetch our own,
		// not counted as collapsed.
		_, tooBig := e.passState(key)
		return e.fromOrigin(r, key, l, nil, !tooBig, !refresh)
	case fr.inCache || fr.vary:
		// The leader found or stored a response; a varying one may not
		// be our variant.
		if again, ok := e.storedFresh(r); ok {
			e.st.Add(sCollapsed, 1)
			return e.stored(&again, OutcomeHit, "hit; collapsed")
		}
		return e.fromOrigin(r, key, l, nil, true, !refresh)
	default:
		e.st.Add(sCollapsed, 1)
		if fr.fromCache {
			e.st.Add(sBytesFromCache, uint64(len(fr.body)))
		}
		return fr.answer(true)
	}
}

// storedFresh looks r up again: a fetch that ended a moment ago may have
// stored a fresh response for it.
func (e *Engine) storedFresh(r *http.Request) (Lookup, bool) {
	again := e.cache.Lookup(r)
	return again, again.Decision == Fresh && !again.Stale
}

// outgoing builds the request sent to the origin for a cacheable fetch.
func (e *Engine) outgoing(ctx context.Context, r *http.Request, l *Lookup) *http.Request {
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
	if e.outgoingHook != nil {
		e.outgoingHook(Outgoing{Request: out, Client: r})
	}
	return out
}

// head is an origin response whose body has not been read.
type head struct {
	req               *http.Request // the request as the client sent it
	resp              *http.Response
	reqTime, respTime time.Time
	fwd               string // Cache-Status fwd: uri-miss, stale or request
	validation        bool
	// plain: the request's Lookup found no no-cache or no-store in it.
	plain bool
}

// fetchHead asks the origin. It returns either what to serve at once (an
// error, a stale response, a stored one freshened by a 304), or the head
// of a response whose body is still to be read.
func (e *Engine) fetchHead(ctx context.Context, r *http.Request, l *Lookup, plain bool) (*fetchResult, *head) {
	out := e.outgoing(ctx, r, l)
	var tf FetchStart
	tctx := ctx
	if e.trace != nil {
		tf.Revalidation = l != nil
		out, tctx = e.fetchStart(out, &tf)
	}
	reqTime := e.now()
	resp, err := e.upstream.RoundTrip(out)
	interim.Done(ctx)
	if e.trace != nil {
		e.fetchDone(tctx, &tf, resp, err, e.now().Sub(reqTime))
		if err == nil && l != nil && e.trace.Revalidation != nil {
			e.trace.Revalidation(tctx, RevalidationInfo{Key: l.Key, NotModified: resp.StatusCode == http.StatusNotModified,
				Status: resp.StatusCode, Background: tf.Background})
		}
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		e.st.Add(sOriginErrors, 1)
		if l != nil && l.StaleIfError {
			e.st.Add(sStale, 1)
			return staleResult(l, "fwd=stale; detail=stale-if-error"), nil
		}
		return &fetchResult{err: err}, nil
	}
	respTime := e.now()
	// One rule for every path the response takes from here: stored,
	// passed through, streamed, merged by a 304 (RFC 9110 §7.6.1).
	hop.Strip(resp.Header)
	if resp.StatusCode >= 500 {
		e.st.Add(sOriginErrors, 1)
	}
	if l != nil && l.StaleIfError && isServerError(resp.StatusCode) {
		drain.Close(resp.Body)
		e.st.Add(sStale, 1)
		return staleResult(l, fmt.Sprintf("fwd=stale; fwd-status=%d; detail=stale-if-error", resp.StatusCode)), nil
	}
	fwd := "uri-miss"
	if l != nil {
		fwd = "stale"
		if l.ByRequest {
			fwd = "request" // RFC 9211 §2.2: the request's directives forced it
		}
	}
	if resp.StatusCode == http.StatusNotModified && l != nil {
		drain.Close(resp.Body)
		e.st.Add(sRevalidations, 1)
		res := e.cache.Store(Exchange{Request: out, Response: resp, RequestTime: reqTime, ResponseTime: respTime})
		if res.Stored && res.Updated.Decision != Miss {
			u := res.Updated
			return &fetchResult{status: u.Status, header: u.Header, body: u.Body, age: u.Age, stored: true, fromCache: true,
				detail: "fwd=" + fwd + "; fwd-status=304; stored", outcome: OutcomeRevalidated}, nil
		}
		// Nothing matched any more: ask again without validators.
		return e.fetchHead(ctx, r, nil, plain)
	}
	return nil, &head{req: r, resp: resp, reqTime: reqTime, respTime: respTime, fwd: fwd, validation: l != nil, plain: plain}
}

// clientNoStore reports a request whose own no-store kept its response
// out of the cache (RFC 9111 §5.2.1.5): that says nothing of the
// response, so the key is not marked hit-for-pass for it (else any client
// could turn a key's caching off for everyone).
func (h *head) clientNoStore() bool {
	if h.plain {
		return false
	}
	d, _ := requestDirectives(h.req.Header)
	return d.NoStore
}

// isServerError lists the statuses stale-if-error applies to (RFC 5861 §4).
func isServerError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

func staleResult(l *Lookup, detail string) *fetchResult {
	return &fetchResult{status: l.Status, header: l.Header, body: l.Body, age: l.Age, fromCache: true, stored: true,
		detail: detail, outcome: OutcomeStale}
}

// storeFetched stores a complete body read for h when it may be stored,
// and returns what to serve.
func (e *Engine) storeFetched(h *head, body []byte) *fetchResult {
	resp := h.resp
	fr := &fetchResult{status: resp.StatusCode, header: resp.Header, body: body, outcome: OutcomeMiss,
		vary: resp.Header.Get("Vary") != ""}
	req := h.req
	if req.Method == http.MethodHead {
		// The fetch was a GET (see outgoing): store what it brought.
		get := *req
		get.Method = http.MethodGet
		req = &get
	}
	x := Exchange{Request: req, Response: resp, Body: body, RequestTime: h.reqTime, ResponseTime: h.respTime,
		noRequestNoStore: h.plain}
	f := Fetched{Exchange: x, Validation: h.validation}
	if e.controlHook != nil {
		f.Exchange.Control = e.controlHook(f)
	}
	var res StoreResult
	if e.storeHook != nil {
		res = e.storeHook(f, e.cache.Store)
	} else {
		res = e.cache.Store(f.Exchange)
	}
	if res.Stored {
		fr.stored = true
		fr.header = resp.Header.Clone()
		fr.detail = fmt.Sprintf("fwd=%s; fwd-status=%d; stored", h.fwd, resp.StatusCode)
	} else {
		fr.detail = fmt.Sprintf("fwd=%s; fwd-status=%d; detail=%s", h.fwd, resp.StatusCode, res.Reason)
	}
	return fr
}

// revalidateInBackground refreshes a stale response once at a time per
// key, bounded by FetchTimeout. It takes the path a client's validation
// takes, and drops the response.
func (e *Engine) revalidateInBackground(r *http.Request, l Lookup) {
	e.jobs.Go(l.Key, func(ctx context.Context) {
		e.st.Add(sBackground, 1)
		if e.trace != nil {
			ctx = context.WithValue(ctx, backgroundKey{}, true)
		}
		req := r.Clone(ctx)
		fx := e.newFetch(ctx)
		_, h := e.fetchHead(fx.ctx, req, &l, !l.Refresh)
		if h == nil || h.resp.ContentLength > e.maxObject {
			if h != nil {
				h.resp.Body.Close()
			}
			fx.release()
			return
		}
		e.runFill(fx, newFill(h.resp.ContentLength, e.maxObject, false), h, "", nil)
	})
}

// withInterim returns r with a context whose fetches forward the origin's
// 1xx responses (102, 103) to w (RFC 9110 §15.2); they are never stored
// and their fields stay out of the final response. Fetches that outlive
// the client (collapsed, bounded by FetchTimeout) keep the context's
// values, so the leader's client still gets them; background
// revalidations have no client and forward nothing. fetchHead calls
// interim.Done as soon as the origin's final response is in.
func withInterim(r *http.Request, w http.ResponseWriter) *http.Request {
	return r.WithContext(interim.With(r.Context(), w, hop.Strip))
}
