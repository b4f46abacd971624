package resolver

import (
	"context"
	"net/netip"
	"sort"
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

// forwardQuery sends q with recursion desired to the upstreams, best
// smoothed RTT first.
func (r *Recursive) forwardQuery(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	type cand struct {
		u   upstream
		key netip.AddrPort
	}
	var cands []cand
	for _, u := range r.forward {
		ap, _ := netip.ParseAddrPort(u.addr)
		cands = append(cands, cand{u, ap})
	}
	r.rttMu.Lock()
	sort.SliceStable(cands, func(i, j int) bool { return r.srtt[cands[i].key] < r.srtt[cands[j].key] })
	r.rttMu.Unlock()
	for _, c := range cands {
		if st.queries >= r.cfg.MaxQueries {
			break
		}
		st.queries++
		r.st.upstream.Add(1)
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.RecursionDesired = true
		m.SetEdns0(1232, false)
		var resp *dns.Msg
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
			continue
		}
		r.observe(c.key, rtt, false)
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			continue
		}
		out := new(dns.Msg)
		out.SetQuestion(q.Name, q.Qtype)
		out.Response, out.RecursionAvailable, out.Rcode = true, true, resp.Rcode
		// Only the records on the chain from the question's name (and
		// the DNAMEs that synthesised its CNAMEs) answer it, and only
		// they are cached: anything else in the answer section is data
		// of lower trust (RFC 2181 §5.4.1) that an upstream, or someone
		// spoofing it, slipped in.
		// A negative answer, possibly at the end of a CNAME chain, is
		// cached for the chain's last name (RFC 2308 §5).
		last := q.Name
		answered := false
		for range 2 * r.cfg.MaxDepth {
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
		r.putAnswer(out.Answer, rankAnswer)
		for _, rr := range resp.Ns {
			if s, ok := rr.(*dns.SOA); ok {
				out.Ns = []dns.RR{dnsproto.NegativeSOA(s)}
				if !answered {
					r.putNegative(last, q.Qtype, resp.Rcode, out.Ns[0])
				}
			}
		}
		return out
	}
	return servfail(q)
}
