package observe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/observe"
	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
)

type ctxKey string

// TestJoinEdgeTraces: every trace's hooks run, in order, and a context a
// RequestStart returns reaches the next one and RequestDone.
func TestJoinEdgeTraces(t *testing.T) {
	if observe.JoinEdgeTraces(nil, nil) != nil {
		t.Error("joining nothing is not nil")
	}
	one := &edge.Trace{}
	if observe.JoinEdgeTraces(nil, one) != one {
		t.Error("joining one is not that one")
	}
	var got []string
	mk := func(name string) *edge.Trace {
		return &edge.Trace{
			RequestStart: func(ctx context.Context, _ *http.Request) context.Context {
				got = append(got, name+" start saw "+str(ctx.Value(ctxKey("k"))))
				return context.WithValue(ctx, ctxKey("k"), name)
			},
			RequestDone: func(ctx context.Context, _ edge.RequestInfo) {
				got = append(got, name+" done saw "+str(ctx.Value(ctxKey("k"))))
			},
			PurgeApplied: func(edge.PurgeInfo) { got = append(got, name+" purge") },
		}
	}
	j := observe.JoinEdgeTraces(mk("a"), &edge.Trace{}, mk("b"))
	ctx := j.RequestStart(context.Background(), httptest.NewRequest("GET", "/", nil))
	j.RequestDone(ctx, edge.RequestInfo{})
	j.PurgeApplied(edge.PurgeInfo{})
	want := []string{"a start saw ", "b start saw a", "a done saw b", "b done saw b", "a purge", "b purge"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %q, want %q", i, got[i], want[i])
		}
	}
	if j.OriginFetchDone != nil {
		t.Error("a hook no trace sets is set")
	}
}

// TestJoinResolverHooks: the same for the resolver's hooks.
func TestJoinResolverHooks(t *testing.T) {
	n := 0
	h := &resolver.Hooks{
		ResolveStart:  func(ctx context.Context, _ dns.Question) context.Context { n++; return ctx },
		QueryAnswered: func(resolver.AnswerEvent) { n += 10 },
	}
	j := observe.JoinResolverHooks(h, nil, h)
	j.ResolveStart(context.Background(), dns.Question{})
	j.QueryAnswered(resolver.AnswerEvent{})
	if n != 22 || j.UpstreamSent != nil {
		t.Errorf("n = %d, want 22", n)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
