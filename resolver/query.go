package resolver

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// exchange sends one query (UDP, TCP on truncation, no EDNS after FORMERR)
// and validates that the response answers it.
func (r *Recursive) exchange(ctx context.Context, st *state, zone string, server netip.AddrPort, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	edns := !r.knownNoEDNS(server)
	netw := "udp"
	st.ecsReply = ecsReply{}
	for attempt := 0; attempt < 3; attempt++ {
		st.queries++
		r.st.upstream.Add(1)
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.RecursionDesired = rd
		var sent netip.Prefix // the client subnet sent (RFC 7871), if any
		if edns {
			q.SetEdns0(1232, r.val != nil) // DO with validation (RFC 3225)
			if !st.minimised {
				sent = r.addECS(q, st.ecs, name)
			}
		}
		if r.cfg.Hooks != nil {
			r.cfg.Hooks.upstream(true, zone, server, "", q.Question[0], nil, 0, nil)
		}
		start := time.Now()
		var resp *dns.Msg
		var err error
		if netw == "udp" {
			deadline := start.Add(r.cfg.Timeout)
			if st.deadline.Before(deadline) {
				deadline = st.deadline
			}
			resp, err = r.exchangeUDP(ctx, q, server, deadline)
		} else {
			c := &dns.Client{Net: netw, Timeout: r.cfg.Timeout}
			tctx, cancel := context.WithDeadline(ctx, st.deadline)
			resp, _, err = c.ExchangeContext(tctx, q, server.String())
			cancel()
		}
		rtt := time.Since(start)
		if r.cfg.Trace != nil {
			r.cfg.Trace(Step{Zone: zone, Server: server, Question: q.Question[0], Response: resp, RTT: rtt, Err: err, Minimised: st.minimised, NameServer: st.nsHost})
		}
		if r.cfg.Hooks != nil {
			r.cfg.Hooks.upstream(false, zone, server, "", q.Question[0], resp, rtt, err)
		}
		if err != nil {
			st.lastErr = err
			r.st.timeouts.Add(1)
			r.observe(server, 0, true)
			return nil, err
		}
		r.observe(server, rtt, false)
		if edns && ednsIntolerant(resp, q) {
			// RFC 6891 §7: a server that does not speak EDNS answers
			// FORMERR without an OPT record (often without the
			// question); ask again without EDNS, and remember it.
			edns = false
			r.noEDNS(server)
			continue
		}
		if !matches(resp, q) {
			return nil, ErrMismatch
		}
		if resp.Truncated && netw == "udp" {
			netw = "tcp"
			continue
		}
		if sent.IsValid() {
			scope, ok := replyScope(sent, resp)
			if !ok {
				return nil, ErrECSMismatch
			}
			st.ecsReply = ecsReply{sent: sent, scope: scope}
		}
		return resp, nil
	}
	return nil, ErrMismatch
}

// ednsIntolerant reports whether resp, the reply to q (sent with EDNS), is
// a FORMERR without an OPT record: the sign of a server that does not
// implement EDNS (RFC 6891 §7). The question must be q's if the reply
// carries one; a FORMERR with an OPT record is the server's real verdict.
func ednsIntolerant(resp, q *dns.Msg) bool {
	if resp.Rcode != dns.RcodeFormatError || !resp.Response || resp.Id != q.Id || resp.IsEdns0() != nil {
		return false
	}
	return len(resp.Question) == 0 || matches(resp, q)
}

// matches checks that resp answers q (RFC 5452 §9.1: ID, question).
func matches(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return strings.EqualFold(a.Name, b.Name) && a.Qtype == b.Qtype && a.Qclass == b.Qclass
}
