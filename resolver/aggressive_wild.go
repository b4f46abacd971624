package resolver

import (
	"slices"
	"strconv"
	"time"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// Answers synthesised from a cached validated wildcard (RFC 8198 §5.3).
//
// When a Secure answer is a wildcard expansion proven by NSEC (its RRSIG
// has fewer labels than its owner, and the validator verified the NSEC
// that covers the owner and shows no closer match, RFC 4035 §5.3.4;
// dnssec.Result.Wildcards), the wildcard RRset is cached with its RRSIGs
// as the source of synthesis (owner "*.closest-encloser", under wildKey),
// and the proving NSEC with its RRSIGs as one of the indexed NSEC entries
// of aggressive.go (putNSEC, without an SOA: a positive answer has none).
// Both are cache entries, counted in Config.MaxBytes and evicted and
// expired like the others.
//
// A question the cache does not answer and that cached NSEC records do
// not prove absent is answered from them when a cached NSEC covers the
// name (the name does not exist), its closest encloser ce is in the
// zone, no cached NSEC covers *.ce (dnssec.WildcardByNSEC: the
// validator's own check of a wildcard proof) and the RRset of *.ce of
// the asked type is cached: the RRset with its owner rewritten to the
// name, its RRSIGs as they were signed (their Labels field tells a
// validating client that it is an expansion), the NSEC and its RRSIGs
// for the authority section of a DO client, AD for a client asking with
// DO or AD, every TTL the least of what is left of the wildcard RRset's
// and the NSEC's (§5.4); no upstream query. The answer is cached as a
// fresh one would be, so the name's next questions are cache hits.
//
// A wildcard NODATA (the name absent, *.ce without the type in its NSEC
// bitmap, RFC 4035 §3.1.3.4) is the NODATA of aggressive.go: the NSEC of
// *.ce comes with a wildcard NODATA answer. A CNAME at the wildcard is
// cached like any RRset and answers a question of type CNAME only: a
// question of another type below a wildcard CNAME is asked upstream (the
// target's data, in the wildcard's zone or another, is not chased from
// here). Never for a query with CD, a DS, ANY, NSEC or RRSIG question,
// insecure data, NSEC3, or a name in an ECS zone (whose answers vary by
// client subnet).

// wildMark is in the cache key of every cached wildcard RRset (wildKey);
// it is not aggrMark, so onEvict leaves the NSEC index alone for them.
const wildMark = "/47/wild/"

// wildKey is the cache key of the RRset of type t of the wildcard *.ce
// of zone.
func wildKey(ce string, t uint16, zone string) string {
	return "*." + ce + "/" + strconv.Itoa(int(t)) + wildMark + zone
}

// indexWildcards caches the wildcard RRsets of res, the Secure validation
// of resp, with their RRSIGs, and the NSEC records that proved them
// (RFC 8198 §5.3, §4: only validated records).
func (r *Recursive) indexWildcards(res dnssec.Result, resp *dns.Msg) {
	if len(res.Wildcards) == 0 {
		return
	}
	now := r.now()
	for _, x := range res.Wildcards {
		if x.NSEC == nil || !wildType(x.Type) || r.ecs.covers(x.Name) {
			continue
		}
		zone, owner, wild := dns.CanonicalName(x.Zone), dns.CanonicalName(x.Name), "*."+dns.CanonicalName(x.Closest)
		var rrs, sigs []dns.RR
		ttl := int64(r.cfg.MaxTTL / time.Second)
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || dns.CanonicalName(h.Name) != owner {
				continue
			}
			if s, ok := rr.(*dns.RRSIG); ok {
				// The signatures of the expansion: signed by the zone,
				// with the wildcard's label count (RFC 4034 §3.1.3).
				if s.TypeCovered != x.Type || dns.CanonicalName(s.SignerName) != zone || int(s.Labels) != dns.CountLabel(x.Closest) {
					continue
				}
				c := dns.Copy(s)
				c.Header().Name = wild
				sigs = append(sigs, c)
				ttl = min(ttl, int64(h.Ttl)) // capped to the signatures' validity (capTTLs)
				continue
			}
			if h.Rrtype == x.Type {
				c := dns.Copy(rr)
				c.Header().Name = wild
				rrs = append(rrs, c)
				ttl = min(ttl, int64(h.Ttl))
			}
		}
		if len(rrs) == 0 || len(sigs) == 0 || ttl <= 0 {
			continue
		}
		// The NSEC that proves no closer match, unless it is cached
		// already (a negative answer's entry also holds the SOA).
		if e, ok := r.cache.GetAt(aggrKey(dns.CanonicalName(x.NSEC.Hdr.Name), zone), now); !ok || !e.fresh(now) {
			if !r.putNSEC(zone, x.NSEC, resp.Ns, nil, nil, now) {
				continue
			}
		}
		rrs = append(rrs, sigs...)
		key := wildKey(x.Closest, x.Type, zone)
		cost := int64(len(key) + 96)
		for _, rr := range rrs {
			cost += int64(dns.Len(rr)) + 48
		}
		d := time.Duration(ttl) * time.Second
		e := &entry{rrs: rrs, rcode: dns.RcodeSuccess, stored: now, ttl: d, origTTL: d, rank: rankAnswer}
		r.cache.Set(key, e, cost, now.Add(d))
	}
}

