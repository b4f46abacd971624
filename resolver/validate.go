package resolver

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// DNSSEC validation (RFC 4033-4035, 5155) in the iterative resolver.
//
// With a validator, every upstream query carries DO; each authoritative
// response to a step of a client's resolution (an answer, NXDOMAIN or
// NODATA) is validated before it is cached, the validator fetching the
// DS and DNSKEY RRsets of the chain through the resolver itself (DS from
// the parent side of the cut, RFC 4035 §4.2). A bogus step fails the
// resolution: SERVFAIL with an Extended DNS Error (RFC 8914) saying why,
// remembered for the validator's BogusTTL (60 s) so that the question is
// not resolved again at once. A secure resolution is marked so that its
// cache hits carry AD to clients that ask with DO or AD (RFC 6840 §5.8).
// A query with CD gets the data even when it is bogus (RFC 4035 §3.2.2),
// resolved apart and not cached.

// valState is one resolution's validation: the weakest status of its
// steps, and the step's raw response for a validator fetch.
type valState struct {
	status   dnssec.Status // weakest so far (starts Secure)
	bogus    dnssec.Result // the first bogus step's result
	fetching bool          // a DS/DNSKEY fetch for the validator: keep raw, do not validate
	cd       bool          // checking disabled: do not validate, do not cache
	raw      *dns.Msg
	an, ns   []dns.RR         // the DNSSEC records of the client's steps, by section
	avoid    []netip.AddrPort // forwarders that gave a bogus answer (forwardval.go)
}

// validating reports whether the resolver validates.
func (r *Recursive) validating() bool { return r.val != nil }

// newValidator sets up validation from cfg: on with the IANA roots (or
// Config.TrustAnchors), whether the resolver recurses or forwards
// (forwardval.go); off with private roots and no anchor, or with
// DisableDNSSEC.
func (r *Recursive) newValidator(cfg Config) error {
	if !validates(cfg) {
		return nil
	}
	// The key cache's bytes come out of MaxBytes (a sixteenth of it, the
	// rest the answer cache's; see New), so the limit counts it too.
	v, err := dnssec.New(dnssec.Config{Anchors: cfg.TrustAnchors, Now: r.now, MaxBytes: keyCacheBytes(r.cfg.MaxBytes), InsecureDomains: cfg.InsecureDomains})
	if err != nil {
		return err
	}
	r.val = v
	r.bogusSeen = map[string]bogusMark{}
	return nil
}

// validates reports whether a Recursive configured by cfg validates.
func validates(cfg Config) bool {
	return !cfg.DisableDNSSEC && (cfg.Roots == nil || cfg.TrustAnchors != nil)
}

// keyCacheBytes is the validator's key cache share of MaxBytes.
func keyCacheBytes(maxBytes int64) int64 { return max(maxBytes/16, 1) }

// cutFor returns the name whose closest zone cut resolveName starts from:
// a DS query goes to the parent's servers (RFC 4035 §4.2).
func cutFor(name string, qtype uint16) string {
	if qtype == dns.TypeDS && name != "." {
		return dnsproto.Parent(name)
	}
	return name
}

// checkStep validates resp, the authoritative response for name/qtype in
// the resolution st, and reports whether the resolution may use it (and
// cache it: cacheable is false with CD).
func (r *Recursive) checkStep(ctx context.Context, st *state, name string, qtype uint16, resp *dns.Msg) (ok, cacheable bool) {
	if r.val == nil {
		return true, true
	}
	v := st.val
	if v == nil {
		v = &valState{status: dnssec.Secure}
		st.val = v
	}
	if v.fetching {
		// The validator checks what it fetched itself; it is not cached
		// for clients, who would get it unvalidated.
		v.raw = resp
		return true, false
	}
	if v.cd {
		if st.nsHost == "" { // for a DO client (checkingDisabled)
			v.an, v.ns = dnssecRecords(resp, v.an, v.ns)
		}
		return true, false
	}
	res := r.val.Validate(ctx, r.fetcher(ctx, st), dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}, resp)
	if st.nsHost != "" {
		// A name server's address: validated before it is cached (a
		// client may ask for it later), but not part of the client's
		// answer's status.
		return res.Status != dnssec.Bogus, res.Status != dnssec.Bogus
	}
	v.status = dnssec.Weakest(v.status, res.Status)
	if res.Status == dnssec.Bogus {
		v.bogus = res
		return false, false
	}
	capTTLs(resp.Answer, r.now())
	r.putLinkDNSSEC(st, res, resp) // each RRset's own AD and RRSIGs (dnsseclink.go)
	r.indexNSEC(res, resp)         // RFC 8198 (aggressive.go)
	an := v.an
	v.an, v.ns = dnssecRecords(resp, v.an, v.ns)
	if qtype == dns.TypeANY {
		v.an = an // ANY's answer holds its RRSIGs among its data already
	}
	return true, true
}

