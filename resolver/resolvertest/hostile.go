package resolvertest

import (
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// CNAMEFollower answers as Server does, then follows a CNAME that leaves
// the first zone into another zone Server holds, as BIND does: an
// NXDOMAIN for the target then comes with the target zone's SOA, which
// the first zone's servers cannot vouch for. It is a dns.Handler, safe
// for concurrent use.
type CNAMEFollower struct {
	Server *authority.Server
}

// ServeDNS implements dns.Handler.
func (f CNAMEFollower) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := f.Server.Answer(req)
	if n := len(m.Answer); n > 0 && m.Rcode == dns.RcodeSuccess {
		if c, ok := m.Answer[n-1].(*dns.CNAME); ok {
			q := new(dns.Msg)
			q.SetQuestion(c.Target, req.Question[0].Qtype)
			t := f.Server.Answer(q)
			m.Answer = append(m.Answer, t.Answer...)
			m.Ns, m.Rcode = t.Ns, t.Rcode
		}
	}
	w.WriteMsg(m)
}

// ENTBreaker answers as Server does, except NXDOMAIN for the empty
// non-terminals of its zones (names without records of their own but
// with names below them), as some authoritative servers do against RFC
// 8020: a resolver minimising query names (RFC 9156) must not conclude
// from it that nothing exists below. It is a dns.Handler, safe for
// concurrent use.
type ENTBreaker struct {
	Server *authority.Server
}

// ServeDNS implements dns.Handler.
func (b ENTBreaker) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := b.Server.Answer(req)
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 && len(req.Question) == 1 {
		anyq := new(dns.Msg)
		anyq.SetQuestion(req.Question[0].Name, dns.TypeANY)
		if a := b.Server.Answer(anyq); a.Rcode == dns.RcodeSuccess && len(a.Answer) == 0 && a.Authoritative {
			m.Rcode = dns.RcodeNameError
		}
	}
	w.WriteMsg(m)
}

// EDNSIntolerant answers a query that carries an OPT record with a bare
// FORMERR (no question, no OPT), as servers that predate EDNS do (RFC
// 6891 §7), and other queries as Server does. It is a dns.Handler, safe
// for concurrent use if OnEDNS is.
type EDNSIntolerant struct {
	Server *authority.Server
	// OnEDNS, if set, is called for every query with an OPT record,
	// before the FORMERR is sent. It must not block.
	OnEDNS func()
}

// ServeDNS implements dns.Handler.
func (e EDNSIntolerant) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if req.IsEdns0() != nil {
		if e.OnEDNS != nil {
			e.OnEDNS()
		}
		m := new(dns.Msg)
		m.Id, m.Response, m.Opcode, m.Rcode = req.Id, true, req.Opcode, dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	w.WriteMsg(e.Server.Answer(req))
}
