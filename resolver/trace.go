package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/miekg/dns"
)

// Hooks holds functions a Recursive resolver (Config.Hooks) and a Server
// (ServerConfig.Hooks) call at events, for metrics, logs and tracing
// spans, in the style of net/http/httptrace.ClientTrace. (Config.Trace is
// the older, dig +trace-like report of each query step; Hooks are for
// watching a running resolver.) Any field may be nil; a nil *Hooks costs
// a pointer check per query and allocates nothing.
//
// The functions run synchronously on the goroutine of the event (a
// client's query, a resolution shared by several askers, a prefetch),
// possibly on many at once: they must be safe for concurrent use, return
// quickly, not block, and not keep or change the messages they get. Hooks
// must not be changed once given to New or NewServer.
type Hooks struct {
	// QueryReceived is called when the Server gets a query from a
	// client (before its access list is checked).
	QueryReceived func(QueryEvent)
	// QueryAnswered is called when the Server has its reply to a query.
	// A query the UDP loop could not answer from the cache at once is
	// handed to a resolver goroutine: its Duration counts from then.
	QueryAnswered func(AnswerEvent)
	// ResolveStart is called when Resolve begins (and when the Server
	// resolves a question its cache did not answer); the context it
	// returns (nil: unchanged) is the resolution's and ResolveDone's.
	// A resolution shared by several askers runs once, outside their
	// contexts: the upstream events are not under any asker's context.
	ResolveStart func(ctx context.Context, q dns.Question) context.Context
	// ResolveDone is called when that resolution ended.
	ResolveDone func(ctx context.Context, e ResolveEvent)
	// CacheLookup is called when a question is looked up in the cache:
	// CacheHit or CacheMiss, and CacheStale when, after a failed
	// resolution, stale data answers (RFC 8767), after the miss.
	CacheLookup func(CacheEvent)
	// UpstreamSent is called before a query goes to a name server or a
	// forwarder, UpstreamAnswered when its answer came or it failed (RTT,
	// Rcode or Err set).
	UpstreamSent, UpstreamAnswered func(UpstreamEvent)
	// ServFail is called when a resolution failed (SERVFAIL), with its
	// cause.
	ServFail func(ServFailEvent)
}

// QueryEvent is a client's query, for Hooks.QueryReceived.
// A plain value, safe for concurrent use while no goroutine changes it.
type QueryEvent struct {
	Question dns.Question
	// Client is the query's source address.
	Client net.Addr
}

// AnswerEvent is a reply to a client's query, for Hooks.QueryAnswered.
// A plain value, safe for concurrent use while no goroutine changes it.
type AnswerEvent struct {
	Question dns.Question
	Client   net.Addr
	Rcode    int
	Duration time.Duration
}

// ResolveEvent is a resolution's end, for Hooks.ResolveDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type ResolveEvent struct {
	Question dns.Question
	// Rcode is the answer's (0 with Err).
	Rcode    int
	Err      error
	Duration time.Duration
}

// CacheResult is what a cache lookup found.
type CacheResult uint8

const (
	CacheHit CacheResult = iota
	CacheMiss
	CacheStale
)

// String returns "hit", "miss" or "stale" ("unknown" for another value).
func (c CacheResult) String() string {
	if c > CacheStale {
		return "unknown"
	}
	return [...]string{"hit", "miss", "stale"}[c]
}

// CacheEvent is a cache lookup, for Hooks.CacheLookup.
// A plain value, safe for concurrent use while no goroutine changes it.
type CacheEvent struct {
	Question dns.Question
	Result   CacheResult
}

// UpstreamEvent is a query to a name server or a forwarder, for
// Hooks.UpstreamSent and UpstreamAnswered.
// A plain value, safe for concurrent use while no goroutine changes it.
type UpstreamEvent struct {
	// Zone is the zone whose servers were asked ("" for a forwarder).
	Zone string
	// Server is the server's address; Forwarder its configured name
	// (Config.Forward) when it is a forwarder.
	Server    netip.AddrPort
	Forwarder string
	Question  dns.Question
	// Answered only: the server's Rcode, the round-trip time, or the
	// error (a timeout, an unreachable server, a mismatched reply).
	Rcode int
	RTT   time.Duration
	Err   error
}

// ServFailCause says why a resolution failed.
type ServFailCause uint8