// capTTLs lowers the TTL of each signed RRset of rrs (and of its RRSIGs)
// to its signature's original TTL and to the time left before the
// signature expires (RFC 4035 §5.3.3), so that no cached record outlives
// the signature that vouched for it. The records are the response's own,
// shared with what is cached from it.
func capTTLs(rrs []dns.RR, now time.Time) {
	for _, rr := range rrs {
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		left := int64(sig.Expiration) - now.Unix()
		if left < 0 {
			left = 0
		}
		limit := uint32(min(int64(sig.OrigTtl), left))
		for _, o := range rrs {
			h := o.Header()
			if (h.Rrtype == sig.TypeCovered || o == rr) && strings.EqualFold(h.Name, sig.Hdr.Name) && h.Ttl > limit {
				h.Ttl = limit
			}
		}
	}
}

// dnssecRecords appends to an and ns the records of resp a client that
// sets DO gets (RFC 4035 §3.2.1): the RRSIGs of the answer section, and
// the NSEC and NSEC3 records of the authority section with their RRSIGs.
func dnssecRecords(resp *dns.Msg, an, ns []dns.RR) ([]dns.RR, []dns.RR) {
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			an = append(an, rr)
		}
	}
	for _, rr := range resp.Ns {
		switch x := rr.(type) {
		case *dns.NSEC, *dns.NSEC3:
			ns = append(ns, rr)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeNSEC || x.TypeCovered == dns.TypeNSEC3 || x.TypeCovered == dns.TypeSOA {
				ns = append(ns, rr)
			}
		}
	}
	return an, ns
}

// The DNSSEC outcome of a question's cached answer is one cache entry,
// under dnssecKey: rcode RcodeSuccess when it was validated secure (AD),
// RcodeRefused when not, and rrs the RRSIG, NSEC and NSEC3 records DO
// clients get, those of the answer section first (answerRecords of them).
// One lookup per hit gives both.
func dnssecKey(name string, qtype uint16) string { return cacheKey(name, qtype) + "/dnssec" }

// putDNSSEC keeps the DNSSEC outcome of q's answer for ttl.
func (r *Recursive) putDNSSEC(q dns.Question, secure bool, an, ns []dns.RR, ttl time.Duration) {
	if !secure && len(an)+len(ns) == 0 {
		return
	}
	key := dnssecKey(q.Name, q.Qtype)
	rcode := dns.RcodeRefused
	if secure {
		rcode = dns.RcodeSuccess
	}
	rrs := append(append(make([]dns.RR, 0, len(an)+len(ns)), an...), ns...)
	cost := int64(len(key) + 96)
	for _, rr := range rrs {
		cost += int64(dns.Len(rr)) + 48
	}
	now := r.now()
	e := &entry{rrs: rrs, rcode: rcode, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer}
	r.cache.Set(key, e, cost, now.Add(ttl))
}

// cachedDNSSECAt returns the fresh DNSSEC entry of name/qtype at now, or
// nil (dnssecEntry, ecs_dnssec.go, for an answer that may be tailored).
func (r *Recursive) cachedDNSSECAt(name string, qtype uint16, now time.Time) *entry {
	b := r.getKeyBuf()
	e, ok := r.cache.GetAt(lookupKey(b, name, qtype, "/dnssec"), now)
	r.putKeyBuf(b)
	if !ok || !e.fresh(now) {
		return nil
	}
	return e
}

// authorityRecord reports whether rr, one of the DNSSEC records of an
// answer to a question of type qtype, goes in the authority section:
// NSEC, NSEC3 and their RRSIGs, the SOA's RRSIG unless SOA was asked
// (a CNAME chain ending in NXDOMAIN or NODATA, RFC 4035 §3.1.3), and
// everything of a negative answer (negative).
func authorityRecord(rr dns.RR, negative bool, qtype uint16) bool {
	if negative {
		return true
	}
	switch x := rr.(type) {
	case *dns.NSEC, *dns.NSEC3:
		return true
	case *dns.RRSIG:
		return x.TypeCovered == dns.TypeNSEC || x.TypeCovered == dns.TypeNSEC3 || x.TypeCovered == dns.TypeSOA && qtype != dns.TypeSOA
	}
	return false
}

// addDNSSECRecordsTo is addDNSSECRecordsFor without an ECS client.
func (r *Recursive) addDNSSECRecordsTo(m, req *dns.Msg, hit bool) {
	r.addDNSSECRecordsFor(m, req, hit, nil)
}

