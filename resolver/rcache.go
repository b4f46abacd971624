package resolver

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// entry is one cached RRset or negative answer.
type entry struct {
	rrs     []dns.RR // positive: the RRset; negative: nil
	rcode   int      // dns.RcodeSuccess or dns.RcodeNameError
	soa     dns.RR   // negative answers: the zone's SOA
	stored  time.Time
	ttl     time.Duration
	rank    int // rankReferral or rankAnswer
	origTTL time.Duration
	// dname is the DNAME a cached CNAME was synthesised from (RFC 6672
	// §3.2), given again beside it when the CNAME is answered from cache.
	dname dns.RR
	// agedRRs holds rrs as answered in the latest second of the entry's
	// age (aged), shared by the answers of that second.
	agedRRs atomic.Pointer[agedSet]
	// joined, on a DNSSEC entry, is the answer section of its latest
	// validated cache hit with DO (dnssechit.go).
	joined atomic.Pointer[joinedSet]
	// gone is set when the entry leaves the cache (Recursive.evicted):
	// packed replies made from it are no longer served (wirehit.go).
	gone atomic.Bool
	// ecs, set on the entry under an ECS key, holds the answers of a
	// name in an ECS zone per scope (ecs.go); cost is an entry's own
	// cost inside such a set.
	ecs  *ecsSet
	cost int64
	// sum, on an answer entry of an ECS zone, fingerprints its records;
	// on a DNSSEC entry kept per scope, those of the answer it was built
	// with (ecs_dnssec.go).
	sum uint64
}

// Trust ranks of cached data (RFC 2181 §5.4.1), lowest first.
const (
	// rankReferral is a referral's data: the parent's NS set and the glue
	// from its additional section. It finds the child's servers and is
	// never an answer to a client's question.
	rankReferral = 1
	// rankAnswer is data from an answer (or a negative answer) to the
	// question asked: what clients are answered from.
	rankAnswer = 2
)

func (e *entry) fresh(now time.Time) bool { return now.Sub(e.stored) < e.ttl }

func cacheKey(name string, qtype uint16) string {
	return name + "/" + strconv.Itoa(int(qtype))
}

// keyBuf is room for a cache key built for one lookup (lookupKey,
// lookupNoCutKey). A buffer on the caller's stack would escape (the
// store's generic Get leaks its key to the escape analysis), so they come
// from Recursive.keyBufs.
type keyBuf [160]byte

// getKeyBuf takes a keyBuf from the pool; putKeyBuf returns it once the
// key built in it is no longer in use.
func (r *Recursive) getKeyBuf() *keyBuf {
	if b, _ := r.keyBufs.Get().(*keyBuf); b != nil {
		return b
	}
	return new(keyBuf)
}

func (r *Recursive) putKeyBuf(b *keyBuf) { r.keyBufs.Put(b) }

// lookupKey returns cacheKey(name, qtype)+suffix for one lookup in the
// cache (Get, Peek), built in b when it fits. Such a string shares b's
// memory: it must not be stored or kept past the lookup, and b must not
// be written or returned to the pool while it is in use. The store keeps
// no key it is only asked for, so the lookups of a miss cost no
// allocation for their keys (16 per resolution before).
func lookupKey(b *keyBuf, name string, qtype uint16, suffix string) string {
	if len(name)+6+len(suffix) > len(b) {
		return cacheKey(name, qtype) + suffix
	}
	k := append(b[:0], name...)
	k = append(k, '/')
	k = strconv.AppendUint(k, uint64(qtype), 10)
	k = append(k, suffix...)
	return unsafe.String(&k[0], len(k))
}

// lookupNoCutKey is noCutKey(name, zone) built as lookupKey builds keys.
func lookupNoCutKey(b *keyBuf, name, zone string) string {
	const sep = "/nocut/"
	if len(name)+len(sep)+len(zone) > len(b) {
		return noCutKey(name, zone)
	}
	k := append(b[:0], name...)
	k = append(k, sep...)
	k = append(k, zone...)
	return unsafe.String(&k[0], len(k))
}

