package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// hookRec records Hooks events.
type hookRec struct {
	mu        sync.Mutex
	received  []QueryEvent
	answered  []AnswerEvent
	resolves  []ResolveEvent
	lookups   []CacheEvent
	sent, got []UpstreamEvent
	fails     []ServFailEvent
	ctxLost   int
}

type resolveKey struct{}

func (h *hookRec) hooks() *Hooks {
	lock := func(f func()) { h.mu.Lock(); f(); h.mu.Unlock() }
	return &Hooks{
		QueryReceived: func(e QueryEvent) { lock(func() { h.received = append(h.received, e) }) },
		QueryAnswered: func(e AnswerEvent) { lock(func() { h.answered = append(h.answered, e) }) },
		ResolveStart: func(ctx context.Context, q dns.Question) context.Context {
			return context.WithValue(ctx, resolveKey{}, q.Name)
		},
		ResolveDone: func(ctx context.Context, e ResolveEvent) {
			lock(func() {
				if ctx.Value(resolveKey{}) != e.Question.Name {
					h.ctxLost++
				}
				h.resolves = append(h.resolves, e)
			})
		},
		CacheLookup:      func(e CacheEvent) { lock(func() { h.lookups = append(h.lookups, e) }) },
		UpstreamSent:     func(e UpstreamEvent) { lock(func() { h.sent = append(h.sent, e) }) },
		UpstreamAnswered: func(e UpstreamEvent) { lock(func() { h.got = append(h.got, e) }) },
		ServFail:         func(e ServFailEvent) { lock(func() { h.fails = append(h.fails, e) }) },
	}
}

func (h *hookRec) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.received, h.answered, h.resolves, h.lookups, h.sent, h.got, h.fails = nil, nil, nil, nil, nil, nil, nil
}

// TestHooksIterativeResolution resolves through the loopback hierarchy
// (root, com., example.com., RFC 1034 §5.3.3) and checks the events: a
// cache miss, one answered upstream query per zone on the way down, each
// with its zone, server and RTT, and the resolution's end under the
// context ResolveStart returned; then the same question from the cache,
// through Resolve and through the Server, which reports the query
// received and answered.
func TestHooksIterativeResolution(t *testing.T) {
	h := newHierarchy(t)
	rec := &hookRec{}
	cfg := h.config()
	cfg.Hooks = rec.hooks()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := dns.Question{Name: "mx.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	m, err := r.Resolve(context.Background(), q)
	if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("resolve: %v %v", m, err)
	}
	rec.mu.Lock()
	if len(rec.lookups) != 1 || rec.lookups[0].Result != CacheMiss || rec.lookups[0].Question != q {
		t.Errorf("cache lookups %+v", rec.lookups)
	}
	if len(rec.sent) == 0 || len(rec.sent) != len(rec.got) {
		t.Fatalf("%d upstream queries sent, %d answered", len(rec.sent), len(rec.got))
	}
	zones := map[string]bool{}
	for i, g := range rec.got {
		s := rec.sent[i]
		if s.Zone != g.Zone || s.Server != g.Server || s.Question != g.Question || s.RTT != 0 {
			t.Errorf("query %d: sent %+v, answered %+v", i, s, g)
		}
		if g.Err == nil {
			zones[g.Zone] = true
			if g.RTT <= 0 || !g.Server.Addr().IsLoopback() || g.Server.Port() != uint16(h.port) {
				t.Errorf("answer %d: %+v", i, g)
			}
		}
	}
	if !zones["."] || !zones["com."] || !zones["example.com."] {
		t.Errorf("zones answered %v, want ., com. and example.com.", zones)
	}
	if len(rec.resolves) != 1 || rec.resolves[0].Rcode != dns.RcodeSuccess || rec.resolves[0].Err != nil || rec.resolves[0].Duration <= 0 {
		t.Errorf("resolutions %+v", rec.resolves)
	}
	if rec.ctxLost != 0 || len(rec.fails) != 0 {
		t.Errorf("context lost %d times; failures %+v", rec.ctxLost, rec.fails)
	}
	rec.mu.Unlock()

	rec.reset()
	if _, err := r.Resolve(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	req := new(dns.Msg)
	req.SetQuestion("mx.example.com.", dns.TypeA)
	srv.ServeDNS(&benchWriter{remote: client, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}, req)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.lookups) != 2 || rec.lookups[0].Result != CacheHit || rec.lookups[1].Result != CacheHit || len(rec.sent) != 0 {
		t.Errorf("cache lookups %+v, upstream %d", rec.lookups, len(rec.sent))
	}
	if len(rec.received) != 1 || rec.received[0].Client != client || rec.received[0].Question != req.Question[0] {
		t.Errorf("received %+v", rec.received)
	}
	if len(rec.answered) != 1 || rec.answered[0].Rcode != dns.RcodeSuccess || rec.answered[0].Client != client {
		t.Errorf("answered %+v", rec.answered)
	}
}

// TestHooksServFailCause: with its only root unreachable, a resolution
// fails and the hook says why (the queries failed: unreachable or timed
// out, with the error); asked again at once, it fails as a recent failure
// (RFC 9520 §3) without a query.
func TestHooksServFailCause(t *testing.T) {
	h := newHierarchy(t)
	rec := &hookRec{}
	cfg := h.config()
	cfg.Roots = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.5"), uint16(h.port))} // not served
	cfg.Hooks = rec.hooks()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	for range 2 {
		if m, _ := r.Resolve(context.Background(), q); m == nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("want SERVFAIL, got %v", m)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.fails) != 2 {
		t.Fatalf("failures %+v", rec.fails)
	}
	f := rec.fails[0]
	if (f.Cause != CauseUnreachable && f.Cause != CauseTimeout) || f.Err == nil || f.Stale || f.Question != q {
		t.Errorf("first failure %+v (%s)", f, f.Cause)
	}
	if rec.fails[1].Cause != CauseRecentFailure {
		t.Errorf("second failure %+v", rec.fails[1])
	}
	for _, g := range rec.got {
		if g.Err == nil {
			t.Errorf("an unreachable server answered: %+v", g)
		}
	}
	if len(rec.resolves) != 2 || rec.resolves[0].Rcode != dns.RcodeServerFailure {
		t.Errorf("resolutions %+v", rec.resolves)
	}
}

// TestHooksUnsetCacheHitAllocs: a cache hit through the Server allocates
// the same with no Hooks as with Hooks whose fields are all nil, which
// take the hooked path: the nil checks are all unset hooks cost.
func TestHooksUnsetCacheHitAllocs(t *testing.T) {
	measure := func(hooks *Hooks) float64 {
		r, err := New(Config{Roots: []netip.AddrPort{}, Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		rr, _ := dns.NewRR("www.example.com. 3600 IN A 192.0.2.1")
		r.putRRset([]dns.RR{rr}, rankAnswer)
		srv, _ := NewServer(ServerConfig{Resolver: r})
		w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		return testing.AllocsPerRun(200, func() { srv.ServeDNS(w, q) })
	}
	if unset, empty := measure(nil), measure(&Hooks{}); unset != empty {
		t.Fatalf("allocs per hit: %v with no Hooks, %v with empty ones", unset, empty)
	}
}