// addDNSSECRecordsFor adds to m, the reply to req, the RRSIG, NSEC and
// NSEC3 records kept for its question when req sets DO (RFC 4035
// §3.2.1), their TTLs counted down, and sets AD when the answer was
// validated secure and req sets DO or AD (RFC 6840 §5.7, §5.8).
// hit says m's answer section is a cache hit's, shared aged records
// (joinAnswer); c is the ECS client the answer was for (nil: none; its
// DNSSEC outcome is kept per scope, ecs_dnssec.go).
func (r *Recursive) addDNSSECRecordsFor(m, req *dns.Msg, hit bool, c *ecsClient) {
	if r.val == nil || len(req.Question) != 1 || m.Rcode == dns.RcodeServerFailure {
		return
	}
	opt := req.IsEdns0()
	do := opt != nil && opt.Do()
	if !do && !req.AuthenticatedData {
		return
	}
	q := req.Question[0]
	now := r.now()
	e := r.dnssecEntry(lower(q.Name), q.Qtype, now, c)
	if e == nil && m.Rcode == dns.RcodeNameError && len(m.Answer) == 0 {
		e = r.nxdomainCut(lower(q.Name), now) // RFC 8020 (aggressive_cut.go)
	}
	if e == nil {
		m.AuthenticatedData = false
		return
	}
	m.AuthenticatedData = e.rcode == dns.RcodeSuccess
	if !do || len(e.rrs) == 0 {
		return
	}
	aged := r.aged(e, now, false)
	negative := len(m.Answer) == 0
	k := 0
	for k < len(aged) && !authorityRecord(aged[k], negative, q.Qtype) {
		k++
	}
	if k > 0 && hit {
		m.Answer = e.joinAnswer(m.Answer, aged[:k], e.ageSec(now))
	} else if k > 0 {
		m.Answer = append(m.Answer[:len(m.Answer):len(m.Answer)], aged[:k]...)
	}
	if k < len(aged) {
		m.Ns = append(m.Ns[:len(m.Ns):len(m.Ns)], aged[k:]...)
	}
}

// cachedLink notes that a link of st's CNAME chain came from the cache
// (for lc, the link's own ECS client): it counts as secure only if it was
// validated so.
func (r *Recursive) cachedLink(st *state, name string, qtype uint16, lc *ecsClient) {
	if r.val == nil || st.nsHost != "" {
		return
	}
	if st.val == nil {
		st.val = &valState{status: dnssec.Secure}
	}
	if e := r.dnssecEntry(name, qtype, r.now(), lc); e != nil {
		for _, rr := range e.rrs { // the link's DNSSEC records go with the answer
			if authorityRecord(rr, false, qtype) {
				st.val.ns = append(st.val.ns, rr)
			} else {
				st.val.an = append(st.val.an, rr)
			}
		}
		if e.rcode == dns.RcodeSuccess {
			return
		}
	}
	st.val.status = dnssec.Weakest(st.val.status, dnssec.Insecure)
}

// fetcher resolves the validator's DS and DNSKEY questions through the
// iterator (or the forwarders, forwardval.go), within st's budget of
// queries and time.
func (r *Recursive) fetcher(ctx context.Context, st *state) dnssec.FetchFunc {
	return func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if len(r.forward) > 0 {
			return r.forwardFetch(ctx, st, name, qtype)
		}
		sub := &state{queries: st.queries, depth: st.depth, deadline: st.deadline, val: &valState{fetching: true}}
		_, rcode, _, _ := r.resolveName(ctx, sub, name, qtype)
		st.queries = sub.queries
		if sub.val.raw == nil || rcode == dns.RcodeServerFailure {
			return nil, ErrMismatch
		}
		return sub.val.raw, nil
	}
}

// settle applies the validation outcome of st to m, the result of a
// fresh resolution of q: AD when every step was secure; SERVFAIL with
// the Extended DNS Error when one was bogus (remembered for BogusTTL).
func (r *Recursive) settle(q dns.Question, st *state, m *dns.Msg) *dns.Msg {
	if r.val == nil || st.val == nil || st.val.cd {
		return m
	}
	if st.val.status == dnssec.Bogus {
		r.putBogusFor(q, st.ecs, st.val.bogus) // per subnet when scoped (ecs_dnssec.go)
		return r.bogusReply(q, st.val.bogus)
	}
	if m.Rcode == dns.RcodeServerFailure {
		return m
	}
	secure := st.val.status == dnssec.Secure && r.val.Covers(q.Name)
	m.AuthenticatedData = secure
	if ttl := answerTTL(m); ttl > 0 {
		r.putDNSSECFor(q, st.ecs, secure, st.val.an, st.val.ns, ttl) // per scope when tailored (ecs_dnssec.go)
	}
	return m
}

