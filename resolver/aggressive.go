package resolver

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/internal/store"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// Aggressive use of the DNSSEC-validated cache (RFC 8198), NSEC only.
//
// The NSEC records of each validated secure negative answer (those whose
// signatures verified, dnssec.Result.NSEC) are cached, each as an entry
// of the resolver's cache (counted in Config.MaxBytes, evicted and
// expired like every other record), and their owner names kept in a
// sorted index per zone. A question the cache does not answer is first
// checked against that index: when cached NSEC records prove that the
// name does not exist (RFC 8198 §5.1) or has no such type (§5.2), the
// NXDOMAIN or NODATA is synthesised without asking upstream, with AD,
// its TTL the smallest of the NSEC records' and the SOA's TTL and
// MINIMUM (§5.4). Only Secure data is used (§4), never for a query with
// CD (its answer must not depend on validation); DS questions are not
// synthesised. Like Unbound's aggressive-nsec (on by default since 1.15),
// it is on whenever the resolver validates; Config.DisableAggressiveNSEC
// turns it off. Answers synthesised from a cached validated wildcard
// (§5.3) are in aggressive_wild.go. Not done: NSEC3 (Unbound too does
// NSEC only).

// nsecIndex is the owner names of the cached validated NSEC records of
// each zone, in canonical order (RFC 4034 §6.1). An owner is in the index
// while its entry is in the cache (aggrKey): the cache's OnEvict takes it
// out. Safe for concurrent use.
type nsecIndex struct {
	mu    sync.Mutex
	zones map[string][]string // zone -> sorted owners
	// synthesised counts the answers synthesised (tests, reports).
	synthesised atomic.Int64
}

// aggrMark is in the cache key of every indexed NSEC (aggrKey).
const aggrMark = "/47/aggr/"

// aggrKey is the cache key of the NSEC owned by owner in zone (a name
// may own two NSEC records at a zone cut, one on each side).
func aggrKey(owner, zone string) string { return owner + aggrMark + zone }

// aggrIndexOverhead is what an owner costs in the index beside its name:
// a string header in the zone's slice, with the slice's slack.
const aggrIndexOverhead = 32

func newNSECIndex(cfg Config, validating bool) *nsecIndex {
	if !validating || cfg.DisableAggressiveNSEC {
		return nil
	}
	return &nsecIndex{zones: map[string][]string{}}
}

func (x *nsecIndex) add(zone, owner string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	owners := x.zones[zone]
	i, found := slices.BinarySearchFunc(owners, owner, dnsproto.CanonicalCompare)
	if !found {
		x.zones[zone] = slices.Insert(owners, i, owner)
	}
}

func (x *nsecIndex) remove(zone, owner string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	owners := x.zones[zone]
	i, found := slices.BinarySearchFunc(owners, owner, dnsproto.CanonicalCompare)
	if !found {
		return
	}
	owners = slices.Delete(owners, i, i+1)
	if len(owners) == 0 {
		delete(x.zones, zone)
		return
	}
	x.zones[zone] = owners
}

// closestZone returns the deepest indexed zone at or above name.
func (x *nsecIndex) closestZone(name string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for n := name; ; n = dnsproto.Parent(n) {
		if _, ok := x.zones[n]; ok {
			return n, true
		}
		if n == "." {
			return "", false
		}
	}
}

// predecessors appends to out, for each name of names, the largest
// indexed owner of zone at or before it in canonical order: the NSEC
// that matches or covers it, if one is cached.
func (x *nsecIndex) predecessors(zone string, names []string, out []string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	owners := x.zones[zone]
	for _, n := range names {
		i, found := slices.BinarySearchFunc(owners, n, dnsproto.CanonicalCompare)
		if !found {
			i--
		}
		if i < 0 {
			i = len(owners) - 1 // before the first owner: the last NSEC wraps to the apex
		}
		if i >= 0 && !slices.Contains(out, owners[i]) {
			out = append(out, owners[i])
		}
	}
	return out
}