// fromCache builds an answer from cached data, following CNAMEs. With
// stale, expired entries within the stale window are used with TTL 30.
// The records may be shared with the cache: they must not be changed.
func (r *Recursive) fromCache(q dns.Question, stale bool, c *ecsClient) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable = true, true
	if !r.fromCacheInto(m, q, stale, c) {
		return nil
	}
	return m
}

// fromCacheInto is fromCache writing the Rcode, Answer and Ns of m (which
// it leaves as they were when it reports false).
func (r *Recursive) fromCacheInto(m *dns.Msg, q dns.Question, stale bool, c *ecsClient) bool {
	rcode, answer, ns := m.Rcode, m.Answer, m.Ns
	if r.answerFromCache(m, q, stale, c) {
		return true
	}
	m.Rcode, m.Answer, m.Ns = rcode, answer, ns
	return false
}

func (r *Recursive) answerFromCache(m *dns.Msg, q dns.Question, stale bool, c *ecsClient) bool {
	now := r.now()
	name := q.Name
	var seenBuf [8]string
	seen := seenBuf[:0] // names on the chain so far (loops end the walk)
	for i := 0; i < r.cfg.MaxDepth; i++ {
		for _, s := range seen {
			if s == name {
				return false
			}
		}
		seen = append(seen, name)
		e := r.answerGet(name, q.Qtype, now, stale, c)
		if e == nil && q.Qtype != dns.TypeCNAME {
			if cn := r.answerGet(name, dns.TypeCNAME, now, stale, c); cn != nil && len(cn.rrs) > 0 {
				aged := r.aged(cn, now, stale)
				if cn.dname != nil && !slices.ContainsFunc(m.Answer, func(rr dns.RR) bool { return dns.IsDuplicate(rr, cn.dname) }) {
					d := dns.Copy(cn.dname)
					d.Header().Ttl = aged[0].Header().Ttl
					m.Answer = append(m.Answer, d)
				}
				m.Answer = append(m.Answer, aged...)
				name = dns.CanonicalName(cn.rrs[0].(*dns.CNAME).Target)
				continue
			}
		}
		if e == nil {
			e = r.cachedNXDomain(name, now, stale)
		}
		if e == nil {
			return false
		}
		if e.rcode == dns.RcodeNameError || e.rrs == nil {
			m.Rcode = e.rcode
			if e.soa != nil {
				soa := dns.Copy(e.soa)
				soa.Header().Ttl = agedTTL(soa.Header().Ttl, now.Sub(e.stored), stale)
				m.Ns = []dns.RR{soa}
			}
			return true
		}
		if aged := r.aged(e, now, stale); m.Answer == nil {
			m.Answer = aged // len == cap: an append copies, never writes into it
		} else {
			m.Answer = append(m.Answer, aged...)
		}
		if !stale {
			r.maybePrefetch(q, e, now, c)
		}
		return true
	}
	return false
}

// cachedNXDomain finds an NXDOMAIN cached for name or an ancestor: nothing
// exists below a name that does not exist (RFC 8020).
func (r *Recursive) cachedNXDomain(name string, now time.Time, stale bool) *entry {
	e, _ := r.cachedNXDomainOwner(name, now, stale)
	return e
}

// cachedNXDomainOwner is cachedNXDomain, and the name the NXDOMAIN is
// cached for (name or the ancestor it derives from).
func (r *Recursive) cachedNXDomainOwner(name string, now time.Time, stale bool) (*entry, string) {
	for n := name; ; n = dnsproto.Parent(n) {
		if e := r.cacheGet(n, 0, now, stale, rankAnswer); e != nil && e.rcode == dns.RcodeNameError {
			return e, n
		}
		if n == "." {
			return nil, ""
		}
	}
}

// cacheGet returns the entry cached for name/qtype if it is fresh (or,
// with stale, within the stale window) and of rank minRank or better.
func (r *Recursive) cacheGet(name string, qtype uint16, now time.Time, stale bool, minRank int) *entry {
	b := r.getKeyBuf()
	// GetAt: the store's clock is r.now, already read by the caller (a
	// second reading cost ~5% of a hit).
	e, ok := r.cache.GetAt(lookupKey(b, name, qtype, ""), now)
	r.putKeyBuf(b)
	if !ok || e.rank < minRank {
		return nil
	}
	if e.fresh(now) {
		return e
	}
	if stale && r.cfg.StaleWindow > 0 && now.Sub(e.stored) < e.ttl+r.cfg.StaleWindow {
		return e
	}
	return nil
}

