package resolver

import (
	"context"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// iterate resolves q from the closest known zone cut, chasing CNAMEs.
func (r *Recursive) iterate(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	out := new(dns.Msg)
	out.SetQuestion(q.Name, q.Qtype)
	out.Response, out.RecursionAvailable = true, true
	name := q.Name
	seen := map[string]bool{}
	for hops := 0; ; hops++ {
		if hops > r.cfg.MaxDepth || seen[name] {
			return servfail(q) // CNAME loop or chain too long
		}
		seen[name] = true
		// Cached data for the next name in a chain saves the walk.
		if hops > 0 {
			lc := st.ecs.fork() // the link's own ECS view: its DNSSEC outcome is per scope (ecs_dnssec.go)
			if m := r.fromCache(dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}, false, lc); m != nil {
				st.ecs.adopt(lc)
				r.cachedLink(st, name, q.Qtype, lc)
				out.Answer = append(out.Answer, m.Answer...)
				out.Ns, out.Rcode = m.Ns, m.Rcode
				return out
			}
		}
		ans, rcode, soa, next := r.resolveName(ctx, st, name, q.Qtype)
		if rcode == dns.RcodeServerFailure {
			return servfail(q)
		}
		out.Answer = append(out.Answer, ans...)
		if next == "" {
			out.Rcode = rcode
			if soa != nil {
				out.Ns = []dns.RR{soa}
			}
			return out
		}
		name = next
	}
}

// resolveName finds name/qtype at its authority. It returns the answer
// records (possibly a CNAME chain ending outside the zone, with next set to
// the name to continue with), or a negative rcode with the SOA.
func (r *Recursive) resolveName(ctx context.Context, st *state, name string, qtype uint16) (answer []dns.RR, rcode int, soa dns.RR, next string) {
	zone, servers := r.closestCut(ctx, st, cutFor(name, qtype))
	st.timeouts, st.silent = 0, false
	minimise := !r.cfg.DisableQNAMEMinimisation
	probe := "" // deepest name under zone known to exist without a cut
	if minimise {
		probe = r.knownNoCut(zone, name)
	}
	for len(servers) > 0 {
		if st.queries >= r.cfg.MaxQueries || ctx.Err() != nil || st.expired() {
			return nil, dns.RcodeServerFailure, nil, ""
		}
		qname, qt := name, qtype
		if minimise {
			base := zone
			if probe != "" {
				base = probe
			}
			if next := childToward(base, name); next != name {
				qname, qt = next, dns.TypeA
			}
		}
		st.minimised = qname != name
		resp, server := r.ask(ctx, st, zone, servers, qname, qt, false)
		st.minimised = false
		if resp == nil && zone == "." {
			r.noRootAnswered()
		}
		if resp == nil {
			if qname != name && !st.silent {
				minimise = false // RFC 9156 §2.3: fall back to the full name
				continue
			}
			return nil, dns.RcodeServerFailure, nil, ""
		}
		if qname != name {
			switch kind, data := classify(resp, zone, qname, qt); kind {
			case kindReferral:
				var ok bool
				if zone, servers, ok = r.descend(ctx, st, data); !ok {
					return nil, dns.RcodeServerFailure, nil, ""
				}
				probe = r.knownNoCut(zone, name)
			case kindNXDomain:
				// Nothing exists below a name that does not (RFC 8020),
				// but some servers answer NXDOMAIN for an empty
				// non-terminal: the full name is asked before concluding
				// (RFC 9156 §2.3, as Unbound does when not strict), and
				// only its answer is cached. A cached NXDOMAIN still
				// answers for the names below it.
				minimise = false
			case kindLame, kindLoop:
				minimise = false
			default:
				// The name exists (or is an empty non-terminal) inside
				// this zone: look one label deeper, and remember that
				// no cut is there, so the next name below it skips
				// this step.
				probe = qname
				r.putNoCut(qname, zone, resp)
			}
			continue
		}
		switch kind, data := classify(resp, zone, name, qtype); kind {
		case kindAnswer, kindNXDomain, kindNoData:
			ok, cache := r.checkStep(ctx, st, name, qtype, resp) // DNSSEC (validate.go)
			if !ok {
				return nil, dns.RcodeServerFailure, nil, ""
			}
			st.ecs.took(st.ecsReply) // the client is told the scope of what it gets, cached or not (RFC 7871 §7.2.1)
			switch {
			case kind == kindAnswer:
				if cache {
					r.putAnswerFor(data.answer, st.ecs, st.ecsReply)
				}
				return data.answer, dns.RcodeSuccess, nil, data.next
			case kind == kindNXDomain:
				if cache && !scopedNegative(st.ecsReply) {
					r.putNegative(data.negName, qtype, dns.RcodeNameError, data.soa)
				}
				return data.answer, dns.RcodeNameError, data.soa, ""
			}
			if cache && !scopedNegative(st.ecsReply) {
				r.putNegative(data.negName, qtype, dns.RcodeSuccess, data.soa)
			}
			return data.answer, dns.RcodeSuccess, data.soa, ""
		case kindLoop:
			return nil, dns.RcodeServerFailure, nil, ""
		case kindReferral:
			// A cut where none was known (made since, or below what the
			// walk had probed): go down, and minimise from the new zone.
			var ok bool
			if zone, servers, ok = r.descend(ctx, st, data); !ok {
				return nil, dns.RcodeServerFailure, nil, ""
			}
			probe = ""
			if minimise {
				probe = r.knownNoCut(zone, name)
			}
		default: // lame: try the others
			servers = without(servers, server)
		}
	}
	return nil, dns.RcodeServerFailure, nil, ""
}

