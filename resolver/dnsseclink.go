package resolver

import (
	"time"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// putLinkDNSSEC keeps the DNSSEC outcome of every RRset of resp, a step
// of a resolution validated as res (a link of a CNAME chain, or a name
// server's address), under the RRset's own name and type. The resolver
// caches each RRset of a step under its own key, and a later question
// for it, answered from the cache or used as a cached link of another
// chain (cachedLink), reads its DNSSEC entry there: without one, secure
// data first learned through a CNAME was answered without AD or RRSIGs
// (RFC 4035 §3.2.1, RFC 6840 §5.8). settle then writes the entry of the
// client's own question, with every link's records, over any of these.
// ECS-scoped steps keep none, as their answers keep no signatures.
func (r *Recursive) putLinkDNSSEC(st *state, res dnssec.Result, resp *dns.Msg) {
	if st.ecs != nil || res.Status == dnssec.Bogus {
		return
	}
	secure := res.Status == dnssec.Secure
	// The step's NSEC and NSEC3 records (the proof of a wildcard
	// expansion, RFC 4035 §3.1.3.3) go with each of its RRsets: the entry
	// may replace the one of a client's question for the same RRset.
	_, proof := dnssecRecords(resp, nil, nil)
	for _, set := range groupRRsets(resp.Answer) {
		h := set[0].Header()
		if h.Rrtype == dns.TypeRRSIG || h.Class != dns.ClassINET {
			continue
		}
		owner := dns.CanonicalName(h.Name)
		var sigs []dns.RR
		ttl := h.Ttl
		for _, rr := range set {
			ttl = min(ttl, rr.Header().Ttl)
		}
		for _, rr := range resp.Answer {
			if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == h.Rrtype && dns.CanonicalName(s.Hdr.Name) == owner {
				sigs = append(sigs, rr)
			}
		}
		if ttl == 0 {
			continue
		}
		r.putDNSSEC(dns.Question{Name: owner, Qtype: h.Rrtype, Qclass: dns.ClassINET}, secure, sigs, proof, time.Duration(ttl)*time.Second)
	}
}
