package resolver

import (
	"context"
	"net/netip"
	"slices"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// DNSSEC validation of forwarded answers.
//
// A forwarder validates as the iterator does (validate.go): the same
// Validator, key cache and trust anchors, the same checkStep and settle.
// Only the validator's Fetcher differs: its DS and DNSKEY questions go
// to the upstreams (forwardFetch) with DO and CD set, as Unbound's
// validator asks its forwarders, and the chain of trust is built from the
// anchors down out of what they answer. Whatever an upstream says is
// checked against the anchors: an upstream that strips signatures,
// forges data or keys, or speaks no EDNS yields bogus (SERVFAIL with an
// Extended DNS Error), never AD.

// forwardWithin is forwardQuery bounded by st's deadline.
func (r *Recursive) forwardWithin(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	fctx, cancel := context.WithDeadline(ctx, st.deadline)
	defer cancel()
	return r.forwardQuery(fctx, st, q)
}

// forwardFetch asks the upstreams the validator's question name/qtype
// within st's budget of queries, and returns the upstream's answer as
// forwardedChain trims it (the chain with its RRSIGs, the denial in the
// authority section).
func (r *Recursive) forwardFetch(ctx context.Context, st *state, name string, qtype uint16) (*dns.Msg, error) {
	sub := &state{queries: st.queries, depth: st.depth, deadline: st.deadline, val: &valState{fetching: true}}
	if st.val != nil {
		sub.val.avoid = st.val.avoid
	}
	m := r.forwardQuery(ctx, sub, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
	st.queries = sub.queries
	if sub.val.raw == nil || m.Rcode == dns.RcodeServerFailure {
		return nil, ErrMismatch
	}
	return sub.val.raw, nil
}

// restart forgets a bogus answer's verdict before another upstream's
// answer to the same question is validated.
func (v *valState) restart() {
	v.status, v.bogus, v.an, v.ns = dnssec.Secure, dnssec.Result{}, nil, nil
}

// blame notes, after upstream key gave a bogus answer vmsg, that the
// restart asks the other upstreams first, its DS and DNSKEY questions
// too, and that the key cache's bogus verdicts on the names of vmsg (and
// their ancestors) are fetched again: they may be key's lies (Unbound
// blacklists the server and fetches again on a restart).
func (r *Recursive) blame(st *state, key netip.AddrPort, vmsg *dns.Msg) {
	st.val.avoid = append(st.val.avoid, key)
	names := []string{vmsg.Question[0].Name}
	for _, rr := range vmsg.Answer {
		names = append(names, rr.Header().Name)
	}
	r.val.ForgetBogus(names...)
}

// avoided reports whether st's validation restarts avoid upstream key.
func avoided(st *state, key netip.AddrPort) bool {
	return st.val != nil && slices.Contains(st.val.avoid, key)
}
