package resolver

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

func hasDoH(us []upstream) bool {
	for _, u := range us {
		if u.net == "https" {
			return true
		}
	}
	return false
}

type upstream struct {
	addr string
	net  string // "udp", "tcp-tls" or "https"
	url  string // DoH
}

// fwdCand is an upstream with its key in the RTT table.
type fwdCand struct {
	u   upstream
	key netip.AddrPort
}

// maxValRestarts bounds how many more forwarders a question whose answer
// was bogus is asked (Unbound's val-max-restart, 5).
const maxValRestarts = 5

// forwardQuery sends q with recursion desired to the upstreams, best
// smoothed RTT first.
//
// When the resolver validates, the queries carry DO and the answer is
// validated (checkStep, validate.go) before it is cached, as Unbound's
// validator does above its iterator whether it forwards or recurses.
// The CD bit is set as Unbound sets it (iterator.c, validator.c): clear
// on a client's question the first time (a validating upstream filters
// bogus data itself), set when the upstream answered that with SERVFAIL
// (asked again, the data is validated here and the Extended DNS Error is
// ours), when another upstream is asked after a bogus answer (a
// validation restart), for the validator's own DS and DNSKEY queries,
// and for a client that set CD.
func (r *Recursive) forwardQuery(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	var cands []fwdCand
	for _, u := range r.forward {
		ap, _ := netip.ParseAddrPort(u.addr)
		cands = append(cands, fwdCand{u, ap})
	}
	r.rttMu.Lock()
	sort.SliceStable(cands, func(i, j int) bool { return r.srtt[cands[i].key] < r.srtt[cands[j].key] })
	r.rttMu.Unlock()
	if st.val != nil && len(st.val.avoid) > 0 { // a validation restart: the upstreams that lied go last
		sort.SliceStable(cands, func(i, j int) bool { return !avoided(st, cands[i].key) && avoided(st, cands[j].key) })
	}
	covered := r.val != nil && r.val.Covers(q.Name)
	cd := st.val != nil && (st.val.fetching || st.val.cd)
	restarts := 0
	bogus := false
	for _, c := range cands {
		resp, sent, ok := r.forwardExchange(ctx, st, c, q, cd)
		if ok && resp.Rcode == dns.RcodeServerFailure && covered && !cd {
			resp, sent, ok = r.forwardExchange(ctx, st, c, q, true)
		}
		if !ok || resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			continue
		}
		st.ecsReply = ecsReply{}
		if sent.IsValid() {
			scope, ok := replyScope(sent, resp)
			if !ok {
				continue // RFC 7871 §7.3: dropped
			}
			st.ecsReply = ecsReply{sent: sent, scope: scope}
		}
		out, last, answered, vmsg := forwardedChain(q, resp, r.cfg.MaxDepth)
		if bogus {
			st.val.restart()
			bogus = false
		}
		ok, cache := r.checkStep(ctx, st, q.Name, q.Qtype, vmsg) // DNSSEC (validate.go)
		if !ok {
			// Bogus: another upstream may give the true data (a
			// validation restart, asked with CD).
			if restarts >= maxValRestarts {
				break
			}
			restarts++
			bogus, cd = true, true
			r.blame(st, c.key, vmsg)
			continue
		}
		if cache {
			r.putAnswerFor(out.Answer, st.ecs, st.ecsReply)
		}
		for _, rr := range resp.Ns {
			if s, ok := rr.(*dns.SOA); ok {
				out.Ns = []dns.RR{dnsproto.NegativeSOA(s)}
				if cache && !answered && !scopedNegative(st.ecsReply) {
					r.putNegative(last, q.Qtype, resp.Rcode, out.Ns[0])
				}
			}
		}
		return out
	}
	return servfail(q)
}

