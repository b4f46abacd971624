package firewall

import "net/netip"

// Trace holds functions the entry points (Listener, HTTPFilter, DNSGuard)
// call at their decisions, for metrics and logs, in the style of
// net/http/httptrace.ClientTrace. Any field may be nil; a nil *Trace
// costs a pointer check per connection, request or query and allocates
// nothing. The functions run synchronously on the goroutine deciding
// (Accept's, a request's, a query's), possibly on many at once, outside
// the entry point's locks: they must be safe for concurrent use, return
// quickly and not block. A Trace must not be changed once given to a
// constructor.
type Trace struct {
	// Verdict is called for every client address the entry point's
	// Filter judged, with the verdict (Verdict.Rule names what decided).
	Verdict func(VerdictEvent)
	// RateLimited is called when a rate limit refused a client: the
	// Listener's ConnRate (or its overload list), the HTTPFilter's
	// Limiter, the DNSGuard's RRL.
	RateLimited func(LimitEvent)
}

// Point names an entry point.
type Point uint8

const (
	PointListener Point = iota
	PointHTTP
	PointDNS
)

// String returns "listener", "http" or "dns".
func (p Point) String() string { return [...]string{"listener", "http", "dns"}[p] }

// VerdictEvent is a Filter's verdict at an entry point, for Trace.Verdict.
// A plain value.
type VerdictEvent struct {
	Point Point
	// Client is the address judged (invalid for a peer that is no IP
	// address).
	Client  netip.Addr
	Verdict Verdict
}

// LimitEvent is a client refused by a rate limit, for Trace.RateLimited.
// A plain value.
type LimitEvent struct {
	Point  Point
	Client netip.Addr
}

func (t *Trace) verdict(p Point, client netip.Addr, v Verdict) {
	if t != nil && t.Verdict != nil {
		t.Verdict(VerdictEvent{Point: p, Client: client, Verdict: v})
	}
}

func (t *Trace) limited(p Point, client netip.Addr) {
	if t != nil && t.RateLimited != nil {
		t.RateLimited(LimitEvent{Point: p, Client: client})
	}
}

// verdict judges src with the guard's Filter and reports it.
func (g *DNSGuard) verdict(src netip.Addr, proto Proto) Verdict {
	v := g.cfg.Filter.Decide(Flow{Src: netip.AddrPortFrom(src, 0), Proto: proto})
	g.cfg.Trace.verdict(PointDNS, src, v)
	return v
}