// onEvict keeps the index in step with the cache: an NSEC entry that
// leaves it (evicted, expired, deleted; not replaced) leaves the index.
func (r *Recursive) onEvict(ev store.Eviction[string, *entry]) {
	if r.aggr == nil || ev.Reason == store.Replaced || ev.Value == nil || len(ev.Value.rrs) < 2 || !strings.Contains(ev.Key, aggrMark) {
		return
	}
	n, ok := ev.Value.rrs[0].(*dns.NSEC)
	sig, ok2 := ev.Value.rrs[1].(*dns.RRSIG)
	if !ok || !ok2 {
		return
	}
	r.aggr.remove(dns.CanonicalName(sig.SignerName), dns.CanonicalName(n.Hdr.Name))
}

// indexNSEC caches the NSEC records that res, the Secure validation of
// resp (a negative answer), verified, with their signatures and the
// zone's SOA, and indexes them (RFC 8198 §4: only validated records); for
// a positive answer, the wildcard expansions res proved (indexWildcards).
// It also keeps the DNSSEC outcome of a secure NXDOMAIN for the names
// below it (nxdomainCut).
func (r *Recursive) indexNSEC(res dnssec.Result, resp *dns.Msg) {
	if res.Status != dnssec.Secure {
		return
	}
	r.putNXDomainDNSSEC(res.Denied, resp) // RFC 8020 (aggressive_cut.go)
	if r.aggr == nil {
		return
	}
	r.indexWildcards(res, resp) // RFC 8198 §5.3 (aggressive_wild.go)
	if len(res.NSEC) == 0 {
		return
	}
	zone := dns.CanonicalName(res.Zone)
	var soa *dns.SOA
	var soaSigs []dns.RR
	for _, rr := range resp.Ns {
		switch x := rr.(type) {
		case *dns.SOA:
			if dns.CanonicalName(x.Hdr.Name) == zone {
				soa = x
			}
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeSOA && dns.CanonicalName(x.Hdr.Name) == zone && dns.CanonicalName(x.SignerName) == zone {
				soaSigs = append(soaSigs, x)
			}
		}
	}
	if soa == nil || len(soaSigs) == 0 {
		return // the SOA verified (the validator requires it) but is not here: nothing to answer with
	}
	now := r.now()
	for _, n := range res.NSEC {
		r.putNSEC(zone, n, resp.Ns, soa, soaSigs, now)
	}
}

// putNSEC caches and indexes n, an NSEC of zone that verified, with its
// RRSIGs from sigs (the section it came in) and, for a negative answer,
// the zone's SOA and its RRSIGs (nil for the proof of a wildcard
// expansion, which has no SOA). It reports whether n was stored.
func (r *Recursive) putNSEC(zone string, n *dns.NSEC, sigs []dns.RR, soa *dns.SOA, soaSigs []dns.RR, now time.Time) bool {
	owner := dns.CanonicalName(n.Hdr.Name)
	rrs := []dns.RR{n}
	ttl := int64(n.Hdr.Ttl)
	for _, rr := range sigs {
		s, ok := rr.(*dns.RRSIG)
		if !ok || s.TypeCovered != dns.TypeNSEC || dns.CanonicalName(s.Hdr.Name) != owner || dns.CanonicalName(s.SignerName) != zone {
			continue
		}
		rrs = append(rrs, s)
		// No longer than the signatures allow (RFC 4035 §5.3.3).
		ttl = min(ttl, int64(s.OrigTtl), int64(s.Expiration)-now.Unix())
	}
	ttl = min(ttl, int64(r.cfg.MaxNegativeTTL/time.Second))
	if soa != nil {
		ttl = min(ttl, int64(soa.Hdr.Ttl), int64(soa.Minttl))
	}
	if len(rrs) < 2 || ttl <= 0 {
		return false
	}
	rrs = append(rrs, soaSigs...)
	key := aggrKey(owner, zone)
	cost := int64(len(key)+len(owner)+aggrIndexOverhead+96) + 48
	if soa != nil {
		cost += int64(dns.Len(soa))
	}
	for _, rr := range rrs {
		cost += int64(dns.Len(rr)) + 48
	}
	d := time.Duration(ttl) * time.Second
	e := &entry{rrs: rrs, rcode: dns.RcodeNameError, stored: now, ttl: d, origTTL: d, rank: rankAnswer}
	if soa != nil {
		e.soa = soa
	}
	r.aggr.add(zone, owner)
	if stored, err := r.cache.Set(key, e, cost, now.Add(d)); !stored || err != nil {
		r.aggr.remove(zone, owner)
		return false
	}
	return true
}