// forwardExchange asks upstream c for q with recursion desired, DO when
// the resolver validates and CD when cd is set. ok is false when no
// usable response came.
func (r *Recursive) forwardExchange(ctx context.Context, st *state, c fwdCand, q dns.Question, cd bool) (resp *dns.Msg, sent netip.Prefix, ok bool) {
	if st.queries >= r.cfg.MaxQueries || ctx.Err() != nil {
		return nil, sent, false
	}
	st.queries++
	r.st.upstream.Add(1)
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = cd
	m.SetEdns0(1232, r.val != nil)     // DO with validation (RFC 3225, RFC 4035 §4.9.1)
	sent = r.addECS(m, st.ecs, q.Name) // the client subnet (RFC 7871), if any
	var rtt time.Duration
	var err error
	if r.cfg.Hooks != nil {
		r.cfg.Hooks.upstream(true, "", c.key, c.u.addr, m.Question[0], nil, 0, nil)
	}
	if c.u.net == "https" {
		resp, rtt, err = r.dohExchange(ctx, m, c.u.url)
	} else {
		cl := &dns.Client{Net: c.u.net, Timeout: r.cfg.Timeout, UDPSize: 1232, TLSConfig: r.cfg.TLSConfig}
		resp, rtt, err = cl.ExchangeContext(ctx, m, c.u.addr)
		if err == nil && resp.Truncated && c.u.net == "udp" {
			cl.Net = "tcp"
			resp, rtt, err = cl.ExchangeContext(ctx, m, c.u.addr)
		}
	}
	if err == nil && !matches(resp, m) {
		err = ErrMismatch
	}
	if r.cfg.Hooks != nil {
		r.cfg.Hooks.upstream(false, "", c.key, c.u.addr, m.Question[0], resp, rtt, err)
	}
	if err != nil {
		if err != ErrMismatch {
			st.lastErr = err
		}
		r.st.timeouts.Add(1)
		r.observe(c.key, 0, true)
		return nil, sent, false
	}
	r.observe(c.key, rtt, false)
	return resp, sent, true
}

// forwardedChain picks out of resp, an upstream's answer to q, what
// answers q: out, the reply (the chain, no authority yet); last, the
// name the chain ends at; answered, whether it ends in data of q's type.
// vmsg is what the validator checks: the chain with its RRSIGs, and the
// SOA, NSEC and NSEC3 records of the authority section with theirs.
//
// Only the records on the chain from the question's name (and the DNAMEs
// that synthesised its CNAMEs) answer it, and only they are cached:
// anything else in the answer section is data of lower trust (RFC 2181
// §5.4.1) that an upstream, or someone spoofing it, slipped in. A
// negative answer, possibly at the end of a CNAME chain, is cached for
// the chain's last name (RFC 2308 §5).
func forwardedChain(q dns.Question, resp *dns.Msg, maxDepth int) (out *dns.Msg, last string, answered bool, vmsg *dns.Msg) {
	out = new(dns.Msg)
	out.SetQuestion(q.Name, q.Qtype)
	out.Response, out.RecursionAvailable, out.Rcode = true, true, resp.Rcode
	last = q.Name
	for range 2 * maxDepth {
		progressed := false
		for _, rr := range resp.Answer {
			if dns.CanonicalName(rr.Header().Name) != last || containsRR(out.Answer, rr) {
				continue
			}
			if c, ok := rr.(*dns.CNAME); ok && q.Qtype != dns.TypeCNAME {
				if d := dnameFor(resp.Answer, c); d != nil && !containsRR(out.Answer, d) {
					out.Answer = append(out.Answer, d)
				}
				out.Answer = append(out.Answer, rr)
				last = dns.CanonicalName(c.Target)
				progressed = true
				break
			} else if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				out.Answer = append(out.Answer, rr)
				answered = true
			}
		}
		if !progressed {
			break
		}
	}
	vmsg = new(dns.Msg)
	vmsg.Question = out.Question
	vmsg.Response, vmsg.Rcode = true, resp.Rcode
	vmsg.Answer = append(vmsg.Answer, out.Answer...)
	for _, rr := range resp.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && q.Qtype != dns.TypeRRSIG && covers(out.Answer, sig) {
			vmsg.Answer = append(vmsg.Answer, rr)
		}
	}
	for _, rr := range resp.Ns {
		switch x := rr.(type) {
		case *dns.SOA, *dns.NSEC, *dns.NSEC3:
			vmsg.Ns = append(vmsg.Ns, rr)
		case *dns.RRSIG:
			if t := x.TypeCovered; t == dns.TypeSOA || t == dns.TypeNSEC || t == dns.TypeNSEC3 {
				vmsg.Ns = append(vmsg.Ns, rr)
			}
		}
	}
	return out, last, answered, vmsg
}

// covers reports whether sig is a signature over one of the RRsets of
// rrs.
func covers(rrs []dns.RR, sig *dns.RRSIG) bool {
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == sig.TypeCovered && strings.EqualFold(h.Name, sig.Hdr.Name) {
			return true
		}
	}
	return false
}
