package authority

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// Server is an authoritative DNS server (a dns.Handler) for a set of
// zones. It answers from the most specific zone containing the query name:
// answers with AA set, referrals at delegation points (NS in authority,
// glue in additional), CNAMEs (chased within the zone), wildcards (RFC
// 4592), and NXDOMAIN or NODATA with the zone's SOA. With Rotate, the
// order of multiple A/AAAA records turns on every response (round-robin
// DNS load distribution).
//
// A Server is safe for concurrent use by multiple goroutines. It must not
// be copied after first use. It starts goroutines only inside ServeUDP
// and ServeTCP, which serve it over UDP and TCP and end them before they
// return; call Answer to answer in process. As a dns.Handler it can also
// run under a dns.Server (behind a dns.Handler middleware, say), but the
// dns.Server answers some malformed queries itself (see ServeUDP).
type Server struct {
	zones    []*Zone
	rotate   bool
	turn     atomic.Uint32
	steering atomic.Pointer[steerSet]
	locator  Locator
	health   Health
}

// Config configures a Server.
type Config struct {
	// Zones are the zones served, each parsed by ParseZone. At least one
	// is required; a query for a name in none of them is REFUSED.
	Zones []*Zone
	// Rotate turns the order of multiple A and AAAA records per response.
	// False (the zero value) answers them in zone-file order.
	Rotate bool
	// Steering makes the A and AAAA answers of these names depend on the
	// client (GeoDNS); SetSteering replaces them later. Nil steers none.
	Steering []Steer
	// Locator places clients for the Geography policy. Nil leaves every
	// client unknown (answered from each name's default pool).
	Locator Locator
	// Health says which edge addresses are up. Nil counts all healthy.
	Health Health
}

// New returns a Server for cfg.Zones, or an error wrapping ErrBadZone
// when there is none.
func New(cfg Config) (*Server, error) {
	if len(cfg.Zones) == 0 {
		return nil, fmt.Errorf("%w: no zones", ErrBadZone)
	}
	s := &Server{zones: cfg.Zones, rotate: cfg.Rotate, locator: cfg.Locator, health: cfg.Health}
	if err := s.SetSteering(cfg.Steering); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) zoneFor(name string) *Zone {
	var best *Zone
	for _, z := range s.zones {
		if dnsproto.IsSubName(z.origin, name) && (best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin)) {
			best = z
		}
	}
	return best
}

// ServeDNS implements dns.Handler. Over UDP, a response larger than the
// client's buffer (512 bytes, or its EDNS payload size) goes with TC set
// and only its question and OPT (dnsproto.Truncate): never a partial RRset
// (RFC 2181 §9) nor a referral short of its glue (RFC 9471 §3.1), so the
// client retries over TCP (RFC 1035 §4.2.1).
//
// Steered names are answered for the client subnet of the query (RFC
// 7871) or else for the address the query came from.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	w.WriteMsg(s.respond(req, w.RemoteAddr(), tcp))
}

// respond is the response to req from remote, truncated to the client's
// buffer unless it goes over TCP.
func (s *Server) respond(req *dns.Msg, remote net.Addr, tcp bool) *dns.Msg {
	var src netip.Addr
	switch a := remote.(type) {
	case *net.UDPAddr:
		src = a.AddrPort().Addr()
	case *net.TCPAddr:
		src = a.AddrPort().Addr()
	}
	m := s.AnswerFrom(req, src)
	if !tcp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		dnsproto.Truncate(m, size)
	}
	return m
}

// Answer computes the authoritative response to req, as ServeDNS sends
// it but before truncation to the client's buffer size. Queries the
// resolver's Server would not answer (another opcode, a malformed header,
// EDNS above version 0, a zone transfer, a class other than IN) get the
// same error rcode here. Every response carries the query's ID, opcode,
// RD and CD, its question, and, when the query had an OPT, an OPT of our
// own with the query's DO bit (RFC 6891 §7, RFC 3225 §3); RA is never set.
//
// Answer knows no source address: steered names are answered for the
// query's client subnet (RFC 7871) if it has one, else as for a client
// of unknown location. AnswerFrom is Answer for a query from src.
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	return s.AnswerFrom(req, netip.Addr{})
}

// AnswerFrom computes the response to req as Answer does, for a query
// that came from src (the zero Addr when unknown). A query whose EDNS
// Client Subnet option is malformed gets FORMERR (RFC 7871 §6); one with
// a valid option gets it back with the SCOPE PREFIX-LENGTH the answer
// holds for (RFC 7871 §7.2.1): 0 unless a steered name was answered.
func (s *Server) AnswerFrom(req *dns.Msg, src netip.Addr) *dns.Msg {
	m := dnsproto.Reply(req)
	m.Compress = true // RFC 1035 §4.1.4
	dnsproto.SetEDNS(m, req)
	if rcode := dnsproto.VetQuery(req); rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		return m
	}
	c, ecs, rcode := clientOf(req, src)
	if rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		return m
	}
	c.steer = s.steering.Load()
	defer func() {
		if ecs != nil {
			echoSubnet(m, ecs, c.scope)
		}
	}()
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z := s.zoneFor(name)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	s.answerIn(z, m, name, q.Qtype, 0, &c)
	return m
}

