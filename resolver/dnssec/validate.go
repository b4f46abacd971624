package dnssec

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// Validate validates resp, the response to q with its DNSSEC records
// (sent with DO), fetching the DS and DNSKEY RRsets of the chain through
// f. Every RRset of the answer section (a CNAME or DNAME chain included)
// is verified, the result being the weakest of them; a wildcard
// expansion needs its proof that the name itself does not exist; an
// NXDOMAIN or NODATA answer (for the name the chain ends at) needs its
// NSEC or NSEC3 proof. Referrals are not validated. resp is not changed.
func (v *Validator) Validate(ctx context.Context, f Fetcher, q dns.Question, resp *dns.Msg) Result {
	b := &budget{cfg: &v.cfg}
	res := v.validate(ctx, f, q, resp, b)
	res.Work = b.work
	return res
}

func (v *Validator) validate(ctx context.Context, f Fetcher, q dns.Question, resp *dns.Msg, b *budget) Result {
	qname := dns.CanonicalName(q.Name)
	if !v.Covers(qname) || resp == nil {
		return Result{Status: Indeterminate}
	}
	now := v.now()
	out := Result{Status: Secure}
	weaken := func(r Result) {
		if Weakest(out.Status, r.Status) != out.Status || out.Status == r.Status && out.EDE == 0 {
			out = r
		}
	}
	var den *denialCache
	var wild []Expansion
	for _, set := range groupRRsets(resp.Answer) {
		h := set[0].Header()
		owner := dns.CanonicalName(h.Name)
		if h.Rrtype == dns.TypeCNAME && synthesised(resp.Answer, owner) {
			continue // a DNAME's CNAME, unsigned by design (RFC 6672 §5.3.1); the DNAME is checked
		}
		if v.insecureAt(owner) {
			weaken(Result{Status: Insecure}) // Config.InsecureDomains
			continue
		}
		sigs := sigsFor(resp.Answer, owner, h.Rrtype)
		if len(sigs) == 0 {
			e := v.keysFor(ctx, f, owner, b)
			if e.res.Status == Secure {
				weaken(bogus(dns.ExtendedErrorCodeRRSIGsMissing, "no signature on "+owner+" "+dns.TypeToString[h.Rrtype]))
			} else {
				weaken(e.res)
			}
			if out.Status == Bogus {
				return out
			}
			continue
		}
		signer := signerOf(sigs, owner)
		if signer == "" {
			return bogus(dns.ExtendedErrorCodeDNSBogus, "signer of "+owner+" is not an ancestor")
		}
		e := v.keysFor(ctx, f, signer, b)
		if e.res.Status != Secure {
			weaken(e.res)
			if out.Status == Bogus {
				return out
			}
			continue
		}
		sig, res := verifyRRset(set, sigs, e.zone, e.keys, now, b)
		if res.Status != Secure {
			return res
		}
		if labels := dns.CountLabel(owner); int(sig.Labels) < labels {
			// A wildcard expansion (RFC 4035 §5.3.4): the name
			// itself must be proven absent.
			if den == nil {
				den = &denialCache{}
			}
			d, dres := den.get(v, resp, e, now, b)
			if dres.Status != Secure {
				weaken(dres)
				if out.Status == Bogus {
					return out
				}
				continue
			}
			ce := wildcardParent(owner, int(sig.Labels))
			if !d.wildcardAnswer(owner, ce) {
				return bogus(dns.ExtendedErrorCodeNSECMissing, "no proof that "+owner+" does not exist beside the wildcard *."+ce)
			}
			if d.optOutWildcard(owner, ce) {
				weaken(Result{Status: Insecure}) // RFC 5155 §9.2: an unsigned delegation may be there
			}
			if n := nsecWildcardProof(d.nsec, owner, ce); n != nil {
				wild = append(wild, Expansion{Name: owner, Type: h.Rrtype, Closest: ce, Zone: e.zone, NSEC: n}) // RFC 8198 §5.3
			}
		}
	}
	final, answered := chase(qname, q.Qtype, resp.Answer)
	if resp.Rcode == dns.RcodeNameError || resp.Rcode == dns.RcodeSuccess && !answered && !partialChain(qname, final, resp) {
		weaken(v.validateNegative(ctx, f, final, q.Qtype, resp, now, b))
	}
	if out.Status == Secure {
		out.Wildcards = wild
	}
	return out
}