func without(list []netip.AddrPort, drop netip.AddrPort) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(list))
	for _, a := range list {
		if a != drop {
			out = append(out, a)
		}
	}
	return out
}

// noCutKey is the cache key recording that name, inside zone, is no zone
// cut: the zone's servers answered for it rather than refer. It cannot
// collide with an RRset's key (name/number).
func noCutKey(name, zone string) string { return name + "/nocut/" + zone }

// putNoCut records that a minimised query for name was answered by zone's
// servers without a referral (RFC 9156 §2: what a resolver learns about
// cuts it may reuse), for the TTL of that answer's data. A cut made there
// later is still found: the zone's servers then answer with a referral.
func (r *Recursive) putNoCut(name, zone string, resp *dns.Msg) {
	ttl, found := uint32(math.MaxUint32), false
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range section {
			t := rr.Header().Ttl
			if soa, ok := rr.(*dns.SOA); ok {
				t = min(t, soa.Minttl) // a NODATA's own lifetime (RFC 2308 §5)
			}
			ttl, found = min(ttl, t), true
		}
	}
	if !found {
		return
	}
	d := min(r.clamp(time.Duration(ttl)*time.Second), r.cfg.MaxNegativeTTL)
	if d <= 0 {
		return
	}
	r.putMark(noCutKey(name, zone), dns.RcodeSuccess, d)
}

// knownNoCut returns the deepest ancestor of name strictly below zone
// (name itself excluded) recorded as no cut in zone, or "".
func (r *Recursive) knownNoCut(zone, name string) string {
	now := r.now()
	b := r.getKeyBuf()
	defer r.putKeyBuf(b)
	for n := dnsproto.Parent(name); n != zone && n != "." && dnsproto.IsSubName(zone, n); n = dnsproto.Parent(n) {
		if e, ok := r.cache.Get(lookupNoCutKey(b, n, zone)); ok && e.fresh(now) {
			return n
		}
	}
	return ""
}

// closestCut returns the deepest zone above name whose servers are known.
func (r *Recursive) closestCut(ctx context.Context, st *state, name string) (string, []netip.AddrPort) {
	now := r.now()
	for z := name; z != "."; z = dnsproto.Parent(z) {
		if e := r.cacheGet(z, dns.TypeNS, now, false, rankReferral); e != nil && len(e.rrs) > 0 {
			if servers := r.serversFor(ctx, st, z, e.rrs); len(servers) > 0 {
				return z, servers
			}
		}
	}
	return ".", r.allowed(r.roots)
}

// descend follows a referral one zone down: it counts the step against
// MaxDepth, caches the delegation (NS and glue, at referral trust) and
// returns the child zone and its servers; ok is false past the depth limit.
func (r *Recursive) descend(ctx context.Context, st *state, data classified) (zone string, servers []netip.AddrPort, ok bool) {
	st.depth++
	if st.depth > r.cfg.MaxDepth {
		return "", nil, false
	}
	st.timeouts, st.silent = 0, false // a new zone's servers
	r.putRRset(data.ns, rankReferral)
	for _, set := range groupRRsets(data.glue) {
		r.putRRset(set, rankReferral)
	}
	return data.child, r.serversFor(ctx, st, data.child, data.ns), true
}

