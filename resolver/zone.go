package resolver

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Zone is authoritative data for one zone: its records by owner name.
// Build it with ParseZone. A Zone is immutable and safe for concurrent use.
type Zone struct {
	origin string
	soa    *dns.SOA
	names  map[string][]dns.RR // lower-cased owner -> records
	cuts   map[string]bool     // delegation points below the apex
	ents   map[string]bool     // empty non-terminals: no records, names below
}

// ParseZone reads zone-file text (RFC 1035 §5) for origin. Relative names
// are relative to origin. The zone needs an SOA at its apex.
func ParseZone(r io.Reader, origin, filename string) (*Zone, error) {
	origin = dns.CanonicalName(origin)
	z := &Zone{origin: origin, names: map[string][]dns.RR{}, cuts: map[string]bool{}, ents: map[string]bool{}}
	zp := dns.NewZoneParser(r, origin, filename)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := dns.CanonicalName(rr.Header().Name)
		if !isSubName(origin, name) {
			return nil, fmt.Errorf("%w: %s is outside zone %s", ErrBadZone, name, origin)
		}
		rr.Header().Name = name
		z.names[name] = append(z.names[name], rr)
		switch v := rr.(type) {
		case *dns.SOA:
			if name == origin {
				z.soa = v
			}
		case *dns.NS:
			if name != origin {
				z.cuts[name] = true
			}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadZone, err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("%w: zone %s has no SOA at its apex", ErrBadZone, origin)
	}
	// The names between an owner and the apex exist even without records
	// of their own (RFC 8020 §2, RFC 4592 §2.2.2): found once here, not by
	// scanning every name on each query.
	for name := range z.names {
		for anc := parent(name); anc != origin && isSubName(origin, anc); anc = parent(anc) {
			if _, ok := z.names[anc]; ok || z.ents[anc] {
				break // from here up, already known
			}
			z.ents[anc] = true
		}
	}
	return z, nil
}

// Origin returns the zone's apex name.
func (z *Zone) Origin() string { return z.origin }

// ZoneServer is an authoritative DNS server (a dns.Handler) for a set of
// zones. It answers from the most specific zone containing the query name:
// answers with AA set, referrals at delegation points (NS in authority,
// glue in additional), CNAMEs (chased within the zone), wildcards (RFC
// 4592), and NXDOMAIN or NODATA with the zone's SOA. With Rotate, the
// order of multiple A/AAAA records turns on every response (round-robin
// DNS load distribution).
//
// A ZoneServer is safe for concurrent use by multiple goroutines.
type ZoneServer struct {
	zones  []*Zone
	rotate bool
	turn   atomic.Uint32
}

// ZoneServerConfig configures a ZoneServer.
type ZoneServerConfig struct {
	Zones []*Zone
	// Rotate turns the order of multiple A and AAAA records per response.
	Rotate bool
}

// NewZoneServer returns a ZoneServer for cfg.Zones.
func NewZoneServer(cfg ZoneServerConfig) (*ZoneServer, error) {
	if len(cfg.Zones) == 0 {
		return nil, fmt.Errorf("%w: no zones", ErrBadZone)
	}
	return &ZoneServer{zones: cfg.Zones, rotate: cfg.Rotate}, nil
}

func (s *ZoneServer) zoneFor(name string) *Zone {
	var best *Zone
	for _, z := range s.zones {
		if isSubName(z.origin, name) && (best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin)) {
			best = z
		}
	}
	return best
}

// ServeDNS implements dns.Handler. Over UDP, answers larger than the
// client's buffer (512 bytes, or its EDNS0 size) are truncated with TC set,
// so the client retries over TCP (RFC 1035 §4.2.1, RFC 6891).
func (s *ZoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := s.Answer(req)
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); !tcp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(max(opt.UDPSize(), dns.MinMsgSize))
		}
		m.Truncate(size)
	}
	m.Compress = true // after Truncate, which clears it when the message fits uncompressed
	w.WriteMsg(m)
}

// Answer computes the authoritative response to req.
func (s *ZoneServer) Answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Compress = true // RFC 1035 §4.1.4
	m.RecursionAvailable = false
	if rcode := vetQuery(req); rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		if rcode == dns.RcodeBadVers {
			m.SetEdns0(1232, false)
		}
		return m
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(1232, false)
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	z := s.zoneFor(name)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return m
	}
	s.answerIn(z, m, name, q.Qtype, 0)
	return m
}

func (s *ZoneServer) answerIn(z *Zone, m *dns.Msg, name string, qtype uint16, depth int) {
	// A delegation at or above name (below the apex) means a referral.
	for cut := name; isSubName(z.origin, cut) && cut != z.origin; cut = parent(cut) {
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
					if isSubName(cut, dns.CanonicalName(ns)) {
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
	for anc := parent(name); isSubName(z.origin, anc); anc = parent(anc) {
		for _, rr := range z.names[anc] {
			if d, ok := rr.(*dns.DNAME); ok && qtype != dns.TypeDNAME {
				target := dns.CanonicalName(strings.TrimSuffix(name, anc) + d.Target)
				if _, valid := dns.IsDomainName(target); !valid || len(target) > 255 {
					m.Rcode = dns.RcodeYXDomain
					return
				}
				m.Answer = append(m.Answer, rr, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target})
				if tz := s.zoneFor(target); tz == z && depth < 8 {
					s.answerIn(z, m, target, qtype, depth+1)
				}
				return
			}
		}
		if anc == z.origin {
			break
		}
	}
	rrs, exists := z.names[name]
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
		m.Ns = append(m.Ns, soaForNegative(z.soa))
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
					s.answerIn(z, m, target, qtype, depth+1)
				}
				return
			}
		}
	}
	if len(matched) == 0 {
		m.Ns = append(m.Ns, soaForNegative(z.soa))
		return
	}
	if s.rotate && len(matched) > 1 && (qtype == dns.TypeA || qtype == dns.TypeAAAA) {
		k := int(s.turn.Add(1)) % len(matched)
		matched = append(append([]dns.RR(nil), matched[k:]...), matched[:k]...)
	}
	m.Answer = append(m.Answer, matched...)
}

// wildcard synthesises records from *.<closest encloser> (RFC 4592).
func (s *ZoneServer) wildcard(z *Zone, name string) []dns.RR {
	for enc := parent(name); isSubName(z.origin, enc); enc = parent(enc) {
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
