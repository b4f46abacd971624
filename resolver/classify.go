package resolver

import (
	"strings"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

type respKind int

const (
	kindLame respKind = iota
	kindAnswer
	kindNXDomain
	kindNoData
	kindReferral
	kindLoop
)

type classified struct {
	answer  []dns.RR // accepted answer records (the chain)
	next    string   // CNAME target to continue with, if the chain left the answer
	soa     dns.RR
	negName string
	ns      []dns.RR // referral NS set
	glue    []dns.RR
	child   string
}

// classify reads a response from a server of zone for name/qtype, keeping
// only in-bailiwick data (cache-poisoning defence, RFC 5452 §6).
func classify(m *dns.Msg, zone, name string, qtype uint16) (respKind, classified) {
	var c classified
	inZone := func(n string) bool { return dnsproto.IsSubName(zone, dns.CanonicalName(n)) }
	// Follow the answer section from name through CNAMEs, accepting only
	// records on the chain that lie within the zone.
	cur := name
	visited := map[string]bool{name: true}
	for hops := 0; hops < 16; hops++ {
		var matched, cname []dns.RR
		for _, rr := range m.Answer {
			h := rr.Header()
			if dns.CanonicalName(h.Name) != cur || !inZone(h.Name) {
				continue
			}
			if h.Rrtype == qtype || qtype == dns.TypeANY {
				matched = append(matched, rr)
			} else if h.Rrtype == dns.TypeCNAME {
				cname = append(cname, rr)
			}
		}
		if len(matched) > 0 {
			// The chain ends here, inside this response: nothing is left
			// to chase (a stale c.next would ask for the target again and
			// repeat its records in the answer).
			c.answer = append(c.answer, matched...)
			c.next = ""
			return kindAnswer, c
		}
		if len(cname) == 0 {
			// A DNAME at an ancestor stands for a CNAME the resolver
			// synthesises itself when the server sent none (RFC 6672 §3.2).
			for _, rr := range m.Answer {
				d, ok := rr.(*dns.DNAME)
				owner := dns.CanonicalName(rr.Header().Name)
				if !ok || owner == cur || !dnsproto.IsSubName(owner, cur) || !inZone(owner) {
					continue
				}
				target := dns.CanonicalName(strings.TrimSuffix(cur, owner) + d.Target)
				if _, valid := dns.IsDomainName(target); !valid {
					break
				}
				c.answer = append(c.answer, rr)
				cname = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: cur, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target}}
				break
			}
		}
		if len(cname) == 0 {
			break
		}
		// Keep a DNAME that covers cur beside the CNAME a server
		// synthesised from it (RFC 6672 §3.2).
		for _, rr := range m.Answer {
			owner := dns.CanonicalName(rr.Header().Name)
			if _, ok := rr.(*dns.DNAME); ok && owner != cur && dnsproto.IsSubName(owner, cur) && inZone(owner) && !containsRR(c.answer, rr) {
				c.answer = append(c.answer, rr)
			}
		}
		c.answer = append(c.answer, cname[0])
		cur = dns.CanonicalName(cname[0].(*dns.CNAME).Target)
		if visited[cur] {
			return kindLoop, c
		}
		visited[cur] = true
		c.next = cur
	}
	soa := func() dns.RR {
		for _, rr := range m.Ns {
			if s, ok := rr.(*dns.SOA); ok && inZone(s.Hdr.Name) && dnsproto.IsSubName(dns.CanonicalName(s.Hdr.Name), cur) {
				return dnsproto.NegativeSOA(s)
			}
		}
		return nil
	}
	if m.Rcode == dns.RcodeNameError {
		s := soa()
		if len(c.answer) == 0 && s == nil && !m.Authoritative {
			// Neither authoritative nor with the SOA that would let it
			// be cached: not an answer (a middlebox that rewrites, a
			// "root" that is no such thing). Other servers are asked.
			return kindLame, c
		}
		if len(c.answer) == 0 || s != nil && inZone(cur) {
			c.soa, c.negName, c.next = s, cur, ""
			return kindNXDomain, c
		}
		// A chain that left this zone ends in an NXDOMAIN that this
		// zone's servers cannot vouch for (a server following a CNAME
		// into another zone it serves, or one that sent no SOA): the
		// target is asked at its own authority, whose SOA the negative
		// answer must carry (RFC 2308 §2.1, §5).
		return kindAnswer, c
	}
	if len(c.answer) > 0 {
		// A CNAME chain leaving this response: continue at c.next unless
		// the server is authoritative for the target and said nothing.
		if m.Authoritative && inZone(c.next) && !hasReferral(m, zone, c.next) {
			if s := soa(); s != nil {
				c.soa, c.negName, c.next = s, cur, ""
				return kindNoData, c
			}
		}
		return kindAnswer, c
	}
	// A referral: NS for a zone strictly below ours and above the name.
	var child string
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			owner := dns.CanonicalName(ns.Hdr.Name)
			if owner != zone && dnsproto.IsSubName(zone, owner) && dnsproto.IsSubName(owner, name) && (child == "" || child == owner) {
				child = owner
				c.ns = append(c.ns, rr)
			}
		}
	}
	if child != "" && !m.Authoritative || child != "" && len(m.Answer) == 0 && soa() == nil {
		c.child = child
		nsNames := map[string]bool{}
		for _, rr := range c.ns {
			nsNames[dns.CanonicalName(rr.(*dns.NS).Ns)] = true
		}
		for _, rr := range m.Extra {
			h := rr.Header()
			// Glue only for the listed servers, and only inside the
			// delegating zone's bailiwick.
			if (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) && nsNames[dns.CanonicalName(h.Name)] && inZone(h.Name) {
				c.glue = append(c.glue, rr)
			}
		}
		return kindReferral, c
	}
	if s := soa(); s != nil || m.Authoritative {
		c.soa, c.negName = s, name
		return kindNoData, c
	}
	return kindLame, c
}

func containsRR(list []dns.RR, rr dns.RR) bool {
	for _, x := range list {
		if x == rr {
			return true
		}
	}
	return false
}

func hasReferral(m *dns.Msg, zone, name string) bool {
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			owner := dns.CanonicalName(ns.Hdr.Name)
			if owner != zone && dnsproto.IsSubName(owner, name) {
				return true
			}
		}
	}
	return false
}

// groupRRsets splits records into RRsets by owner and type.
func groupRRsets(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	idx := map[string]int{}
	for _, rr := range rrs {
		k := cacheKey(dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype)
		if i, ok := idx[k]; ok {
			out[i] = append(out[i], rr)
			continue
		}
		idx[k] = len(out)
		out = append(out, []dns.RR{rr})
	}
	return out
}