// partialChain reports whether resp, a NOERROR response whose CNAME (or
// DNAME) chain from qname ends at final without an answer, is a link of
// a chain that goes on elsewhere: the chain moved and no SOA says that
// final has no data. The zone that answered owes no proof about final
// (it may not even serve it); the resolver asks for final itself and
// that answer is validated in turn (RFC 4035 §5.3; a denial is needed
// only in an NXDOMAIN or NODATA response, §3.1.3). A forger who strips
// the SOA of a real CNAME-then-NODATA gains nothing: final is asked.
func partialChain(qname, final string, resp *dns.Msg) bool {
	if final == qname {
		return false
	}
	for _, rr := range resp.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			return false
		}
	}
	return true
}

// validateNegative checks the proof of an NXDOMAIN or NODATA for
// name/qtype.
func (v *Validator) validateNegative(ctx context.Context, f Fetcher, name string, qtype uint16, resp *dns.Msg, now time.Time, b *budget) Result {
	if v.insecureAt(name) {
		return Result{Status: Insecure} // Config.InsecureDomains
	}
	signer := ""
	for _, rr := range resp.Ns {
		if s, ok := rr.(*dns.RRSIG); ok && (s.TypeCovered == dns.TypeSOA || s.TypeCovered == dns.TypeNSEC || s.TypeCovered == dns.TypeNSEC3) {
			if sn := dns.CanonicalName(s.SignerName); dnsproto.IsSubName(sn, name) {
				signer = sn
				break
			}
		}
	}
	if signer == "" {
		e := v.keysFor(ctx, f, name, b)
		if e.res.Status == Secure {
			return bogus(dns.ExtendedErrorCodeNSECMissing, "no signed denial for "+name+" "+dns.TypeToString[qtype])
		}
		return e.res
	}
	e := v.keysFor(ctx, f, signer, b)
	if e.res.Status != Secure {
		return e.res
	}
	d, res, _ := v.negativeProof(resp, e, now, b)
	if res.Status != Secure {
		return res
	}
	var ok, optOut bool
	if resp.Rcode == dns.RcodeNameError {
		ok, optOut = d.nxdomainOpt(name)
	} else {
		ok, optOut = d.nodata(name, qtype)
	}
	switch {
	case ok && optOut:
		return Result{Status: Insecure}
	case ok:
		return Result{Status: Secure, NSEC: d.nsec, Zone: d.zone, Denied: name}
	case d.spent():
		return bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 hash limit reached")
	case d.fail.Status == Bogus:
		return d.fail
	}
	kind := "NODATA"
	if resp.Rcode == dns.RcodeNameError {
		kind = "NXDOMAIN"
	}
	return bogus(dns.ExtendedErrorCodeNSECMissing, "no valid "+kind+" proof for "+name+" "+dns.TypeToString[qtype])
}

// denial is the verified NSEC and NSEC3 records of one response, signed
// by one zone.
type denial struct {
	zone string
	nsec []*dns.NSEC
	n3   *nsec3Set
	fail Result // the last RRset that did not verify, for the EDE
}

func (d *denial) spent() bool { return d.n3 != nil && d.n3.spent }

func (d *denial) nxdomainOpt(name string) (ok, optOut bool) {
	if nsecNXDomain(d.nsec, name, d.zone) {
		return true, false
	}
	if d.n3 != nil {
		return d.n3.nxdomain(name)
	}
	return false, false
}

