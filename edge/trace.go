package edge

import (
	"context"
	"net"
	"net/http"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/reqid"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/zap"
)

// Trace holds functions a Node calls at events, for metrics, logs and
// tracing spans, in the style of net/http/httptrace.ClientTrace; see
// Config.Trace. Any field may be nil; a nil *Trace costs a pointer check
// per request and allocates nothing.
//
// The request and fetch events are the node's engine's (cache.Trace says
// exactly when each runs); the purge events its Purger's
// (surrogate.Trace). An OpenTelemetry adapter starts a span in
// RequestStart (continuing the client's traceparent, if it trusts it),
// ends it in RequestDone, makes a child span per origin fetch in
// OriginFetchStart, injecting its traceparent into the fetch's header,
// and ends it in OriginFetchDone.
//
// The functions run synchronously on the goroutine of the event, possibly
// on many at once: they must be safe for concurrent use, return quickly
// and not block. A Trace must not be changed once given to New.
type Trace struct {
	// RequestStart is called when the node begins serving a request; the
	// context it returns (nil: unchanged) becomes the request's, and
	// RequestDone and the request's origin fetches get it.
	RequestStart func(ctx context.Context, r *http.Request) context.Context
	// RequestDone is called when the response has been written, with
	// RequestInfo.Node set to Config.Name.
	RequestDone func(ctx context.Context, info RequestInfo)
	// OriginFetchStart is called before every request to the origin; it
	// may add header fields to f.Request (a traceparent).
	OriginFetchStart func(ctx context.Context, f FetchStart) context.Context
	// OriginFetchDone is called when the origin's response head arrived
	// or the fetch failed.
	OriginFetchDone func(ctx context.Context, f FetchInfo)
	// CollapseWait is called when a request waited for another's fetch.
	CollapseWait func(ctx context.Context, c CollapseInfo)
	// Revalidation is called when the origin answered a validation.
	Revalidation func(ctx context.Context, v RevalidationInfo)
	// PurgeApplied is called for every purge applied on this node, its
	// own (Node.Purge) and the fleet's (from the Bus).
	PurgeApplied func(p PurgeInfo)
	// PurgePublished is called when this node's purge went to the Bus.
	PurgePublished func(p surrogate.PublishInfo)
	// PurgeAcknowledged is called when an acknowledging Bus reported the
	// fleet's acknowledgement of this node's purge.
	PurgeAcknowledged func(a surrogate.AckInfo)
}

// The event values, shared with packages cache and surrogate.
type (
	RequestInfo      = cache.RequestInfo
	FetchStart       = cache.FetchStart
	FetchInfo        = cache.FetchInfo
	CollapseInfo     = cache.CollapseInfo
	RevalidationInfo = cache.RevalidationInfo
	PurgeInfo        = surrogate.ApplyInfo
)

// requestIDKey carries a request's ID in its context when access logging
// is on.
type requestIDKey struct{}

// requestState is an access-logged request's: its ID and the origin that
// served it. It is written on the request's goroutine only (a fetch's
// head is read there; a background revalidation has no requestState).
type requestState struct {
	id     string
	own    bool   // the client sent it
	origin string // the origin of the request's own fetch; "" when none
}

// engineTrace builds the engine's trace from cfg: the user's Trace and
// the access log. Nil when there is neither.
func (n *Node) engineTrace(cfg *Config) *cache.Trace {
	t, access := cfg.Trace, cfg.AccessLog
	if t == nil && access == nil {
		return nil
	}
	if t == nil {
		t = &Trace{}
	}
	ct := &cache.Trace{RequestStart: t.RequestStart, OriginFetchStart: t.OriginFetchStart,
		OriginFetchDone: t.OriginFetchDone, CollapseWait: t.CollapseWait, Revalidation: t.Revalidation}
	done := t.RequestDone
	if access != nil {
		n.access, n.ids = access, reqid.New()
		start := t.RequestStart
		ct.RequestStart = func(ctx context.Context, r *http.Request) context.Context {
			id, own := n.ids.Of(r)
			ctx = context.WithValue(ctx, requestIDKey{}, &requestState{id: id, own: own})
			if start != nil {
				if c := start(ctx, r); c != nil {
					ctx = c
				}
			}
			return ctx
		}
	}
	if access != nil {
		served, _ := cfg.Origin.(interface{ ServedBy(*http.Response) string })
		fetched := t.OriginFetchDone
		ct.OriginFetchDone = func(ctx context.Context, f cache.FetchInfo) {
			if st, ok := ctx.Value(requestIDKey{}).(*requestState); ok && f.Response != nil && f.Response.Request != nil {
				st.origin = f.Response.Request.URL.Host
				if served != nil {
					if name := served.ServedBy(f.Response); name != "" {
						st.origin = name
					}
				}
			}
			if fetched != nil {
				fetched(ctx, f)
			}
		}
	}
	if done != nil || access != nil {
		ct.RequestDone = func(ctx context.Context, info cache.RequestInfo) {
			info.Node = n.name
			if access != nil {
				n.logAccess(ctx, &info)
			}
			if done != nil {
				done(ctx, info)
			}
		}
	}
	return ct
}

// purgeTrace builds the Purger's trace from the node's.
func purgeTrace(t *Trace) *surrogate.Trace {
	if t == nil || (t.PurgeApplied == nil && t.PurgePublished == nil && t.PurgeAcknowledged == nil) {
		return nil
	}
	return &surrogate.Trace{Applied: t.PurgeApplied, Published: t.PurgePublished, Acknowledged: t.PurgeAcknowledged}
}

// forwardRequestID gives the origin the request ID the node made for a
// request that came without a valid one (access logging on).
func (n *Node) forwardRequestID(o cache.Outgoing) {
	if n.access == nil {
		return
	}
	if id, ok := o.Request.Context().Value(requestIDKey{}).(*requestState); ok && !id.own {
		o.Request.Header[reqid.Header] = []string{id.id}
	}
}

// logAccess writes the access log line of a request: the fields of
// varnishncsa's default format (client, time, request line, status,
// bytes, Referer, User-Agent), its %D (duration) and Varnish:handling
// (the cache status), and the request ID.
func (n *Node) logAccess(ctx context.Context, info *cache.RequestInfo) {
	ce := n.access.Check(zap.InfoLevel, "request")
	if ce == nil {
		return
	}
	r := info.Request
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	st, _ := ctx.Value(requestIDKey{}).(*requestState)
	if st == nil {
		st = &requestState{}
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
		zap.String("cache", info.CacheStatus.String()),
		zap.String("node", info.Node),
		zap.String("referer", r.Header.Get("Referer")),
		zap.String("user_agent", r.Header.Get("User-Agent")),
		zap.String("origin", st.origin),
		zap.String("request_id", st.id),
	)
}
