package dnssec

import (
	"slices"
	"strings"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

func canonicalCompare(a, b string) int { return dnsproto.CanonicalCompare(a, b) }

// hasType reports whether a type bitmap lists t.
func hasType(bitmap []uint16, t uint16) bool { return slices.Contains(bitmap, t) }

// commonAncestor returns the longest name that is an ancestor of (or
// equal to) both a and b.
func commonAncestor(a, b string) string {
	a, b = dns.CanonicalName(a), dns.CanonicalName(b)
	for n := a; ; n = dnsproto.Parent(n) {
		if dnsproto.IsSubName(n, b) {
			return n
		}
		if n == "." {
			return "."
		}
	}
}

// childToward returns the name one label below anc on the way to name
// (anc must be a proper ancestor of name).
func childToward(anc, name string) string {
	for n := name; ; n = dnsproto.Parent(n) {
		if p := dnsproto.Parent(n); p == anc || n == "." {
			return n
		}
	}
}

// nsecCovers reports whether nsec proves that name does not exist: name
// falls strictly between its owner and next name in canonical order
// (RFC 4034 §4.1.1), the last NSEC of the zone wrapping to the apex.
func nsecCovers(nsec *dns.NSEC, name string) bool {
	owner, next := dns.CanonicalName(nsec.Hdr.Name), dns.CanonicalName(nsec.NextDomain)
	if canonicalCompare(owner, name) >= 0 {
		return false
	}
	if canonicalCompare(owner, next) >= 0 { // the last NSEC: next is the apex
		return dnsproto.IsSubName(next, name)
	}
	return canonicalCompare(name, next) < 0
}

// ancestorDelegation reports whether nsec, owned by a proper ancestor of
// name, is the parent side of a delegation or a DNAME: it then proves
// nothing about names below it (RFC 6840 §4.1).
func ancestorDelegation(nsec *dns.NSEC, name string) bool {
	owner := dns.CanonicalName(nsec.Hdr.Name)
	if owner == name || !dnsproto.IsSubName(owner, name) {
		return false
	}
	return hasType(nsec.TypeBitMap, dns.TypeNS) && !hasType(nsec.TypeBitMap, dns.TypeSOA) || hasType(nsec.TypeBitMap, dns.TypeDNAME)
}

// nsecCovering returns the NSEC that proves name absent, or nil.
func nsecCovering(nsecs []*dns.NSEC, name string) *dns.NSEC {
	for _, n := range nsecs {
		if nsecCovers(n, name) && !ancestorDelegation(n, name) {
			return n
		}
	}
	return nil
}

func nsecMatching(nsecs []*dns.NSEC, name string) *dns.NSEC {
	for _, n := range nsecs {
		if dns.CanonicalName(n.Hdr.Name) == name {
			return n
		}
	}
	return nil
}

// nsecClosestEncloser derives the closest encloser of name from the NSEC
// that covers it: the longest ancestor shared with its owner or next
// name (RFC 4035 §5.4, RFC 7129 §5.5).
func nsecClosestEncloser(n *dns.NSEC, name string) string {
	a, b := commonAncestor(name, n.Hdr.Name), commonAncestor(name, n.NextDomain)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

// nsecNXDomain checks an NSEC proof that name does not exist (RFC 4035
// §3.1.3.2): an NSEC covers name and one covers the wildcard at its
// closest encloser.
func nsecNXDomain(nsecs []*dns.NSEC, name, zone string) bool {
	n := nsecCovering(nsecs, name)
	if n == nil {
		return false
	}
	ce := nsecClosestEncloser(n, name)
	if ce == name || !dnsproto.IsSubName(zone, ce) {
		// ce == name: the NSEC's next name is below name, which is an
		// empty non-terminal, not absent (RFC 4035 §3.1.3.1 note; RFC
		// 8020 would deny its whole subtree).
		return false
	}
	return nsecCovering(nsecs, "*."+ce) != nil || nsecCovers(n, "*."+ce)
}

// nsecNoData checks an NSEC proof that name exists without type t (RFC
// 4035 §3.1.3.1): the NSEC of name lacks t and CNAME; for an empty
// non-terminal, an NSEC whose next name is below name; for a wildcard
// (RFC 4035 §3.1.3.4), an NSEC covering name and the wildcard's NSEC
// lacking t.
func nsecNoData(nsecs []*dns.NSEC, name string, t uint16, zone string) bool {
	if n := nsecMatching(nsecs, name); n != nil {
		if listsType(n.TypeBitMap, t) || hasType(n.TypeBitMap, dns.TypeCNAME) {
			return false
		}
		parentSide := hasType(n.TypeBitMap, dns.TypeNS) && !hasType(n.TypeBitMap, dns.TypeSOA)
		if t == dns.TypeDS {
			// The proof of no DS comes from the parent: not the
			// child's apex NSEC (RFC 6840 §4.4).
			return !hasType(n.TypeBitMap, dns.TypeSOA) || name == "."
		}
		return !parentSide // a delegation's NSEC says nothing of the child's data
	}
	n := nsecCovering(nsecs, name)
	if n == nil {
		return false
	}
	if next := dns.CanonicalName(n.NextDomain); next != name && dnsproto.IsSubName(name, next) {
		return true // an empty non-terminal (RFC 4035 §3.1.3.1 note, RFC 5155 §7.2.3 for NSEC)
	}
	ce := nsecClosestEncloser(n, name)
	if !dnsproto.IsSubName(zone, ce) {
		return false
	}
	w := nsecMatching(nsecs, "*."+ce)
	return w != nil && !listsType(w.TypeBitMap, t) && !hasType(w.TypeBitMap, dns.TypeCNAME)
}

// nsecWildcardProof returns the NSEC of nsecs that proves an answer
// synthesised from the wildcard *.ce had no closer match: it covers name
// and its closest encloser is ce (RFC 4035 §5.3.4), or nil.
func nsecWildcardProof(nsecs []*dns.NSEC, name, ce string) *dns.NSEC {
	if n := nsecCovering(nsecs, name); n != nil && nsecClosestEncloser(n, name) == ce {
		return n
	}
	return nil
}

// nsec3Set is the NSEC3 records of one zone in a response, with the name
// hashes computed for them (each counted against the budget).
type nsec3Set struct {
	zone   string
	recs   []*dns.NSEC3
	hashes map[string]string // name -> hash under recs[0]'s parameters
	b      *budget
	spent  bool // the hash budget ran out
}

// newNSEC3Set keeps the NSEC3 records of zone with SHA-1, no unknown
// flags (RFC 5155 §8.2) and the parameters of the first.
func newNSEC3Set(rrs []*dns.NSEC3, zone string, b *budget) *nsec3Set {
	s := &nsec3Set{zone: zone, hashes: map[string]string{}, b: b}
	for _, n := range rrs {
		if n.Hash != dns.SHA1 || n.Flags&^1 != 0 || dnsproto.Parent(dns.CanonicalName(n.Hdr.Name)) != zone {
			continue
		}
		if len(s.recs) > 0 && (n.Iterations != s.recs[0].Iterations || !strings.EqualFold(n.Salt, s.recs[0].Salt)) {
			continue
		}
		s.recs = append(s.recs, n)
	}
	return s
}

func (s *nsec3Set) hash(name string) (string, bool) {
	if h, ok := s.hashes[name]; ok {
		return h, true
	}
	if !s.b.hash() {
		s.spent = true
		return "", false
	}
	h := dns.HashName(name, dns.SHA1, s.recs[0].Iterations, s.recs[0].Salt)
	s.hashes[name] = h
	return h, h != ""
}

func ownerHash(n *dns.NSEC3) string {
	owner := n.Hdr.Name
	if i := strings.IndexByte(owner, '.'); i > 0 {
		owner = owner[:i]
	}
	return strings.ToUpper(owner)
}

// match returns the NSEC3 whose owner is name's hash, or nil.
func (s *nsec3Set) match(name string) *dns.NSEC3 {
	if len(s.recs) == 0 {
		return nil
	}
	h, ok := s.hash(name)
	if !ok {
		return nil
	}
	for _, n := range s.recs {
		if ownerHash(n) == h {
			return n
		}
	}
	return nil
}

// cover returns the NSEC3 whose interval holds name's hash, or nil.
func (s *nsec3Set) cover(name string) *dns.NSEC3 {
	if len(s.recs) == 0 {
		return nil
	}
	h, ok := s.hash(name)
	if !ok {
		return nil
	}
	for _, n := range s.recs {
		owner, next := ownerHash(n), strings.ToUpper(n.NextDomain)
		switch {
		case owner == next: // one record: everything else is covered
			if h != owner {
				return n
			}
		case owner < next:
			if owner < h && h < next {
				return n
			}
		default: // the last record wraps
			if h > owner || h < next {
				return n
			}
		}
	}
	return nil
}

// closestEncloser finds the closest encloser proof for name (RFC 5155
// §8.3): the deepest ancestor with a matching NSEC3 that is not a
// delegation or DNAME, and the NSEC3 covering the next closer name.
func (s *nsec3Set) closestEncloser(name string) (ce string, nextCloser *dns.NSEC3, ok bool) {
	for n := dnsproto.Parent(name); dnsproto.IsSubName(s.zone, n); n = dnsproto.Parent(n) {
		m := s.match(n)
		if s.spent {
			return "", nil, false
		}
		if m != nil {
			if hasType(m.TypeBitMap, dns.TypeDNAME) || hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
				return "", nil, false
			}
			c := s.cover(childToward(n, name))
			return n, c, c != nil
		}
		if n == s.zone || n == "." {
			break
		}
	}
	return "", nil, false
}

// nsec3NXDomain checks an NSEC3 proof that name does not exist (RFC 5155
// §8.4). optOut is set when the next closer is covered by an opt-out
// NSEC3: an insecure delegation might exist there (§9.2), so the answer
// is not secure.
func (s *nsec3Set) nxdomain(name string) (ok, optOut bool) {
	ce, nc, ok := s.closestEncloser(name)
	if !ok {
		return false, false
	}
	if s.cover("*."+ce) == nil {
		return false, false
	}
	return true, nc.Flags&1 == 1
}

// nodata checks an NSEC3 proof that name has no type t (RFC 5155 §8.5,
// §8.6 for DS, §8.7 for a wildcard). optOut is set for a DS proven
// absent by an opt-out span: an insecure delegation.
func (s *nsec3Set) nodata(name string, t uint16) (ok, optOut bool) {
	if m := s.match(name); m != nil {
		if listsType(m.TypeBitMap, t) || hasType(m.TypeBitMap, dns.TypeCNAME) {
			return false, false
		}
		if t != dns.TypeDS && hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
			return false, false // the parent side of a delegation
		}
		if t == dns.TypeDS && hasType(m.TypeBitMap, dns.TypeSOA) && name != "." {
			return false, false // the child's apex (RFC 6840 §4.4)
		}
		return true, false
	}
	if s.spent {
		return false, false
	}
	ce, nc, ok := s.closestEncloser(name)
	if !ok {
		return false, false
	}
	if t == dns.TypeDS && nc.Flags&1 == 1 {
		return true, true // §8.6: no DS under an opt-out span
	}
	w := s.match("*." + ce)
	if w != nil && !listsType(w.TypeBitMap, t) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
		return true, false
	}
	return false, false
}