// cdKey marks the context of a query with CD (withCD).
type cdKey struct{}

// withCD marks ctx as a query's with CD set: no answer is synthesised
// from validated NSEC records for it (RFC 8198 §4 speaks of validated
// data; a CD client asked not to rely on validation).
func withCD(ctx context.Context) context.Context { return context.WithValue(ctx, cdKey{}, true) }

// synthesise answers q, which the cache does not, from cached validated
// NSEC records when they prove it NXDOMAIN or NODATA (RFC 8198 §5.1,
// §5.2), or returns nil. The answer is cached like a validated one, so
// that DO clients get the NSEC records and AD (addDNSSECRecords).
func (r *Recursive) synthesise(ctx context.Context, q dns.Question) *dns.Msg {
	if r.aggr == nil || q.Qclass != dns.ClassINET || q.Qtype == dns.TypeDS || ctx.Value(cdKey{}) != nil {
		return nil
	}
	zone, ok := r.aggr.closestZone(q.Name)
	if !ok {
		return nil
	}
	// The NSEC matching or covering the name, and those that match or
	// cover the wildcard at each possible closest encloser.
	var namesBuf [8]string
	names := append(namesBuf[:0], q.Name)
	for a := q.Name; a != zone && dnsproto.IsSubName(zone, a); a = dnsproto.Parent(a) {
		names = append(names, "*."+a)
	}
	names = append(names, "*."+zone)
	owners := r.aggr.predecessors(zone, names, nil)
	now := r.now()
	var nsecs []*dns.NSEC
	var ents []*entry
	for _, o := range owners {
		e, ok := r.cache.GetAt(aggrKey(o, zone), now)
		if !ok || !e.fresh(now) { // RFC 8198 §5.4: not past the NSEC's TTL
			continue
		}
		nsecs = append(nsecs, e.rrs[0].(*dns.NSEC))
		ents = append(ents, e)
	}
	if m := r.synthesiseNegative(q, zone, nsecs, ents, now); m != nil {
		return m
	}
	return r.synthesiseWildcard(q, zone, nsecs, ents, now) // §5.3 (aggressive_wild.go)
}

// synthesiseNegative is synthesise for a name that the cached NSEC
// records nsecs (of entries ents) prove NXDOMAIN or NODATA (RFC 8198
// §5.1, §5.2), or returns nil.
func (r *Recursive) synthesiseNegative(q dns.Question, zone string, nsecs []*dns.NSEC, ents []*entry, now time.Time) *dns.Msg {
	rcode, ok := dnssec.DeniedByNSEC(nsecs, q.Name, q.Qtype, zone)
	if !ok {
		return nil
	}
	var ns []dns.RR
	var soa *dns.SOA
	left := time.Duration(1<<62 - 1)
	for _, e := range ents {
		left = min(left, e.ttl-now.Sub(e.stored))
		if s, ok := e.soa.(*dns.SOA); ok && soa == nil {
			soa = s // the proof of a wildcard expansion has none (putNSEC)
		}
		for _, rr := range r.agedCopy(e, now, false) { // copies: their TTLs are lowered below
			if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeSOA && slices.ContainsFunc(ns, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
				continue
			}
			ns = append(ns, rr)
		}
	}
	if soa == nil {
		return nil
	}
	ttl := uint32(left / time.Second)
	ttl = min(ttl, soa.Hdr.Ttl, soa.Minttl) // RFC 8198 §5.4
	if ttl == 0 {
		return nil
	}
	s := dns.Copy(soa).(*dns.SOA)
	s.Hdr.Ttl = ttl
	for _, rr := range ns {
		if rr.Header().Ttl > ttl {
			rr.Header().Ttl = ttl
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable, m.Rcode, m.AuthenticatedData = true, true, rcode, true
	m.Ns = []dns.RR{s}
	r.putNegative(q.Name, q.Qtype, rcode, s)
	r.putDNSSEC(q, true, nil, ns, time.Duration(ttl)*time.Second)
	r.aggr.synthesised.Add(1)
	return m
}