// serversFor returns the addresses of a zone's name servers: glue or
// cached addresses first, then glueless resolution of out-of-zone names.
func (r *Recursive) serversFor(ctx context.Context, st *state, zone string, nsSet []dns.RR) []netip.AddrPort {
	now := r.now()
	var out []netip.AddrPort
	var glueless []string
	for _, rr := range nsSet {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		host := dns.CanonicalName(ns.Ns)
		found := false
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e := r.cacheGet(host, t, now, false, rankReferral); e != nil {
				for _, a := range e.rrs {
					if ap, ok := addrOf(a, r.cfg.Port); ok {
						out = append(out, ap)
						found = true
					}
				}
			}
		}
		if !found && !dnsproto.IsSubName(zone, host) {
			glueless = append(glueless, host)
		}
	}
	if len(out) == 0 && st.depth < r.cfg.MaxDepth {
		for _, host := range glueless {
			st.depth++
			outer := st.nsHost
			st.nsHost = host
			m := r.iterate(ctx, st, dns.Question{Name: host, Qtype: dns.TypeA, Qclass: dns.ClassINET})
			st.nsHost = outer
			st.depth--
			for _, a := range m.Answer {
				if ap, ok := addrOf(a, r.cfg.Port); ok {
					out = append(out, ap)
				}
			}
			if len(out) > 0 {
				break
			}
		}
	}
	return r.allowed(out)
}

func addrOf(rr dns.RR, port int) (netip.AddrPort, bool) {
	switch v := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
			return netip.AddrPortFrom(a, uint16(port)), true
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(v.AAAA); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
		}
	}
	return netip.AddrPort{}, false
}

// allowed drops server addresses the resolver may not use.
func (r *Recursive) allowed(list []netip.AddrPort) []netip.AddrPort {
	if r.cfg.AllowLoopback {
		return list
	}
	out := list[:0:0]
	for _, ap := range list {
		if internalAddr(ap.Addr()) {
			r.logRefused(ap)
			continue
		}
		out = append(out, ap)
	}
	return out
}

// internalAddr reports whether a is an address a resolver without
// AllowLoopback never sends queries to.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast()
}

// logRefused logs at debug level, once per server, that a name server on
// an internal address was not asked.
func (r *Recursive) logRefused(ap netip.AddrPort) {
	if ce := r.log.Check(zap.DebugLevel, "name server on a loopback or private address not asked (Config.AllowLoopback is off)"); ce != nil {
		r.refusedMu.Lock()
		if r.refusedLog == nil || len(r.refusedLog) > 10_000 {
			r.refusedLog = map[netip.AddrPort]struct{}{}
		}
		_, seen := r.refusedLog[ap]
		r.refusedLog[ap] = struct{}{}
		r.refusedMu.Unlock()
		if !seen {
			ce.Write(zap.Stringer("server", ap))
		}
	}
}

// maxTimeoutsPerAsk bounds the timeouts from one zone's servers in one
// resolution before it fails: with no network the 13 root servers
// would otherwise cost 13 timeouts (20 s) before the SERVFAIL; three give
// the SERVFAIL in about 4.5 s, and servers that refuse at once (an
// unreachable network) do not count.
const maxTimeoutsPerAsk = 3

// noRootAnswered logs, at most once a minute, that no root server
// answered: the usual sign of a host without Internet access, or of root
// hints that are wrong.
func (r *Recursive) noRootAnswered() {
	now := r.now().UnixNano()
	last := r.rootWarned.Load()
	if now-last < int64(time.Minute) && last != 0 || !r.rootWarned.CompareAndSwap(last, now) {
		return
	}
	r.log.Warn("no root server answered: no Internet access, or wrong root hints?", zap.Int("roots", len(r.roots)), zap.Int("usable", len(r.allowed(r.roots))))
}

// ask sends name/qtype to the zone's servers in order of smoothed RTT
// until one gives a usable answer. It returns nil when none does.
func (r *Recursive) ask(ctx context.Context, st *state, zone string, servers []netip.AddrPort, name string, qtype uint16, rd bool) (*dns.Msg, netip.AddrPort) {
	order := r.bySRTT(servers)
	for _, s := range order {
		if st.timeouts >= maxTimeoutsPerAsk {
			st.silent = true // servers that do not answer will not answer the full name either
			return nil, netip.AddrPort{}
		}
		if st.queries >= r.cfg.MaxQueries || ctx.Err() != nil || st.expired() {
			return nil, netip.AddrPort{}
		}
		resp, err := r.exchange(ctx, st, zone, s, name, qtype, rd)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				st.timeouts++
			}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return resp, s
		}
	}
	return nil, netip.AddrPort{}
}