// DeniedByNSEC reports whether the NSEC records nsecs, validated with the
// keys of zone, prove that name has no type t: rcode dns.RcodeNameError
// for a name that does not exist (RFC 4035 §3.1.3.2), dns.RcodeSuccess
// for a name without the type (RFC 4035 §3.1.3.1, §3.1.3.4), ok false
// when they prove neither. It is the proof check of a validated negative
// answer, for a resolver that answers from cached NSEC records (RFC 8198
// §5.1, §5.2). DS questions are never proven here (the answer comes from
// the parent side of a cut, RFC 6840 §4.4).
func DeniedByNSEC(nsecs []*dns.NSEC, name string, t uint16, zone string) (rcode int, ok bool) {
	name, zone = dns.CanonicalName(name), dns.CanonicalName(zone)
	if t == dns.TypeDS || !dnsproto.IsSubName(zone, name) {
		return 0, false
	}
	if nsecNXDomain(nsecs, name, zone) {
		return dns.RcodeNameError, true
	}
	if nsecNoData(nsecs, name, t, zone) {
		return dns.RcodeSuccess, true
	}
	return 0, false
}

// WildcardByNSEC reports whether the NSEC records nsecs, validated with
// the keys of zone, prove that name does not exist and that the wildcard
// at its closest encloser is the closest match. It returns the NSEC that
// covers name and that closest encloser ce (the wildcard is "*."+ce), or
// nil. It is the proof check of a validated wildcard expansion (RFC 4035
// §5.3.4, the one Validate makes), for a resolver that answers from a
// cached wildcard RRset (RFC 8198 §5.3): the wildcard's existence is the
// caller's to know (its validated RRset); an NSEC of nsecs that proves
// the wildcard absent makes the answer nil. DS questions are never
// answered so (a DS lives on the parent side of a cut).
func WildcardByNSEC(nsecs []*dns.NSEC, name string, t uint16, zone string) (nsec *dns.NSEC, ce string) {
	name, zone = dns.CanonicalName(name), dns.CanonicalName(zone)
	if t == dns.TypeDS || name == zone || !dnsproto.IsSubName(zone, name) {
		return nil, ""
	}
	n := nsecCovering(nsecs, name)
	if n == nil {
		return nil, ""
	}
	ce = nsecClosestEncloser(n, name)
	if !dnsproto.IsSubName(zone, ce) || nsecCovering(nsecs, "*."+ce) != nil {
		return nil, ""
	}
	return n, ce
}