func (d *denial) nxdomain(name string) bool {
	ok, _ := d.nxdomainOpt(name)
	return ok
}

func (d *denial) nodata(name string, t uint16) (ok, optOut bool) {
	if nsecNoData(d.nsec, name, t, d.zone) {
		return true, false
	}
	if d.n3 != nil {
		return d.n3.nodata(name, t)
	}
	return false, false
}

// noDS says whether the response proves that name has no DS, and if so
// whether name is a delegation (cut) or lies under an opt-out span.
func (d *denial) noDS(name string) (ok, optOut, cut bool) {
	if n := nsecMatching(d.nsec, name); n != nil {
		if hasType(n.TypeBitMap, dns.TypeDS) || hasType(n.TypeBitMap, dns.TypeCNAME) || hasType(n.TypeBitMap, dns.TypeSOA) {
			return false, false, false
		}
		return true, false, hasType(n.TypeBitMap, dns.TypeNS)
	}
	if nsecCovering(d.nsec, name) != nil {
		return true, false, false // no such name (or an empty non-terminal): no cut
	}
	if d.n3 == nil {
		return false, false, false
	}
	if m := d.n3.match(name); m != nil {
		if hasType(m.TypeBitMap, dns.TypeDS) || hasType(m.TypeBitMap, dns.TypeCNAME) || hasType(m.TypeBitMap, dns.TypeSOA) {
			return false, false, false
		}
		return true, false, hasType(m.TypeBitMap, dns.TypeNS)
	}
	if d.n3.spent {
		return false, false, false
	}
	_, nc, ok := d.n3.closestEncloser(name)
	if !ok {
		return false, false, false
	}
	return true, nc.Flags&1 == 1, false
}

// wildcardAnswer checks the proof that an answer synthesised from the
// wildcard *.ce had no closer match: an NSEC covering name whose closest
// encloser is ce (RFC 4035 §5.3.4), or an NSEC3 covering the next closer
// name (RFC 5155 §8.8).
func (d *denial) wildcardAnswer(name, ce string) bool {
	if nsecWildcardProof(d.nsec, name, ce) != nil {
		return true
	}
	if d.n3 != nil && ce != name && dnsproto.IsSubName(ce, name) {
		return d.n3.cover(childToward(ce, name)) != nil
	}
	return false
}

// optOutWildcard reports whether the proof of the wildcard expansion of
// *.ce for name rests on an opt-out NSEC3 covering the next closer name
// (no NSEC proves it): an unsigned delegation may exist there, so the
// expansion is not proven secure (RFC 5155 §6, §9.2).
func (d *denial) optOutWildcard(name, ce string) bool {
	if n := nsecCovering(d.nsec, name); n != nil && nsecClosestEncloser(n, name) == ce {
		return false
	}
	if d.n3 == nil || ce == name || !dnsproto.IsSubName(ce, name) {
		return false
	}
	nc := d.n3.cover(childToward(ce, name))
	return nc != nil && nc.Flags&1 == 1
}

type denialCache struct {
	d   *denial
	res Result
}

func (c *denialCache) get(v *Validator, resp *dns.Msg, e *keyEntry, now time.Time, b *budget) (*denial, Result) {
	if c.d == nil || c.d.zone != e.zone {
		c.d, c.res, _ = v.negativeProof(resp, e, now, b)
	}
	return c.d, c.res
}

