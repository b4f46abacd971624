package firewall

import (
	"net/netip"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DNSGuardConfig configures a DNS guard.
type DNSGuardConfig struct {
	// Firewall judges the client address. Nil means no address check.
	Firewall *Firewall
	// RRL is response rate limiting per client prefix (IPv4 /24 and IPv6
	// /56 are usual). Nil means none.
	RRL *Limiter
	// Slip: of the responses over the rate, every Slip-th is sent
	// truncated (TC=1, so a real client retries over TCP) and the rest
	// are dropped. Zero means 2; 1 truncates all.
	Slip int
	// AllowANY answers ANY queries instead of refusing them (RFC 8482).
	AllowANY bool
}

// DNSGuard is a dns.Handler in front of another: it refuses denied
// clients, malformed queries and (by default) ANY, and rate-limits
// responses. It is safe for concurrent use.
type DNSGuard struct {
	next   dns.Handler
	cfg    DNSGuardConfig
	n      atomic.Uint64
	denied atomic.Uint64
	rrl    atomic.Uint64
}

// NewDNSGuard wraps next.
func NewDNSGuard(next dns.Handler, cfg DNSGuardConfig) *DNSGuard {
	if cfg.Slip == 0 {
		cfg.Slip = 2
	}
	return &DNSGuard{next: next, cfg: cfg}
}

// ServeDNS implements dns.Handler.
func (g *DNSGuard) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	src, ok := peerAddr(w.RemoteAddr())
	reply := func(rcode int) {
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		w.WriteMsg(m)
	}
	if g.cfg.Firewall != nil {
		allowed := false
		if ok {
			allowed = g.cfg.Firewall.Decide(Flow{Src: netip.AddrPortFrom(src, 0), Proto: UDP}).Action == Allow
		} else {
			allowed = g.cfg.Firewall.Rules().def == Allow
		}
		if !allowed {
			g.denied.Add(1)
			reply(dns.RcodeRefused)
			return
		}
	}
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 || r.Response {
		g.denied.Add(1)
		reply(dns.RcodeFormatError)
		return
	}
	if r.Question[0].Qtype == dns.TypeANY && !g.cfg.AllowANY {
		g.denied.Add(1)
		reply(dns.RcodeRefused)
		return
	}
	if g.cfg.RRL != nil && ok && !g.cfg.RRL.Allow(src) {
		g.rrl.Add(1)
		if g.n.Add(1)%uint64(g.cfg.Slip) == 0 {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Truncated = true
			w.WriteMsg(m)
		}
		return // dropped
	}
	g.next.ServeDNS(w, r)
}

// DNSGuardStats counts the guard's decisions.
type DNSGuardStats struct{ Denied, RateLimited uint64 }

// Stats returns the guard's counters.
func (g *DNSGuard) Stats() DNSGuardStats {
	return DNSGuardStats{Denied: g.denied.Load(), RateLimited: g.rrl.Load()}
}
