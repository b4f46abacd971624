package observe

import (
	"context"
	"net/http"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
)

// JoinEdgeTraces returns one edge.Trace calling every non-nil trace's
// hooks in order (metrics and spans on one node). A context returned by
// one RequestStart or OriginFetchStart is handed to the next. Nil when
// none is set.
func JoinEdgeTraces(ts ...*edge.Trace) *edge.Trace {
	var set []*edge.Trace
	for _, t := range ts {
		if t != nil {
			set = append(set, t)
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	j := &edge.Trace{}
	for _, t := range set {
		if f := t.RequestStart; f != nil {
			prev := j.RequestStart
			j.RequestStart = func(ctx context.Context, r *http.Request) context.Context {
				if prev != nil {
					if c := prev(ctx, r); c != nil {
						ctx = c
					}
				}
				if c := f(ctx, r); c != nil {
					ctx = c
				}
				return ctx
			}
		}
		if f := t.OriginFetchStart; f != nil {
			prev := j.OriginFetchStart
			j.OriginFetchStart = func(ctx context.Context, s edge.FetchStart) context.Context {
				if prev != nil {
					if c := prev(ctx, s); c != nil {
						ctx = c
					}
				}
				if c := f(ctx, s); c != nil {
					ctx = c
				}
				return ctx
			}
		}
		j.RequestDone = chain2(j.RequestDone, t.RequestDone)
		j.OriginFetchDone = chain2(j.OriginFetchDone, t.OriginFetchDone)
		j.CollapseWait = chain2(j.CollapseWait, t.CollapseWait)
		j.Revalidation = chain2(j.Revalidation, t.Revalidation)
		j.PurgeApplied = chain1(j.PurgeApplied, t.PurgeApplied)
		j.PurgePublished = chain1(j.PurgePublished, t.PurgePublished)
		j.PurgeAcknowledged = chain1(j.PurgeAcknowledged, t.PurgeAcknowledged)
	}
	return j
}

func chain2[E any](a, b func(context.Context, E)) func(context.Context, E) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, e E) { a(ctx, e); b(ctx, e) }
}

func chain1[E any](a, b func(E)) func(E) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(e E) { a(e); b(e) }
}

// JoinResolverHooks returns one resolver.Hooks calling every non-nil
// one's functions in order; a context returned by one ResolveStart is
// handed to the next. Nil when none is set.
func JoinResolverHooks(hs ...*resolver.Hooks) *resolver.Hooks {
	var set []*resolver.Hooks
	for _, h := range hs {
		if h != nil {
			set = append(set, h)
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	j := &resolver.Hooks{}
	for _, h := range set {
		if f := h.ResolveStart; f != nil {
			prev := j.ResolveStart
			j.ResolveStart = func(ctx context.Context, q dns.Question) context.Context {
				if prev != nil {
					if c := prev(ctx, q); c != nil {
						ctx = c
					}
				}
				if c := f(ctx, q); c != nil {
					ctx = c
				}
				return ctx
			}
		}
		j.ResolveDone = chain2(j.ResolveDone, h.ResolveDone)
		j.QueryReceived = chain1(j.QueryReceived, h.QueryReceived)
		j.QueryAnswered = chain1(j.QueryAnswered, h.QueryAnswered)
		j.CacheLookup = chain1(j.CacheLookup, h.CacheLookup)
		j.UpstreamSent = chain1(j.UpstreamSent, h.UpstreamSent)
		j.UpstreamAnswered = chain1(j.UpstreamAnswered, h.UpstreamAnswered)
		j.ServFail = chain1(j.ServFail, h.ServFail)
	}
	return j
}