func agedTTL(ttl uint32, elapsed time.Duration, stale bool) uint32 {
	if stale {
		return 30 // RFC 8767 §4
	}
	left := int64(ttl) - int64(elapsed/time.Second)
	if left < 0 {
		left = 0
	}
	return uint32(left)
}

// aged returns e's records with their TTLs counted down to now (30 with
// stale). Fresh records are built once per second of age and shared by
// the answers given in that second, which must not change them.
func (r *Recursive) aged(e *entry, now time.Time, stale bool) []dns.RR {
	if stale {
		return r.agedCopy(e, now, true)
	}
	sec := e.ageSec(now)
	if a := e.agedRRs.Load(); a != nil && a.sec == sec {
		return a.rrs
	}
	rrs := r.agedCopy(e, now, false)
	e.agedRRs.Store(&agedSet{sec: sec, rrs: rrs[:len(rrs):len(rrs)]})
	return rrs
}

// agedSet is an entry's records as answered during one second of its age.
type agedSet struct {
	sec int64
	rrs []dns.RR
}

func (r *Recursive) agedCopy(e *entry, now time.Time, stale bool) []dns.RR {
	out := make([]dns.RR, len(e.rrs))
	for i, rr := range e.rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = agedTTL(rr.Header().Ttl, now.Sub(e.stored), stale)
		out[i] = c
	}
	return out
}

func (r *Recursive) clamp(ttl time.Duration) time.Duration {
	if ttl < r.cfg.MinTTL {
		ttl = r.cfg.MinTTL
	}
	if ttl > r.cfg.MaxTTL {
		ttl = r.cfg.MaxTTL
	}
	return ttl
}

// putAnswer caches the RRsets of an answer section, each CNAME with the
// DNAME in the answer it was synthesised from, if any.
func (r *Recursive) putAnswer(answer []dns.RR, rank int) {
	for _, set := range groupRRsets(answer) {
		var dname dns.RR
		if c, ok := set[0].(*dns.CNAME); ok {
			dname = dnameFor(answer, c)
		}
		r.putEntry(set, rank, dname)
	}
}

// dnameFor returns the DNAME in answer that c was synthesised from: one
// owned by a proper ancestor of c's owner whose substitution gives c's
// target (RFC 6672 §2.2).
func dnameFor(answer []dns.RR, c *dns.CNAME) dns.RR {
	name := dns.CanonicalName(c.Hdr.Name)
	for _, rr := range answer {
		d, ok := rr.(*dns.DNAME)
		if !ok {
			continue
		}
		owner := dns.CanonicalName(d.Hdr.Name)
		if owner == name || !dnsproto.IsSubName(owner, name) {
			continue
		}
		if dns.CanonicalName(strings.TrimSuffix(name, owner)+d.Target) == dns.CanonicalName(c.Target) {
			return d
		}
	}
	return nil
}

// putRRset caches rrs (one name and type) unless better data is cached.
func (r *Recursive) putRRset(rrs []dns.RR, rank int) { r.putEntry(rrs, rank, nil) }

func (r *Recursive) putEntry(rrs []dns.RR, rank int, dname dns.RR) {
	if len(rrs) == 0 {
		return
	}
	h := rrs[0].Header()
	name, qtype := dns.CanonicalName(h.Name), h.Rrtype
	minTTL := h.Ttl
	cost := int64(len(name) + 32)
	for _, rr := range rrs {
		if rr.Header().Ttl < minTTL {
			minTTL = rr.Header().Ttl
		}
		cost += int64(dns.Len(rr)) + 48
	}
	now := r.now()
	b := r.getKeyBuf()
	old, ok := r.cache.Peek(lookupKey(b, name, qtype, ""))
	r.putKeyBuf(b)
	if ok && old.fresh(now) && old.rank > rank {
		return
	}
	ttl := r.clamp(time.Duration(minTTL) * time.Second)
	if dname != nil {
		cost += int64(dns.Len(dname)) + 48
	}
	e := &entry{rrs: rrs, rcode: dns.RcodeSuccess, stored: now, ttl: ttl, origTTL: ttl, rank: rank, dname: dname}
	r.cache.Set(cacheKey(name, qtype), e, cost, now.Add(ttl+max(r.cfg.StaleWindow, 0)))
}

