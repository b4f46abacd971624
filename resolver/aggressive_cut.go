package resolver

import (
	"time"

	"github.com/miekg/dns"
)

// The DNSSEC outcome of a name below a secure NXDOMAIN (RFC 8020).
//
// A cached NXDOMAIN answers every question for its name and the names
// below it (cachedNXDomain: nothing exists below a name that does not).
// Their DNSSEC outcome was kept per question (putDNSSEC, by name and
// type), so such an answer for another type or a name below came without
// AD. The validated NXDOMAIN step of a resolution keeps its outcome by
// name too, under dnssecKey(name, 0), with the proof (the NSEC or NSEC3
// records and their RRSIGs); an NXDOMAIN answered from the cache for a
// question that has no outcome of its own takes that of the NXDOMAIN it
// derives from. The proof that a name does not exist proves it for the
// names below it too: the NSEC that covers it covers them (its next name
// is not below it, or it would exist), and their closest encloser, hence
// the wildcard proven absent, is the same; with NSEC3, their next closer
// name is its own. Only a Secure NXDOMAIN is kept so: an insecure one
// leaves the names below it without AD.

// putNXDomainDNSSEC keeps the DNSSEC outcome of resp, a validated Secure
// NXDOMAIN (res.Denied the name proven absent), for its name.
func (r *Recursive) putNXDomainDNSSEC(denied string, resp *dns.Msg) {
	if resp.Rcode != dns.RcodeNameError || denied == "" {
		return
	}
	var soa *dns.SOA
	for _, rr := range resp.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			soa = s
			break
		}
	}
	if soa == nil {
		return
	}
	// As long as the NXDOMAIN itself is kept (putNegative).
	ttl := min(r.clamp(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second), r.cfg.MaxNegativeTTL)
	if ttl <= 0 {
		return
	}
	_, ns := dnssecRecords(resp, nil, nil)
	r.putDNSSEC(dns.Question{Name: denied, Qtype: 0, Qclass: dns.ClassINET}, true, nil, ns, ttl)
}

// nxdomainCut returns the DNSSEC outcome of the NXDOMAIN cached for name
// or the ancestor it derives from, or nil.
func (r *Recursive) nxdomainCut(name string, now time.Time) *entry {
	e, owner := r.cachedNXDomainOwner(name, now, false)
	if e == nil {
		return nil
	}
	return r.cachedDNSSECAt(owner, 0, now)
}