// wildType reports whether RRsets of type t are synthesised from a
// wildcard: not DS (the parent side of a cut), ANY, or the DNSSEC
// records a wildcard owns itself (RFC 4592 §4: its NSEC and RRSIGs are
// not expanded).
func wildType(t uint16) bool {
	switch t {
	case dns.TypeDS, dns.TypeANY, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeRRSIG:
		return false
	}
	return true
}

// synthesiseWildcard answers q from a cached validated wildcard RRset
// when the cached NSEC records nsecs (of entries ents, all fresh, of
// zone) prove that q's name does not exist and that the wildcard is its
// closest match (RFC 8198 §5.3), or returns nil.
func (r *Recursive) synthesiseWildcard(q dns.Question, zone string, nsecs []*dns.NSEC, ents []*entry, now time.Time) *dns.Msg {
	if !wildType(q.Qtype) || r.ecs.covers(q.Name) {
		return nil
	}
	n, ce := dnssec.WildcardByNSEC(nsecs, q.Name, q.Qtype, zone)
	if n == nil {
		return nil
	}
	ne := ents[slices.Index(nsecs, n)]
	w, ok := r.cache.GetAt(wildKey(ce, q.Qtype, zone), now)
	if !ok || !w.fresh(now) {
		return nil
	}
	// RFC 8198 §5.4: no longer than what is left of either.
	left := min(ne.ttl-now.Sub(ne.stored), w.ttl-now.Sub(w.stored))
	ttl := uint32(left / time.Second)
	if ttl == 0 {
		return nil
	}
	var answer, sigs, proof []dns.RR
	for _, rr := range w.rrs {
		c := dns.Copy(rr)
		c.Header().Name, c.Header().Ttl = q.Name, ttl // the owner rewritten to the QNAME (RFC 4035 §5.3.4)
		if c.Header().Rrtype == dns.TypeRRSIG {
			sigs = append(sigs, c)
		} else {
			answer = append(answer, c)
		}
	}
	for _, rr := range ne.rrs {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered != dns.TypeNSEC {
			continue // a negative answer's SOA signatures: not part of this proof
		}
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		proof = append(proof, c)
	}
	r.putAnswer(answer, rankAnswer)
	r.putDNSSEC(q, true, sigs, proof, time.Duration(ttl)*time.Second)
	r.aggr.synthesised.Add(1)
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable, m.AuthenticatedData = true, true, true
	m.Answer = answer
	return m.Copy() // the answer's records are the cache's now
}