// putNegative caches NXDOMAIN (qtype 0) or NODATA for name (RFC 2308).
func (r *Recursive) putNegative(name string, qtype uint16, rcode int, soa dns.RR) {
	ttl := time.Duration(0)
	if soa != nil {
		s := soa.(*dns.SOA)
		ttl = time.Duration(min(s.Hdr.Ttl, s.Minttl)) * time.Second
	}
	ttl = min(r.clamp(ttl), r.cfg.MaxNegativeTTL)
	if ttl <= 0 {
		return
	}
	now := r.now()
	if rcode == dns.RcodeNameError {
		qtype = 0
	}
	e := &entry{rcode: rcode, soa: soa, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer}
	r.cache.Set(cacheKey(name, qtype), e, int64(len(name)+128), now.Add(ttl+max(r.cfg.StaleWindow, 0)))
}

// Flush removes every cached entry for name (all types) and reports how
// many it removed.
func (r *Recursive) Flush(name string) int {
	name = dns.CanonicalName(name)
	prefix := name + "/"
	var keys []string
	r.cache.Range(func(k string, _ *entry) bool {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return true
	})
	n := 0
	for _, k := range keys {
		if r.cache.Delete(k) {
			n++
		}
	}
	return n
}

func (r *Recursive) maybePrefetch(q dns.Question, e *entry, now time.Time, c *ecsClient) {
	if !r.cfg.Prefetch || e.origTTL < 10*time.Second || now.Sub(e.stored) < e.origTTL*9/10 || r.closed.Load() {
		return
	}
	key := cacheKey(q.Name, q.Qtype)
	var own *ecsClient
	if c != nil {
		key += c.refreshKey() // one refresh per slot hit, with this client's subnet (ecs_dnssec.go)
		own = c.fork()
	}
	r.prefetch.Go(key, func(ctx context.Context) {
		r.st.prefetches.Add(1)
		r.resolveFresh(ctx, q, own)
	})
}

// failureTTL is how long a failed resolution is remembered (RFC 9520 §3.2:
// at least 1 s, at most 5 min).
const failureTTL = 5 * time.Second

// putFailure remembers that resolving the question with cache key key
// failed (SERVFAIL), for failureTTL. The entry has a key of its own, so
// the question's stale data stays for serving (RFC 8767).
func (r *Recursive) putFailure(key string) {
	r.putMark(key+"/fail", dns.RcodeServerFailure, failureTTL)
}

// putMark caches a record-less entry under key (a failure or a no-cut
// mark, never an RRset's key) for ttl.
func (r *Recursive) putMark(key string, rcode int, ttl time.Duration) {
	now := r.now()
	e := &entry{rcode: rcode, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer}
	r.cache.Set(key, e, int64(len(key)+96), now.Add(ttl))
}

// failed counts a failed resolution of q and returns the stale answer
// still held for it (RFC 8767), or m.
func (r *Recursive) failed(q dns.Question, m *dns.Msg, c *ecsClient) *dns.Msg {
	r.st.servfails.Add(1)
	if stale := r.fromCache(q, true, c); stale != nil {
		r.st.staleServed.Add(1)
		r.cfg.Hooks.cacheEvent(q, CacheStale)
		return stale
	}
	return m
}

// failedRecently reports whether resolving q failed within failureTTL
// (putFailure).
func (r *Recursive) failedRecently(q dns.Question) bool {
	b := r.getKeyBuf()
	e, ok := r.cache.Peek(lookupKey(b, q.Name, q.Qtype, "/fail"))
	r.putKeyBuf(b)
	return ok && e.fresh(r.now())
}
