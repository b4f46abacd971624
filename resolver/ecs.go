package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// ECSConfig makes the resolver send the client's subnet, as an EDNS
// Client Subnet option (RFC 7871), to the authoritative servers of some
// zones, so that a GeoDNS there (resolver/authority's steering) answers
// for where the client is rather than where the resolver is. Answers are
// then cached per scope (RFC 7871 §7.3). The zero value sends no subnet
// anywhere, as RFC 7871 §11.1 advises for privacy.
// A plain value: set it up before use and do not change it while in use.
type ECSConfig struct {
	// Zones are the names (and every name below them) whose queries carry
	// the client's subnet, e.g. "cdn.example."; "." means every name. Nil
	// turns ECS off.
	Zones []string
	// IPv4Prefix and IPv6Prefix are the longest SOURCE PREFIX-LENGTH
	// sent: a client's address (or the subnet it sent in its own option)
	// is cut to them. Zero means 24 and 56, RFC 7871 §11.1's
	// recommendation.
	IPv4Prefix, IPv6Prefix int
	// MaxScopes bounds the tailored answers kept per name and type (the
	// oldest goes first), as Unbound's max-ecs-tree-size does; each counts
	// in MaxBytes. Zero means 100.
	MaxScopes int
}

// ErrECSMismatch reports a reply whose Client Subnet option is not the
// one the query sent (RFC 7871 §7.3: its FAMILY, SOURCE PREFIX-LENGTH or
// ADDRESS differ), or carries two: the whole reply is dropped.
var ErrECSMismatch = errors.New("resolver: reply's client subnet does not match the query's")

// ecsConf is ECSConfig checked, with its defaults.
type ecsConf struct {
	zones     []string
	v4, v6    int
	maxScopes int
}

func newECSConf(c ECSConfig) (*ecsConf, error) {
	if len(c.Zones) == 0 {
		return nil, nil
	}
	e := &ecsConf{v4: c.IPv4Prefix, v6: c.IPv6Prefix, maxScopes: c.MaxScopes}
	if e.v4 == 0 {
		e.v4 = 24
	}
	if e.v6 == 0 {
		e.v6 = 56
	}
	if e.maxScopes == 0 {
		e.maxScopes = 100
	}
	if e.v4 < 0 || e.v4 > 32 || e.v6 < 0 || e.v6 > 128 || e.maxScopes < 0 {
		return nil, fmt.Errorf("%w: ECS prefix lengths or MaxScopes out of range", ErrInvalidConfig)
	}
	for _, z := range c.Zones {
		z = dns.CanonicalName(z)
		if _, ok := dns.IsDomainName(z); !ok {
			return nil, fmt.Errorf("%w: ECS zone %q", ErrInvalidConfig, z)
		}
		e.zones = append(e.zones, z)
	}
	return e, nil
}

// covers reports whether name (canonical) is in one of the ECS zones.
func (e *ecsConf) covers(name string) bool {
	if e == nil {
		return false
	}
	for _, z := range e.zones {
		if dnsproto.IsSubName(z, name) {
			return true
		}
	}
	return false
}

// ecsClient is the client of one question as ECS sees it: the subnet
// sent upstream for names in the ECS zones, and the longest scope of the
// tailored data its answer was built from (what the client is told,
// RFC 7871 §7.4). A nil *ecsClient is a client whose address is unknown
// (Resolve called directly): no subnet is sent for it.
//
// It also records what the answer was built from, so that its DNSSEC
// outcome is kept and found beside it (ecs_dnssec.go): whether an RRset
// of an ECS zone was used or stored (tailored), whether one came from the
// slot of answers got without a subnet (anyone), and the last such entry
// (last). One goroutine writes it at a time; a resolution's own client
// is read by the questions collapsed onto it only once it is done.
type ecsClient struct {
	subnet   netip.Prefix // masked; length 0: the client asked that none be sent (§7.1.2)
	scope    int16        // (int16: the struct stays in a 48-byte allocation, one per ECS query)
	sent     bool         // the subnet (longer than /0) went upstream in this resolution
	tailored bool         // the answer holds an RRset of an ECS zone (an ecsSet's entry)
	anyone   bool         // ... one got without the client's subnet (ecsSet.anyone)
	last     uint64       // the sum of the last ecsSet entry the answer used or stored
}

func (c *ecsClient) widen(bits int) {
	if c != nil {
		c.scope = int16(max(int(c.scope), bits))
	}
}

// fork returns a client of c's subnet that has learnt nothing yet (nil
// for nil): for a resolution of its own, or one link of a chain.
func (c *ecsClient) fork() *ecsClient {
	if c == nil {
		return nil
	}
	return &ecsClient{subnet: c.subnet}
}

