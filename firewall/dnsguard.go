package firewall

import (
	"cmp"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DNSGuardConfig configures a DNS guard. NewDNSGuard reads it once;
// changing it afterwards has no effect; a plain value, safe for
// concurrent use while no goroutine changes it.
type DNSGuardConfig struct {
	// Filter judges the client address (a *Firewall, a *RuleSet or your
	// own). Nil means no address check.
	Filter Filter
	// RRL is response rate limiting per client prefix (IPv4 /24 and IPv6
	// /56 are usual). It counts every response the guard would send over
	// UDP, refusals and errors included, so a forged source cannot draw
	// unlimited REFUSED or FORMERR replies at a victim either; TCP is not
	// limited (its source is proven by the handshake, and a truncated
	// answer over TCP leaves the client nothing to retry with), as in
	// BIND. Nil means none.
	RRL *Limiter
	// Slip: of the responses over the rate, every Slip-th is sent
	// truncated (TC=1, so a real client retries over TCP) and the rest
	// are dropped. Zero means 2; 1 truncates all.
	Slip int
	// AllowANY answers ANY queries instead of refusing them (RFC 8482).
	AllowANY bool
	// Trace, if set, is called at verdicts and rate limits. Nil means
	// none.
	Trace *Trace
}

// DNSGuard is a dns.Handler in front of another: it refuses denied
// clients, malformed queries and (by default) ANY, drops messages that
// are responses (answering them invites loops and reflection), and
// rate-limits responses. The client is the peer address: behind a DNS
// forwarder every client is the forwarder. A peer that is no IP address
// gets the default policy and shares one rate-limit bucket with every
// other such peer. It is safe for concurrent use by multiple goroutines
// and starts none.
type DNSGuard struct {
	next   dns.Handler
	cfg    DNSGuardConfig
	n      atomic.Uint64
	denied atomic.Uint64
	rrl    atomic.Uint64
}

var _ dns.Handler = (*DNSGuard)(nil)

// NewDNSGuard validates cfg and returns a guard in front of next.
func NewDNSGuard(next dns.Handler, cfg DNSGuardConfig) (*DNSGuard, error) {
	switch {
	case next == nil:
		return nil, fmt.Errorf("%w: no dns.Handler to guard", ErrInvalidConfig)
	case cfg.Slip < 0:
		return nil, fmt.Errorf("%w: negative Slip", ErrInvalidConfig)
	}
	if err := checkFilter(cfg.Filter); err != nil {
		return nil, err
	}
	cfg.Slip = cmp.Or(cfg.Slip, 2)
	return &DNSGuard{next: next, cfg: cfg}, nil
}

// ServeDNS implements dns.Handler.
func (g *DNSGuard) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Response {
		g.denied.Add(1)
		return // never answer an answer
	}
	src, _ := peerAddr(w.RemoteAddr()) // invalid: the default policy, one shared bucket
	// Response rate limiting comes first: whatever the guard is about to
	// send, an answer, REFUSED or FORMERR, goes to an address that may
	// be forged.
	proto := UDP
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		proto = TCP
	}
	if g.cfg.RRL != nil && proto == UDP && !g.cfg.RRL.Allow(src) {
		g.rrl.Add(1)
		g.cfg.Trace.limited(PointDNS, src)
		if g.n.Add(1)%uint64(g.cfg.Slip) == 0 {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Truncated = true
			w.WriteMsg(m)
		}
		return // dropped
	}
	reply := func(rcode int) {
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		w.WriteMsg(m)
	}
	if g.cfg.Filter != nil && g.verdict(src, proto).Action != Allow {
		g.denied.Add(1)
		reply(dns.RcodeRefused)
		return
	}
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		g.denied.Add(1)
		reply(dns.RcodeFormatError)
		return
	}
	if r.Question[0].Qtype == dns.TypeANY && !g.cfg.AllowANY {
		g.denied.Add(1)
		reply(dns.RcodeRefused)
		return
	}
	g.next.ServeDNS(w, r)
}

// DNSGuardStats counts the guard's decisions: a snapshot, a plain value
// safe for concurrent use while no goroutine changes it.
type DNSGuardStats struct{ Denied, RateLimited uint64 }

// Stats returns the guard's counters.
func (g *DNSGuard) Stats() DNSGuardStats {
	return DNSGuardStats{Denied: g.denied.Load(), RateLimited: g.rrl.Load()}
}
