package resolvertest

import (
	"net"
	"slices"
	"strings"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// SignedServer is an authoritative server for signed zones (and plain
// ones): resolver/authority answers, and to a query with the DO bit the
// server adds the RRSIGs, the DS or the proof of its absence at a
// referral, and the NSEC or NSEC3 proofs of negative answers and wildcard
// expansions (RFC 4035 §3.1, RFC 5155 §7.2). A DS query is answered from
// the parent's side of a cut it serves both sides of. It is safe for
// concurrent use.
type SignedServer struct {
	zones []*SignedZone
	plain []*authority.Zone
}

// NewSignedServer returns a server for the signed zones and the plain
// ones (answered without DNSSEC records).
func NewSignedServer(signed []*SignedZone, plain []*authority.Zone) *SignedServer {
	return &SignedServer{zones: signed, plain: plain}
}

// zoneFor returns the deepest zone holding name (for DS, a zone above
// name when name is another served zone's apex).
func (s *SignedServer) zoneFor(name string, qtype uint16) (*SignedZone, *authority.Zone) {
	var bestS *SignedZone
	var bestP *authority.Zone
	best := -1
	ok := func(origin string) bool {
		if !dnsproto.IsSubName(origin, name) {
			return false
		}
		return !(qtype == dns.TypeDS && origin == name && name != ".")
	}
	for _, z := range s.zones {
		if ok(z.origin) && dns.CountLabel(z.origin) > best {
			bestS, bestP, best = z, nil, dns.CountLabel(z.origin)
		}
	}
	for _, z := range s.plain {
		if ok(z.Origin()) && dns.CountLabel(z.Origin()) > best {
			bestS, bestP, best = nil, z, dns.CountLabel(z.Origin())
		}
	}
	if bestS == nil && bestP == nil && qtype == dns.TypeDS {
		return s.zoneFor(name, dns.TypeA) // the apex itself, when its parent is not served here
	}
	return bestS, bestP
}

// ServeDNS implements dns.Handler.
func (s *SignedServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := s.Answer(req)
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); !tcp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		dnsproto.Truncate(m, size)
	}
	w.WriteMsg(m)
}

// Answer returns the response to req, before truncation.
func (s *SignedServer) Answer(req *dns.Msg) *dns.Msg {
	if len(req.Question) != 1 {
		m := dnsproto.Reply(req)
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	sz, pz := s.zoneFor(name, q.Qtype)
	var zone *authority.Zone
	if sz != nil {
		zone = sz.zone
	} else if pz != nil {
		zone = pz
	} else {
		m := dnsproto.Reply(req)
		dnsproto.SetEDNS(m, req)
		m.Rcode = dns.RcodeRefused
		return m
	}
	srv, err := authority.New(authority.Config{Zones: []*authority.Zone{zone}})
	if err != nil {
		m := dnsproto.Reply(req)
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	m := srv.Answer(req)
	if sz != nil {
		if opt := req.IsEdns0(); opt != nil && opt.Do() {
			sz.augment(m, name, q.Qtype)
		}
	}
	return m
}

// augment adds the DNSSEC records to m, the authority's answer to
// name/qtype.
func (z *SignedZone) augment(m *dns.Msg, name string, qtype uint16) {
	var answer []dns.RR
	for _, rr := range m.Answer {
		answer = append(answer, rr)
		h := rr.Header()
		owner := dns.CanonicalName(h.Name)
		if !dnsproto.IsSubName(z.origin, owner) {
			continue
		}
		if last := len(m.Answer) - 1; rr != m.Answer[last] && sameSet(rr, nextRR(m.Answer, rr)) {
			continue // sign after the last record of the set
		}
		if sigs, ok := z.sigs[sigKey(owner, h.Rrtype)]; ok {
			answer = append(answer, sigs...)
			continue
		}
		// A wildcard expansion: the wildcard's signatures, and the proof
		// that owner does not exist.
		if ce, sigs := z.wildcardSigs(owner, h.Rrtype); sigs != nil {
			for _, sg := range sigs {
				c := dns.Copy(sg)
				c.Header().Name = h.Name
				answer = append(answer, c)
			}
			if !z.s.NoDenial {
				m.Ns = append(m.Ns, z.proveAbsent(owner, ce, false)...)
			}
		}
	}
	m.Answer = answer
	final := chainEnd(name, m.Answer) // where the CNAME chain ends
	var ns []dns.RR
	referral := false
	for _, rr := range m.Ns {
		ns = append(ns, rr)
		h := rr.Header()
		switch h.Rrtype {
		case dns.TypeSOA:
			ns = append(ns, z.sigs[sigKey(dns.CanonicalName(h.Name), dns.TypeSOA)]...)
		case dns.TypeNS:
			referral = true
		}
	}
	m.Ns = ns
	if referral && len(m.Answer) == 0 {
		cut := dns.CanonicalName(m.Ns[0].Header().Name)
		ds := z.typeAt(cut, dns.TypeDS)
		if len(ds) > 0 {
			m.Ns = append(m.Ns, ds...)
			m.Ns = append(m.Ns, z.sigs[sigKey(cut, dns.TypeDS)]...)
		} else if !z.s.NoDenial {
			m.Ns = append(m.Ns, z.proveNoData(cut)...)
		}
		return
	}
	if z.s.NoDenial || !dnsproto.IsSubName(z.origin, final) || !slices.ContainsFunc(m.Ns, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA }) {
		return
	}
	if m.Rcode == dns.RcodeNameError {
		ce := z.closestEncloser(final)
		m.Ns = append(m.Ns, z.proveAbsent(final, ce, true)...)
		return
	}
	if z.exists(final) {
		m.Ns = append(m.Ns, z.proveNoData(final)...)
		return
	}
	// NODATA from a wildcard: final is absent, *.ce exists without qtype.
	ce := z.closestEncloser(final)
	for _, rr := range append(z.proveAbsent(final, ce, false), z.proveNoData("*."+ce)...) {
		if !slices.Contains(m.Ns, rr) {
			m.Ns = append(m.Ns, rr)
		}
	}
}

func nextRR(rrs []dns.RR, rr dns.RR) dns.RR {
	for i, r := range rrs {
		if r == rr && i+1 < len(rrs) {
			return rrs[i+1]
		}
	}
	return nil
}

func sameSet(a, b dns.RR) bool {
	if b == nil {
		return false
	}
	return a.Header().Rrtype == b.Header().Rrtype && strings.EqualFold(a.Header().Name, b.Header().Name)
}

func chainEnd(name string, answer []dns.RR) string {
	for range 16 {
		next := ""
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && dns.CanonicalName(c.Hdr.Name) == name {
				next = dns.CanonicalName(c.Target)
			}
		}
		if next == "" {
			return name
		}
		name = next
	}
	return name
}