const (
	// CauseNoAnswer: servers answered, but none usefully (SERVFAIL,
	// REFUSED, lame or inconsistent answers), or none could be asked.
	CauseNoAnswer ServFailCause = iota
	// CauseTimeout: the resolution's time ran out (ResolveTimeout or the
	// asker's deadline) or servers did not answer in time.
	CauseTimeout
	// CauseUnreachable: queries failed (network errors).
	CauseUnreachable
	// CauseQueryLimit: the resolution sent MaxQueries queries.
	CauseQueryLimit
	// CauseRecentFailure: the question failed moments ago and fails at
	// once again (RFC 9520 §3).
	CauseRecentFailure
)

// String returns the cause as a short label, for a metric's label or a
// log ("unknown" for a value not listed).
func (c ServFailCause) String() string {
	if c > CauseRecentFailure {
		return "unknown"
	}
	return [...]string{"no-answer", "timeout", "unreachable", "query-limit", "recent-failure"}[c]
}

// ServFailEvent is a failed resolution, for Hooks.ServFail.
// A plain value, safe for concurrent use while no goroutine changes it.
type ServFailEvent struct {
	Question dns.Question
	Cause    ServFailCause
	// Err is the last query error, if any.
	Err error
	// Stale reports that stale data answered instead (RFC 8767).
	Stale bool
}

// cacheEvent runs Hooks.CacheLookup.
func (h *Hooks) cacheEvent(q dns.Question, res CacheResult) {
	if h != nil && h.CacheLookup != nil {
		h.CacheLookup(CacheEvent{Question: q, Result: res})
	}
}

// upstream runs Hooks.UpstreamSent (resp, rtt and err zero) or
// UpstreamAnswered.
func (h *Hooks) upstream(sent bool, zone string, server netip.AddrPort, fwd string, q dns.Question, resp *dns.Msg, rtt time.Duration, err error) {
	f := h.UpstreamAnswered
	if sent {
		f = h.UpstreamSent
	}
	if f == nil {
		return
	}
	e := UpstreamEvent{Zone: zone, Server: server, Forwarder: fwd, Question: q, RTT: rtt, Err: err}
	if resp != nil {
		e.Rcode = resp.Rcode
	}
	f(e)
}

// servFail runs Hooks.ServFail for a resolution of q that ended with st
// (nil: a recent failure).
func (r *Recursive) servFail(q dns.Question, st *state, stale bool) {
	h := r.cfg.Hooks
	if h == nil || h.ServFail == nil {
		return
	}
	e := ServFailEvent{Question: q, Stale: stale}
	switch {
	case st == nil:
		e.Cause = CauseRecentFailure
	case st.expired() || st.silent || errors.Is(st.lastErr, os.ErrDeadlineExceeded) || errors.Is(st.lastErr, context.DeadlineExceeded):
		e.Cause, e.Err = CauseTimeout, st.lastErr
	case st.queries >= r.cfg.MaxQueries:
		e.Cause, e.Err = CauseQueryLimit, st.lastErr
	case st.lastErr != nil:
		e.Cause, e.Err = CauseUnreachable, st.lastErr
	}
	h.ServFail(e)
}

// resolveTraced runs resolve (Resolve's or the Server's way) between
// Hooks.ResolveStart and ResolveDone.
func (r *Recursive) resolveTraced(ctx context.Context, q dns.Question, resolve func(context.Context, dns.Question) (*dns.Msg, error)) (*dns.Msg, error) {
	h := r.cfg.Hooks
	if h.ResolveStart != nil {
		if c := h.ResolveStart(ctx, q); c != nil {
			ctx = c
		}
	}
	start := time.Now()
	m, err := resolve(ctx, q)
	if h.ResolveDone != nil {
		e := ResolveEvent{Question: q, Err: err, Duration: time.Since(start)}
		if m != nil {
			e.Rcode = m.Rcode
		}
		h.ResolveDone(ctx, e)
	}
	return m, err
}

// resolveHooked reports whether resolutions go through resolveTraced.
func (r *Recursive) resolveHooked() bool {
	h := r.cfg.Hooks
	return h != nil && (h.ResolveStart != nil || h.ResolveDone != nil)
}

// respondTraced is respond between Hooks.QueryReceived and QueryAnswered.
func (s *Server) respondTraced(remote, local net.Addr, req *dns.Msg, mode respondMode) (*dns.Msg, bool) {
	h := s.cfg.Hooks
	var q dns.Question
	if len(req.Question) > 0 {
		q = req.Question[0]
	}
	if mode != resolveOnly && h.QueryReceived != nil {
		h.QueryReceived(QueryEvent{Question: q, Client: remote})
	}
	start := time.Now()
	m, ok := s.respondPlain(remote, local, req, mode)
	if ok && h.QueryAnswered != nil {
		h.QueryAnswered(AnswerEvent{Question: q, Client: remote, Rcode: m.Rcode, Duration: time.Since(start)})
	}
	return m, ok
}