// adopt takes into c what o, a fork of it, learnt: its scope, whether
// its subnet went upstream, and the tailored data it used.
func (c *ecsClient) adopt(o *ecsClient) {
	if c == nil || o == nil {
		return
	}
	c.widen(int(o.scope))
	c.sent = c.sent || o.sent
	if o.tailored {
		c.tailored, c.anyone, c.last = true, c.anyone || o.anyone, o.last
	}
}

// used notes that the answer for c holds e, an ecsSet's entry (anyone:
// of the slot got without a subnet).
func (c *ecsClient) used(e *entry, anyone bool) {
	if c != nil {
		c.tailored, c.last = true, e.sum
		c.anyone = c.anyone || anyone
	}
}

// clientSubnet is the ECS client of req, from remote: the subnet in req's
// own option (cut to the configured lengths; /0 when it asks for no
// address to be sent), else remote's address cut so. echo is the option
// the client sent, to answer with a scope (nil if none). With ECS off it
// returns nothing and the client's option is ignored, as a resolver
// without ECS does. rcode is FORMERR for a malformed option (RFC 7871
// §7.1.2 via §6).
func (r *Recursive) clientSubnet(remote net.Addr, req *dns.Msg) (c *ecsClient, echo *dns.EDNS0_SUBNET, rcode int) {
	if r == nil || r.ecs == nil {
		return nil, nil, dns.RcodeSuccess
	}
	opt, subnet, rcode := dnsproto.ClientSubnet(req)
	if rcode != dns.RcodeSuccess {
		return nil, nil, rcode
	}
	if opt != nil {
		if !subnet.IsValid() { // FAMILY 0 carries no address: as /0
			subnet = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		return &ecsClient{subnet: r.ecs.cut(subnet.Addr(), subnet.Bits())}, opt, dns.RcodeSuccess
	}
	var addr netip.Addr
	switch a := remote.(type) {
	case *net.UDPAddr:
		addr = a.AddrPort().Addr()
	case *net.TCPAddr:
		addr = a.AddrPort().Addr()
	}
	if addr = addr.Unmap(); !addr.IsValid() {
		return nil, nil, dns.RcodeSuccess
	}
	return &ecsClient{subnet: r.ecs.cut(addr, addr.BitLen())}, nil, dns.RcodeSuccess
}

// cut returns addr's first bits (at most the configured length for its
// family) as a masked prefix.
func (e *ecsConf) cut(addr netip.Addr, bits int) netip.Prefix {
	limit := e.v4
	if addr.Is6() {
		limit = e.v6
	}
	p, _ := addr.Prefix(min(bits, limit))
	return p
}

// addECS adds the client's subnet to q, a query for name, when name is in
// an ECS zone and the client is known, and returns the subnet sent (the
// invalid Prefix when none was). q must carry an OPT.
func (r *Recursive) addECS(q *dns.Msg, c *ecsClient, name string) netip.Prefix {
	if c == nil || !r.ecs.covers(name) {
		return netip.Prefix{}
	}
	opt := q.IsEdns0()
	if opt == nil {
		return netip.Prefix{}
	}
	opt.Option = append(opt.Option, dnsproto.SubnetOption(c.subnet, 0))
	c.sent = c.sent || c.subnet.Bits() > 0
	return c.subnet
}

// replyScope checks the Client Subnet option of resp, the reply to a
// query that sent subnet, and returns the scope the answer holds for.
// RFC 7871 §7.3: a reply without the option holds for every client
// (scope 0); one whose FAMILY, SOURCE PREFIX-LENGTH or ADDRESS is not
// what was sent is dropped (ok false), as is one with two options. A
// SCOPE PREFIX-LENGTH longer than the SOURCE PREFIX-LENGTH is cut to it
// (§7.3.1: the answer is cached for the subnet sent, the most the
// resolver knows of its client).
func replyScope(subnet netip.Prefix, resp *dns.Msg) (scope int, ok bool) {
	opt := resp.IsEdns0()
	if opt == nil {
		return 0, true
	}
	var got *dns.EDNS0_SUBNET
	for _, o := range opt.Option {
		if e, isECS := o.(*dns.EDNS0_SUBNET); isECS {
			if got != nil {
				return 0, false
			}
			got = e
		}
	}
	if got == nil {
		return 0, true
	}
	family := uint16(1)
	if subnet.Addr().Is6() {
		family = 2
	}
	if got.Family != family || int(got.SourceNetmask) != subnet.Bits() {
		return 0, false
	}
	a, isIP := netip.AddrFromSlice(got.Address)
	if !isIP {
		return 0, false
	}
	if family == 1 {
		a = a.Unmap()
	}
	if a.BitLen() != subnet.Addr().BitLen() {
		return 0, false
	}
	if p, _ := a.Prefix(subnet.Bits()); p != subnet {
		return 0, false
	}
	return min(int(got.SourceScope), subnet.Bits()), true
}

// ecsSet is what the cache holds for one name and type in an ECS zone
// (under ecsKey): the answers tailored to subnets, and the ones that
// hold for more. It is immutable once stored; a put stores a new one.
type ecsSet struct {
	// global holds for every client: a reply of scope 0 (or without
	// the option) to a query that carried a client's subnet.
	global *entry
	// anyone is the answer got without a client subnet (the client asked
	// for none or is unknown, or the query went without one): it is for
	// such clients only, since the server answered it for the
	// resolver's address or for no address.
	anyone *entry
	// scoped are the tailored answers, newest first, at most MaxScopes.
	scoped []scopedEntry
	// marks, in the set under marksKey, are the question's failures
	// and bogus verdicts per subnet (ecs_dnssec.go).
	marks []subnetMark
}

type scopedEntry struct {
	subnet netip.Prefix // the scope: the first bits of the subnet sent
	e      *entry
}

func ecsKey(name string, qtype uint16) string { return cacheKey(name, qtype) + "/ecs" }

// ecsGet is cacheGet for a name in an ECS zone, for client c: the
// tailored answer of the longest scope that holds c's subnet (RFC 7871
// §7.3.1: within its scope, and only for a subnet at least as long), else
// the global one; for a client without a subnet, the global answer else
// the one got without a subnet. Negative answers are cached as for any
// name. It widens c's scope to the answer's.
func (r *Recursive) ecsGet(name string, qtype uint16, now time.Time, stale bool, c *ecsClient) *entry {
	b := r.getKeyBuf()
	held, ok := r.cache.Get(lookupKey(b, name, qtype, "/ecs"))
	r.putKeyBuf(b)
	usable := func(e *entry) bool {
		return e != nil && (e.fresh(now) || stale && r.cfg.StaleWindow > 0 && now.Sub(e.stored) < e.ttl+r.cfg.StaleWindow)
	}
	if ok && held.ecs != nil {
		set := held.ecs
		if c != nil && c.subnet.Bits() > 0 {
			var best *scopedEntry
			for i := range set.scoped {
				s := &set.scoped[i]
				if s.subnet.Bits() <= c.subnet.Bits() && s.subnet.Contains(c.subnet.Addr()) && usable(s.e) &&
					(best == nil || s.subnet.Bits() > best.subnet.Bits()) {
					best = s
				}
			}
			if best != nil {
				c.widen(best.subnet.Bits())
				c.used(best.e, false)
				return best.e
			}
			if usable(set.global) {
				c.used(set.global, false)
				return set.global
			}
		} else {
			if usable(set.global) {
				c.used(set.global, false)
				return set.global
			}
			if usable(set.anyone) {
				c.used(set.anyone, true)
				return set.anyone
			}
		}
	}
	if e := r.cacheGet(name, qtype, now, stale, rankAnswer); e != nil && e.rrs == nil {
		return e // NODATA, cached as for any name
	}
	return nil
}

// answerGet is cacheGet at answer rank for the records that answer
// name/qtype to client c: per scope for a name in an ECS zone.
func (r *Recursive) answerGet(name string, qtype uint16, now time.Time, stale bool, c *ecsClient) *entry {
	if r.ecs != nil && r.ecs.covers(name) {
		return r.ecsGet(name, qtype, now, stale, c)
	}
	return r.cacheGet(name, qtype, now, stale, rankAnswer)
}

// ecsReply is what one query to an authority (or upstream) carried and
// got back: the subnet sent (invalid when none) and the reply's scope.
type ecsReply struct {
	sent  netip.Prefix
	scope int
}

// putAnswerFor caches an answer got for client c (reply says what the
// query carried): the RRsets of names in ECS zones per scope, the rest as
// putAnswer does. It widens c's scope to the reply's.
func (r *Recursive) putAnswerFor(answer []dns.RR, c *ecsClient, reply ecsReply) {
	if r.ecs == nil {
		r.putAnswer(answer, rankAnswer)
		return
	}
	var plain []dns.RR
	for _, set := range groupRRsets(answer) {
		name := dns.CanonicalName(set[0].Header().Name)
		if !r.ecs.covers(name) {
			plain = append(plain, set...)
			continue
		}
		var dname dns.RR
		if cn, ok := set[0].(*dns.CNAME); ok {
			dname = dnameFor(answer, cn)
		}
		r.putScoped(set, dname, c, reply)
	}
	if reply.sent.IsValid() {
		c.widen(min(reply.scope, reply.sent.Bits()))
	}
	if len(plain) > 0 {
		r.putAnswer(plain, rankAnswer)
	}
}

// scopedNegative reports whether a negative reply must not be cached:
// one tailored to a subnet (scope above 0). It is answered, not kept, so
// that it never reaches a client of another subnet.
func scopedNegative(reply ecsReply) bool {
	return reply.sent.IsValid() && min(reply.scope, reply.sent.Bits()) > 0
}

// putScoped caches one RRset of an ECS zone in the ecsSet of its name and
// type, in the slot the reply holds for.
func (r *Recursive) putScoped(rrs []dns.RR, dname dns.RR, c *ecsClient, reply ecsReply) {
	h := rrs[0].Header()
	name, qtype := dns.CanonicalName(h.Name), h.Rrtype
	minTTL := h.Ttl
	cost := int64(len(name) + 32 + 48) // the entry and its slot
	for _, rr := range rrs {
		minTTL = min(minTTL, rr.Header().Ttl)
		cost += int64(dns.Len(rr)) + 48
	}
	if dname != nil {
		cost += int64(dns.Len(dname)) + 48
	}
	now := r.now()
	ttl := r.clamp(time.Duration(minTTL) * time.Second)
	e := &entry{rrs: rrs, rcode: dns.RcodeSuccess, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer, dname: dname, cost: cost, sum: rrsetSum(rrs)}
	var sl slot
	switch {
	case c == nil || !reply.sent.IsValid() || reply.sent.Bits() == 0:
		// Asked without the client's subnet (none known, a /0, a
		// server without EDNS, or a forwarded question whose own name
		// is in no ECS zone): the answer may be for the resolver's
		// address, so it is not given to located clients.
		sl.anyone = true
	case min(reply.scope, reply.sent.Bits()) > 0:
		sl.scope, _ = reply.sent.Addr().Prefix(min(reply.scope, reply.sent.Bits()))
	}
	r.putInSet(ecsKey(name, qtype), e, sl, now)
	c.used(e, sl.anyone)
}

// slot is where in an ecsSet an entry goes: the anyone slot, the scoped
// one of a prefix (scope valid, longer than /0), else the global one.
type slot struct {
	anyone bool
	scope  netip.Prefix
}

func (s slot) scoped() bool { return s.scope.IsValid() && s.scope.Bits() > 0 }

// putInSet stores e in slot sl of the ecsSet under key, beside the set's
// other entries still within their TTL and stale window; at most
// MaxScopes scoped ones, the newest first. The set costs the sum of its
// entries' costs. (An ecsSet is immutable: a new one replaces it.)
func (r *Recursive) putInSet(key string, e *entry, sl slot, now time.Time) {
	keep := func(x *entry) bool {
		return x != nil && now.Sub(x.stored) < x.ttl+max(r.cfg.StaleWindow, 0)
	}
	next := &ecsSet{}
	if held, ok := r.cache.Peek(key); ok && held.ecs != nil {
		old := held.ecs
		if keep(old.global) {
			next.global = old.global
		}
		if keep(old.anyone) {
			next.anyone = old.anyone
		}
		for _, s := range old.scoped {
			if keep(s.e) {
				next.scoped = append(next.scoped, s)
			}
		}
	}
	switch {
	case sl.anyone:
		next.anyone = e
	case sl.scoped():
		next.scoped = slices.DeleteFunc(next.scoped, func(s scopedEntry) bool { return s.subnet == sl.scope })
		next.scoped = append([]scopedEntry{{subnet: sl.scope, e: e}}, next.scoped...)
		if len(next.scoped) > r.ecs.maxScopes {
			next.scoped = next.scoped[:r.ecs.maxScopes]
		}
	default:
		next.global = e
	}
	total := int64(len(key) + 96)
	expires := now
	for _, x := range append([]*entry{next.global, next.anyone}, scopedEntries(next.scoped)...) {
		if x != nil {
			total += x.cost
			expires = maxTime(expires, x.stored.Add(x.ttl+max(r.cfg.StaleWindow, 0)))
		}
	}
	r.cache.Set(key, &entry{ecs: next, rank: rankAnswer, stored: now, ttl: expires.Sub(now)}, total, expires)
}

func scopedEntries(s []scopedEntry) []*entry {
	out := make([]*entry, len(s))
	for i := range s {
		out[i] = s[i].e
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// took widens c's scope to that of reply, an answer the resolution uses
// whether it is cached or not (a negative one of a scope, CD data).
func (c *ecsClient) took(reply ecsReply) {
	if c != nil && reply.sent.IsValid() {
		c.widen(min(reply.scope, reply.sent.Bits()))
	}
}