func (s *Server) answerIn(z *Zone, m *dns.Msg, name string, qtype uint16, depth int, c *client) {
	// A delegation at or above name (below the apex) means a referral.
	for cut := name; dnsproto.IsSubName(z.origin, cut) && cut != z.origin; cut = dnsproto.Parent(cut) {
		if z.cuts[cut] && !(cut == name && qtype == dns.TypeDS) {
			if depth > 0 {
				return // a CNAME led out of our authority: the resolver chases it
			}
			m.Authoritative = false
			for _, rr := range z.names[cut] {
				if rr.Header().Rrtype == dns.TypeNS {
					m.Ns = append(m.Ns, rr)
					// Glue: addresses of name servers inside the cut.
					ns := rr.(*dns.NS).Ns
					if dnsproto.IsSubName(cut, dns.CanonicalName(ns)) {
						for _, g := range z.names[dns.CanonicalName(ns)] {
							if t := g.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
								m.Extra = append(m.Extra, g)
							}
						}
					}
				}
			}
			return
		}
	}
	m.Authoritative = true
	// A DNAME at an ancestor redirects the whole subtree below it (RFC
	// 6672): answer the DNAME and the CNAME it synthesises.
	for anc := dnsproto.Parent(name); dnsproto.IsSubName(z.origin, anc); anc = dnsproto.Parent(anc) {
		for _, rr := range z.names[anc] {
			if d, ok := rr.(*dns.DNAME); ok && qtype != dns.TypeDNAME {
				target := dns.CanonicalName(strings.TrimSuffix(name, anc) + d.Target)
				if _, valid := dns.IsDomainName(target); !valid || len(target) > 255 {
					m.Rcode = dns.RcodeYXDomain
					return
				}
				m.Answer = append(m.Answer, rr, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target})
				if tz := s.zoneFor(target); tz == z && depth < 8 {
					s.answerIn(z, m, target, qtype, depth+1, c)
				}
				return
			}
		}
		if anc == z.origin {
			break
		}
	}
	var st *steer
	if c.steer != nil {
		st = c.steer.byName[name]
	}
	if st != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY) {
		n := len(m.Answer)
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if qtype == t || qtype == dns.TypeANY {
				m.Answer = s.steerAnswer(m.Answer, st, t, c)
			}
		}
		if qtype == dns.TypeANY {
			m.Answer = append(m.Answer, z.names[name]...)
		}
		if len(m.Answer) == n {
			m.Ns = append(m.Ns, dnsproto.NegativeSOA(z.soa))
		}
		return
	}
	rrs, exists := z.names[name]
	if !exists && st != nil {
		exists = true // a steered name exists: NODATA for other types
	}
	if !exists {
		exists = z.ents[name] // an empty non-terminal: NODATA
		if !exists {
			rrs = s.wildcard(z, name)
			exists = rrs != nil
		}
	}
	if !exists {
		// The rcode describes the last name of a CNAME chain (RFC 6604).
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, dnsproto.NegativeSOA(z.soa))
		return
	}
	var matched []dns.RR
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if t == qtype || qtype == dns.TypeANY {
			matched = append(matched, rr)
		}
	}
	if len(matched) == 0 && qtype != dns.TypeCNAME {
		for _, rr := range rrs {
			if cn, ok := rr.(*dns.CNAME); ok && depth < 8 {
				for _, prev := range m.Answer {
					if prev.Header().Name == name {
						return // a CNAME loop: each link is answered once
					}
				}
				m.Answer = append(m.Answer, rr)
				target := dns.CanonicalName(cn.Target)
				if tz := s.zoneFor(target); tz == z {
					s.answerIn(z, m, target, qtype, depth+1, c)
				}
				return
			}
		}
	}
	if len(matched) == 0 {
		m.Ns = append(m.Ns, dnsproto.NegativeSOA(z.soa))
		return
	}
	if s.rotate && len(matched) > 1 && (qtype == dns.TypeA || qtype == dns.TypeAAAA) {
		k := int(s.turn.Add(1)) % len(matched)
		matched = append(append([]dns.RR(nil), matched[k:]...), matched[:k]...)
	}
	m.Answer = append(m.Answer, matched...)
}

// wildcard synthesises records from *.<closest encloser> (RFC 4592).
func (s *Server) wildcard(z *Zone, name string) []dns.RR {
	for enc := dnsproto.Parent(name); dnsproto.IsSubName(z.origin, enc); enc = dnsproto.Parent(enc) {
		if rrs, ok := z.names["*."+enc]; ok {
			out := make([]dns.RR, 0, len(rrs))
			for _, rr := range rrs {
				c := dns.Copy(rr)
				c.Header().Name = name
				out = append(out, c)
			}
			return out
		}
		if _, exists := z.names[enc]; exists || z.ents[enc] || enc == z.origin {
			return nil // the closest encloser has no wildcard
		}
	}
	return nil
}