func (z *SignedZone) typeAt(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range z.recs[name] {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out
}

// exists reports whether name owns records or is an empty non-terminal.
func (z *SignedZone) exists(name string) bool {
	if len(z.recs[name]) > 0 {
		return true
	}
	for n := range z.recs {
		if n != name && dnsproto.IsSubName(name, n) {
			return true
		}
	}
	return false
}

// closestEncloser returns the deepest existing ancestor of name.
func (z *SignedZone) closestEncloser(name string) string {
	for n := dnsproto.Parent(name); ; n = dnsproto.Parent(n) {
		if n == z.origin || z.exists(n) || !dnsproto.IsSubName(z.origin, n) {
			return n
		}
	}
}

func (z *SignedZone) wildcardSigs(owner string, t uint16) (string, []dns.RR) {
	ce := z.closestEncloser(owner)
	sigs := z.sigs[sigKey("*."+ce, t)]
	return ce, sigs
}

// withSigs returns the NSEC or NSEC3 record and its signatures.
func (z *SignedZone) withSigs(rr dns.RR) []dns.RR {
	if rr == nil {
		return nil
	}
	return append([]dns.RR{rr}, z.sigs[sigKey(dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype)]...)
}

// proveNoData returns the NSEC (or NSEC3) of name, an existing name: its
// bitmap lists what is there (RFC 4035 §3.1.3.1, RFC 5155 §7.2.3). For a
// name left out of an opt-out chain, the closest encloser proof.
func (z *SignedZone) proveNoData(name string) []dns.RR {
	if !z.s.NSEC3 {
		if n := z.nsecOf(name); n != nil {
			return z.withSigs(n)
		}
		// An empty non-terminal: the NSEC whose span covers it.
		return z.withSigs(z.nsecCovering(name))
	}
	if n := z.nsec3Of(name); n != nil {
		return z.withSigs(n)
	}
	ce := z.closestEncloser(name)
	return z.proveAbsent(name, ce, false)
}

// proveAbsent returns the proof that name does not exist below its
// closest encloser ce: the NSEC covering it (and with wildcard, the one
// covering *.ce), or for NSEC3 the closest encloser's NSEC3, the one
// covering the next closer name and with wildcard, the one covering
// *.ce (RFC 5155 §7.2.2).
func (z *SignedZone) proveAbsent(name, ce string, wildcard bool) []dns.RR {
	var out []dns.RR
	add := func(rr dns.RR) {
		if rr == nil {
			return
		}
		for _, o := range out {
			if o == rr {
				return
			}
		}
		out = append(out, z.withSigs(rr)...)
	}
	if !z.s.NSEC3 {
		add(z.nsecCovering(name))
		if wildcard {
			add(z.nsecCovering("*." + ce))
		}
		return out
	}
	add(z.nsec3Of(ce))
	nc := name
	for dnsproto.Parent(nc) != ce && nc != "." {
		nc = dnsproto.Parent(nc)
	}
	add(z.nsec3Covering(nc))
	if wildcard {
		add(z.nsec3Covering("*." + ce))
	}
	return out
}

func (z *SignedZone) nsecOf(name string) dns.RR {
	for _, n := range z.nsec {
		if n.Hdr.Name == name {
			return n
		}
	}
	return nil
}

func (z *SignedZone) nsecCovering(name string) dns.RR {
	for _, n := range z.nsec {
		owner, next := n.Hdr.Name, n.NextDomain
		if dnsproto.CanonicalCompare(owner, name) >= 0 {
			continue
		}
		if dnsproto.CanonicalCompare(owner, next) >= 0 || dnsproto.CanonicalCompare(name, next) < 0 {
			return n
		}
	}
	return nil
}

func (z *SignedZone) nsec3Of(name string) dns.RR {
	h := strings.ToLower(z.hash(name)) + "." + z.origin
	for _, n := range z.nsec3 {
		if n.Hdr.Name == h {
			return n
		}
	}
	return nil
}

func (z *SignedZone) nsec3Covering(name string) dns.RR {
	h := z.hash(name)
	for _, n := range z.nsec3 {
		owner := strings.ToUpper(strings.SplitN(n.Hdr.Name, ".", 2)[0])
		next := n.NextDomain
		if owner < next && owner < h && h < next || owner >= next && (h > owner || h < next) {
			return n
		}
	}
	return nil
}
