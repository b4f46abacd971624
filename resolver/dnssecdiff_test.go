package resolver

import (
	"testing"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// Regression tests for what scripts/compare-dnssec.sh (a differential run
// beside a validating Unbound) found; docs/resolver.md, "Agreement with
// Unbound".

// TestRFC4035_5_3_CNAMEAcrossZones: a signed CNAME (or DNAME) whose
// target lies in another zone is one link of a chain; the zone that
// answers it owes no proof about the target, which the resolver asks
// for itself (RFC 4035 §5.3 validates each RRset; §3.1.3 asks for a
// denial only in an NXDOMAIN or NODATA response). secure -> secure is
// secure (AD), insecure -> secure is insecure (no AD), never SERVFAIL.
func TestRFC4035_5_3_CNAMEAcrossZones(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "a.com.", addr: "127.0.0.4", text: "tosecure.a.com. 300 IN CNAME www.b.com.\nd.a.com. 300 IN DNAME c.com.\n"},
		signedKid{origin: "b.com.", addr: "127.0.0.5", text: "www.b.com. 300 IN A 192.0.2.5\nx.b.com. 300 IN A 192.0.2.6\n", s: resolvertest.Signing{Algorithm: dns.ED25519}},
		signedKid{origin: "c.com.", addr: "127.0.0.7", text: "www.c.com. 300 IN A 192.0.2.7\n"},
		signedKid{origin: "u.com.", addr: "127.0.0.6", text: "tosecure.u.com. 300 IN CNAME x.b.com.\n", unsigned: true},
	)
	for _, c := range []struct {
		name string
		ad   bool
	}{
		{"tosecure.a.com.", true},  // secure -> secure
		{"www.d.a.com.", true},     // DNAME, secure -> secure
		{"tosecure.u.com.", false}, // insecure -> secure
	} {
		for _, round := range []string{"cold", "cached"} {
			m := ask(srv, c.name, dns.TypeA, true, false)
			if m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != c.ad || count(m.Answer, dns.TypeA) != 1 {
				t.Fatalf("%s %s: want NOERROR ad=%v with the A record, got:\n%v", c.name, round, c.ad, m)
			}
		}
	}
}