// negativeProof verifies the SOA, NSEC and NSEC3 RRsets of resp's
// authority section with the keys of e's zone and returns the records
// that verified, with the smallest TTL among them. The Result is Bogus
// when the SOA does not verify, Insecure when the NSEC3 chain's
// iterations are above MaxNSEC3Iterations (RFC 9276 §3.2).
func (v *Validator) negativeProof(resp *dns.Msg, e *keyEntry, now time.Time, b *budget) (*denial, Result, uint32) {
	d := &denial{zone: e.zone}
	ttl := uint32(1<<31 - 1)
	var n3 []*dns.NSEC3
	for _, set := range groupRRsets(resp.Ns) {
		h := set[0].Header()
		owner := dns.CanonicalName(h.Name)
		switch h.Rrtype {
		case dns.TypeSOA, dns.TypeNSEC, dns.TypeNSEC3:
		default:
			continue
		}
		if !dnsproto.IsSubName(e.zone, owner) {
			continue
		}
		if h.Rrtype == dns.TypeNSEC3 && len(set) == 1 {
			if x := set[0].(*dns.NSEC3); x.Iterations > uint16(v.cfg.MaxNSEC3Iterations) {
				return d, insecure(dns.ExtendedErrorCodeUnsupportedNSEC3IterValue, "NSEC3 iterations above the limit (RFC 9276)"), 0
			}
		}
		_, res := verifyRRset(set, sigsFor(resp.Ns, owner, h.Rrtype), e.zone, e.keys, now, b)
		if res.Status != Secure {
			if h.Rrtype == dns.TypeSOA || b.work.Verifications >= v.cfg.MaxVerifications {
				return d, res, 0
			}
			d.fail = res
			continue
		}
		ttl = min(ttl, h.Ttl)
		switch x := set[0].(type) {
		case *dns.SOA:
			ttl = min(ttl, x.Minttl)
		case *dns.NSEC:
			if len(set) == 1 {
				d.nsec = append(d.nsec, x)
			}
		case *dns.NSEC3:
			if len(set) == 1 {
				n3 = append(n3, x)
			}
		}
	}
	if len(n3) > 0 {
		d.n3 = newNSEC3Set(n3, e.zone, b)
	}
	return d, Result{Status: Secure}, ttl
}

// groupRRsets splits rrs into RRsets (owner, type, class), in order of
// first appearance, leaving out RRSIGs and OPT.
func groupRRsets(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
			continue
		}
		found := false
		for i, set := range out {
			s := set[0].Header()
			if s.Rrtype == h.Rrtype && s.Class == h.Class && strings.EqualFold(s.Name, h.Name) {
				if !slices.ContainsFunc(set, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
					out[i] = append(set, rr) // RFC 2181 §5: duplicates are one record
				}
				found = true
				break
			}
		}
		if !found {
			out = append(out, []dns.RR{rr})
		}
	}
	return out
}

// signerOf returns the signer name of sigs, which must be owner or an
// ancestor of it, or "".
func signerOf(sigs []*dns.RRSIG, owner string) string {
	for _, s := range sigs {
		if sn := dns.CanonicalName(s.SignerName); dnsproto.IsSubName(sn, owner) {
			return sn
		}
	}
	return ""
}

// synthesised reports whether a CNAME owned by owner comes from a DNAME
// in answer owned by one of its ancestors.
func synthesised(answer []dns.RR, owner string) bool {
	for _, rr := range answer {
		if d, ok := rr.(*dns.DNAME); ok {
			if o := dns.CanonicalName(d.Hdr.Name); o != owner && dnsproto.IsSubName(o, owner) {
				return true
			}
		}
	}
	return false
}

// wildcardParent returns the closest encloser of an answer for owner
// synthesised from a wildcard whose RRSIG has the given label count.
func wildcardParent(owner string, labels int) string {
	n := owner
	for dns.CountLabel(n) > labels {
		n = dnsproto.Parent(n)
	}
	return n
}

// chase follows the CNAME chain of answer from qname and returns the
// name it ends at, and whether the answer holds qtype there.
func chase(qname string, qtype uint16, answer []dns.RR) (string, bool) {
	name := qname
	for range 16 {
		next := ""
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype || qtype == dns.TypeANY {
				return name, true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = dns.CanonicalName(c.Target)
			}
		}
		if next == "" || next == name {
			return name, false
		}
		name = next
	}
	return name, false
}
