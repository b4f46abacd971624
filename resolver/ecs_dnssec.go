package resolver

import (
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// Where EDNS Client Subnet (ecs.go) meets DNSSEC (validate.go), and the
// resolver's other memories of a question: each is kept per scope, as the
// answers are (RFC 7871 §7.3), so that a tailored answer is validated,
// answered, failed and refreshed exactly as a global one is.
//
//   - The DNSSEC outcome of a question whose answer holds an RRset of an
//     ECS zone (AD, and the RRSIG, NSEC and NSEC3 records a DO client
//     gets: RFC 4035 §3.2.1, RFC 6840 §5.7-5.8) is kept in an ecsSet under
//     dnssecKey+"/ecs", in the slot its answer went to, with the
//     fingerprint of the tailored RRset it was built with (rrsetSum): a
//     hit whose RRset is another (a later answer of that scope, with
//     other data) gets no AD and no signatures rather than those of
//     other data.
//   - A failure (RFC 9520) or bogus verdict (RFC 4035 §4.7, BogusTTL) of
//     a resolution that sent the client's subnet, or of a question in an
//     ECS zone, is kept for that subnet only (at most MaxScopes per
//     question): another subnet's answer may be good. The subnet sent is
//     the scope a failure knows; a bogus reply's own scope is not trusted,
//     since nothing in it is (its OPT record is never signed).
//   - A prefetch (Config.Prefetch) refreshes the slot the hit was
//     answered from, once for every client of that slot, with the subnet
//     of the client that hit it.

// resolved is a resolution's result, shared by the questions collapsed
// onto it (resolveMiss): the reply, and what its ECS client learnt.
type resolved struct {
	m   *dns.Msg
	ecs *ecsClient
}

// slot is the ecsSet slot of the answer c got (what its walk through the
// cache or the resolution used or stored): scoped to c's subnet cut to
// its scope when that is longer than /0.
func (c *ecsClient) slot() slot {
	if c.scope > 0 {
		p, _ := c.subnet.Addr().Prefix(min(int(c.scope), c.subnet.Bits()))
		return slot{scope: p}
	}
	return slot{anyone: c.anyone}
}

// refreshKey is the suffix of the prefetch key of a hit for c: one
// refresh per slot the hit was answered from (none for an answer that
// does not vary by subnet).
func (c *ecsClient) refreshKey() string {
	if c == nil || !c.tailored {
		return ""
	}
	switch sl := c.slot(); {
	case sl.scoped():
		return "/" + sl.scope.String()
	case sl.anyone:
		return "/anyone"
	}
	return "/global"
}

// dnssecEntry is the fresh DNSSEC entry of the question name/qtype as
// answered to c (cachedDNSSECAt when the answer holds no tailored data),
// or nil.
func (r *Recursive) dnssecEntry(name string, qtype uint16, now time.Time, c *ecsClient) *entry {
	if c != nil && c.tailored {
		return r.scopedDNSSEC(name, qtype, now, c)
	}
	return r.cachedDNSSECAt(name, qtype, now)
}

// scopedDNSSEC is the DNSSEC entry kept for name/qtype in the slot of c's
// answer, if fresh and built with the entry c's answer ends with.
func (r *Recursive) scopedDNSSEC(name string, qtype uint16, now time.Time, c *ecsClient) *entry {
	b := r.getKeyBuf()
	held, ok := r.cache.GetAt(lookupKey(b, name, qtype, "/dnssec/ecs"), now)
	r.putKeyBuf(b)
	if !ok || held.ecs == nil {
		return nil
	}
	var e *entry
	switch sl := c.slot(); {
	case sl.anyone:
		e = held.ecs.anyone
	case sl.scoped():
		for _, s := range held.ecs.scoped {
			if s.subnet == sl.scope {
				e = s.e
				break
			}
		}
	default:
		e = held.ecs.global
	}
	if e == nil || !e.fresh(now) || e.sum != c.last {
		return nil
	}
	return e
}

// putDNSSECFor is putDNSSEC for a resolution for client c: an answer
// holding tailored data has its outcome kept in its own slot.
func (r *Recursive) putDNSSECFor(q dns.Question, c *ecsClient, secure bool, an, ns []dns.RR, ttl time.Duration) {
	if c == nil || !c.tailored {
		r.putDNSSEC(q, secure, an, ns, ttl)
		return
	}
	if !secure && len(an)+len(ns) == 0 {
		return
	}
	key := dnssecKey(q.Name, q.Qtype) + "/ecs"
	rcode := dns.RcodeRefused
	if secure {
		rcode = dns.RcodeSuccess
	}
	rrs := append(append(make([]dns.RR, 0, len(an)+len(ns)), an...), ns...)
	cost := int64(96 + 48)
	for _, rr := range rrs {
		cost += int64(dns.Len(rr)) + 48
	}
	now := r.now()
	e := &entry{rrs: rrs, rcode: rcode, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer, sum: c.last, cost: cost}
	r.putInSet(key, e, c.slot(), now)
}

// subnetMark is what the resolver remembers of a question for one
// subnet: until when it failed (RFC 9520 §3) and was found bogus (RFC
// 4035 §4.7), and why.
type subnetMark struct {
	subnet     netip.Prefix // the subnet sent; invalid: none (unknown client, /0)
	failUntil  time.Time
	bogusUntil time.Time
	bogus      dnssec.Result // Status, EDE and Reason only
}

func marksKey(q dns.Question) string { return cacheKey(q.Name, q.Qtype) + "/marks/ecs" }

// markSubnet is the subnet c's marks are kept under.
func markSubnet(c *ecsClient) netip.Prefix {
	if c == nil || c.subnet.Bits() == 0 {
		return netip.Prefix{}
	}
	return c.subnet
}

// scopedMark reports whether a failure or bogus verdict of q for c is
// kept per subnet: when its resolution sent c's subnet, or q is in an ECS
// zone (its answer may be another subnet's).
func (r *Recursive) scopedMark(q dns.Question, c *ecsClient) bool {
	return r.ecs != nil && (c != nil && c.sent || r.ecs.covers(q.Name))
}

// putMarkFor changes, by set, the mark of q for c's subnet, kept with the
// question's other live marks (at most MaxScopes, the newest first; each
// counted in MaxBytes).
func (r *Recursive) putMarkFor(q dns.Question, c *ecsClient, set func(m *subnetMark, now time.Time)) {
	now := r.now()
	key := marksKey(q)
	sub := markSubnet(c)
	cur := subnetMark{subnet: sub}
	var marks []subnetMark
	if held, ok := r.cache.Peek(key); ok && held.ecs != nil {
		for _, m := range held.ecs.marks {
			switch {
			case m.subnet == sub:
				cur = m
			case now.Before(maxTime(m.failUntil, m.bogusUntil)):
				marks = append(marks, m)
			}
		}
	}
	set(&cur, now)
	marks = append([]subnetMark{cur}, marks...)
	if len(marks) > r.ecs.maxScopes {
		marks = marks[:r.ecs.maxScopes]
	}
	cost := int64(len(key) + 96)
	expires := now
	for _, m := range marks {
		cost += int64(96 + len(m.bogus.Reason))
		expires = maxTime(expires, maxTime(m.failUntil, m.bogusUntil))
	}
	r.cache.Set(key, &entry{ecs: &ecsSet{marks: marks}, rank: rankAnswer, stored: now, ttl: expires.Sub(now)}, cost, expires)
}

// markFor returns q's mark for c's subnet, if any.
func (r *Recursive) markFor(q dns.Question, c *ecsClient) (subnetMark, bool) {
	if r.ecs == nil {
		return subnetMark{}, false
	}
	b := r.getKeyBuf()
	held, ok := r.cache.Peek(lookupKey(b, q.Name, q.Qtype, "/marks/ecs"))
	r.putKeyBuf(b)
	if !ok || held.ecs == nil {
		return subnetMark{}, false
	}
	sub := markSubnet(c)
	for _, m := range held.ecs.marks {
		if m.subnet == sub {
			return m, true
		}
	}
	return subnetMark{}, false
}

// putFailureFor is putFailure for a resolution of q for client c: for
// c's subnet only when scopedMark says so.
func (r *Recursive) putFailureFor(q dns.Question, c *ecsClient) {
	if !r.scopedMark(q, c) {
		r.putFailure(cacheKey(q.Name, q.Qtype))
		return
	}
	r.putMarkFor(q, c, func(m *subnetMark, now time.Time) { m.failUntil = now.Add(failureTTL) })
}

// failedRecentlyFor is failedRecently for client c: a failure for every
// client, or for c's subnet.
func (r *Recursive) failedRecentlyFor(q dns.Question, c *ecsClient) bool {
	if r.failedRecently(q) {
		return true
	}
	m, ok := r.markFor(q, c)
	return ok && r.now().Before(m.failUntil)
}

// putBogusFor is putBogus for a resolution of q for client c: for c's
// subnet only when scopedMark says so.
func (r *Recursive) putBogusFor(q dns.Question, c *ecsClient, res dnssec.Result) {
	if !r.scopedMark(q, c) {
		r.putBogus(q, res)
		return
	}
	r.putMarkFor(q, c, func(m *subnetMark, now time.Time) {
		m.bogusUntil = now.Add(bogusTTL)
		m.bogus = dnssec.Result{Status: res.Status, EDE: res.EDE, Reason: res.Reason}
	})
}

// bogusCachedFor is bogusCached for client c: a bogus verdict for every
// client, or for c's subnet.
func (r *Recursive) bogusCachedFor(q dns.Question, c *ecsClient) *dns.Msg {
	if m := r.bogusCached(q); m != nil || r.val == nil {
		return m
	}
	if m, ok := r.markFor(q, c); ok && r.now().Before(m.bogusUntil) {
		return r.bogusReply(q, m.bogus)
	}
	return nil
}

// rrsetSum fingerprints rrs, one RRset: the sum of the FNV-1a hashes of
// its records in wire form with their TTLs left out, so the same data in
// any order, counted down or not, sums the same.
func rrsetSum(rrs []dns.RR) uint64 {
	var sum uint64
	buf := make([]byte, 0, 512)
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		c.Header().Name = dns.CanonicalName(c.Header().Name)
		if cap(buf) < dns.Len(c) {
			buf = make([]byte, 0, dns.Len(c))
		}
		n, err := dns.PackRR(c, buf[:cap(buf)], 0, nil, false)
		if err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write(buf[:n])
		sum += h.Sum64()
	}
	return sum
}