// answerTTL is how long m's data stays cached: its smallest TTL (the
// negative TTL for NXDOMAIN and NODATA).
func answerTTL(m *dns.Msg) time.Duration {
	ttl := uint32(1<<31 - 1)
	found := false
	for _, rr := range m.Answer {
		ttl, found = min(ttl, rr.Header().Ttl), true
	}
	if !found {
		for _, rr := range m.Ns {
			if s, ok := rr.(*dns.SOA); ok {
				ttl, found = min(ttl, s.Hdr.Ttl, s.Minttl), true
			}
		}
	}
	if !found {
		return 0
	}
	return time.Duration(ttl) * time.Second
}

// bogusMark is a question's bogus verdict, kept for BogusTTL.
type bogusMark struct {
	res   dnssec.Result
	until time.Time
}

const maxBogusMarks = 10000

func (r *Recursive) putBogus(q dns.Question, res dnssec.Result) {
	r.bogusMu.Lock()
	defer r.bogusMu.Unlock()
	if len(r.bogusSeen) >= maxBogusMarks {
		clear(r.bogusSeen)
	}
	r.bogusSeen[cacheKey(q.Name, q.Qtype)] = bogusMark{res: res, until: r.now().Add(bogusTTL)}
}

// bogusTTL is how long a bogus verdict is kept (Unbound's val-bogus-ttl).
const bogusTTL = 60 * time.Second

// bogusCached returns the SERVFAIL for q if it was found bogus within
// bogusTTL, or nil.
func (r *Recursive) bogusCached(q dns.Question) *dns.Msg {
	if r.val == nil {
		return nil
	}
	r.bogusMu.Lock()
	m, ok := r.bogusSeen[cacheKey(q.Name, q.Qtype)]
	r.bogusMu.Unlock()
	if !ok || !r.now().Before(m.until) {
		return nil
	}
	return r.bogusReply(q, m.res)
}

// bogusReply is the SERVFAIL for a bogus answer, with its Extended DNS
// Error (RFC 8914) in an OPT record that Server copies to the client.
func (r *Recursive) bogusReply(q dns.Question, res dnssec.Result) *dns.Msg {
	m := servfail(q)
	m.SetEdns0(dnsproto.UDPSize, true)
	if opt := res.EDNSOption(); opt != nil {
		m.IsEdns0().Option = append(m.IsEdns0().Option, opt)
	}
	return m
}

// dnssecReply finishes a client's reply m to req from res (the
// resolution's result): AD when res is secure and the client asked with
// DO or AD (RFC 6840 §5.8), and the Extended DNS Error of res when the
// client sent EDNS.
func dnssecReply(m, req, res *dns.Msg) {
	if res == nil {
		return
	}
	m.AuthenticatedData = m.AuthenticatedData || res.AuthenticatedData && wantsAD(req)
	if o := res.IsEdns0(); o != nil {
		if mo := m.IsEdns0(); mo != nil {
			for _, e := range o.Option {
				if ede, ok := e.(*dns.EDNS0_EDE); ok {
					mo.Option = append(mo.Option, ede)
				}
			}
		}
	}
}

// wantsAD reports whether req asks for the AD bit: DO or AD set.
func wantsAD(req *dns.Msg) bool {
	if req.AuthenticatedData {
		return true
	}
	opt := req.IsEdns0()
	return opt != nil && opt.Do()
}

// checkingDisabled answers req, a query with CD (RFC 4035 §3.2.2), whose
// validated resolution res was bogus: the data, resolved without
// validation and not cached, with its RRSIG, NSEC and NSEC3 records when
// req sets DO (RFC 4035 §3.2.1: the client validates it itself), asked
// with c's subnet.
func (r *Recursive) checkingDisabled(ctx context.Context, req *dns.Msg, res *dns.Msg, c *ecsClient) *dns.Msg {
	if r.val == nil || res == nil || res.Rcode != dns.RcodeServerFailure || res.IsEdns0() == nil {
		return res
	}
	q := req.Question[0]
	q.Name = lower(q.Name)
	st := &state{deadline: time.Now().Add(r.cfg.ResolveTimeout), val: &valState{cd: true}, ecs: c.fork()} // c's subnet (RFC 7871)
	if d, ok := ctx.Deadline(); ok && d.Before(st.deadline) {
		st.deadline = d
	}
	var m *dns.Msg
	if len(r.forward) > 0 {
		m = r.forwardWithin(ctx, st, q)
	} else {
		m = r.iterate(ctx, st, q)
	}
	if opt := req.IsEdns0(); opt != nil && opt.Do() && m.Rcode != dns.RcodeServerFailure {
		m.Answer = append(m.Answer, st.val.an...)
		m.Ns = append(m.Ns, st.val.ns...)
	}
	if st.ecs != nil {
		c.widen(int(st.ecs.scope)) // the scope of the data given (RFC 7871 §7.2.1)
	}
	return m
}
