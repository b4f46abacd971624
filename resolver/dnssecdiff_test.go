package resolver

import (
	"net"
	"testing"
	"time"

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

// TestRFC4035_3_2_1_TargetFirstLearnedThroughCNAME: data first cached as
// a link of a CNAME chain, then asked for itself, is answered from the
// cache as what it was validated to be: AD (RFC 6840 §5.8) and, with
// DO, its RRSIG (RFC 4035 §3.2.1). It came back without either.
func TestRFC4035_3_2_1_TargetFirstLearnedThroughCNAME(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "a.com.", addr: "127.0.0.4", text: "alias.a.com. 300 IN CNAME www.b.com.\n"},
		signedKid{origin: "b.com.", addr: "127.0.0.5", text: "www.b.com. 300 IN A 192.0.2.5\n"},
	)
	if m := ask(srv, "alias.a.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("chain:\n%v", m)
	}
	for _, do := range []bool{true, false} {
		q := new(dns.Msg)
		q.SetQuestion("www.b.com.", dns.TypeA)
		q.SetEdns0(1232, do)
		q.AuthenticatedData = !do
		m := srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.TCPAddr{}, q)
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || do != (count(m.Answer, dns.TypeRRSIG) == 1) {
			t.Fatalf("target asked itself (DO %v): want NOERROR, AD, the A record and its RRSIG with DO, got:\n%v", do, m)
		}
	}
}

// TestRFC4035_3_2_2_CDKeepsSignatures: a query with CD gets the data of
// a bogus answer (RFC 4035 §3.2.2) so that the client can validate it
// itself, and with DO that needs the RRSIGs (RFC 4035 §3.2.1): they were
// left out; without DO they stay out. No AD either way (RFC 4035 §3.2.3).
func TestRFC4035_3_2_2_CDKeepsSignatures(t *testing.T) {
	past := time.Now().Add(-30 * 24 * time.Hour)
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "expired.com.", addr: "127.0.0.4", text: "www.expired.com. 300 IN A 192.0.2.4\n", s: resolvertest.Signing{Inception: past.Add(-time.Hour), Expiration: past}},
	)
	if m := ask(srv, "www.expired.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("without CD:\n%v", m)
	}
	for _, do := range []bool{true, false} {
		for _, round := range []string{"first", "again"} {
			m := ask(srv, "www.expired.com.", dns.TypeA, do, true)
			if m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || do != (count(m.Answer, dns.TypeRRSIG) == 1) {
				t.Fatalf("CD, DO %v, %s: want NOERROR without AD, the A record and with DO its RRSIG, got:\n%v", do, round, m)
			}
		}
	}
}

// TestRFC4035_3_2_1_ANYSignaturesOnce: an ANY answer holds the RRSIGs of
// its RRsets among its data (ANY matches every type); with DO they were
// added a second time, each RRSIG twice (RFC 2181 §5: an RRset holds no
// duplicates).
func TestRFC4035_3_2_1_ANYSignaturesOnce(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "a.com.", addr: "127.0.0.4", text: "www.a.com. 300 IN A 192.0.2.4\nwww.a.com. 300 IN TXT \"x\"\n"},
	)
	for _, round := range []string{"cold", "cached"} {
		m := ask(srv, "www.a.com.", dns.TypeANY, true, false)
		if m.Rcode != dns.RcodeSuccess || count(m.Answer, dns.TypeRRSIG) != count(m.Answer, dns.TypeA)+count(m.Answer, dns.TypeTXT) || count(m.Answer, dns.TypeA) == 0 {
			t.Fatalf("%s: want each RRset with one RRSIG, got:\n%v", round, m)
		}
	}
}

// TestRFC4035_3_1_3_CNAMEThenNegativeSOASignatureInAuthority: a CNAME
// chain that ends in an NXDOMAIN or NODATA in another zone is answered
// with the CNAME and its RRSIG in the answer section and the SOA, NSEC
// records and their RRSIGs in the authority section (RFC 4035 §3.1.3,
// RFC 2308 §2.1); the SOA's RRSIG went to the answer section.
func TestRFC4035_3_1_3_CNAMEThenNegativeSOASignatureInAuthority(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "a.com.", addr: "127.0.0.4", text: "tonx.a.com. 300 IN CNAME nope.b.com.\ntonodata.a.com. 300 IN CNAME www.b.com.\n"},
		signedKid{origin: "b.com.", addr: "127.0.0.5", text: "www.b.com. 300 IN A 192.0.2.5\n"},
	)
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"tonx.a.com.", dns.TypeA, dns.RcodeNameError},
		{"tonodata.a.com.", dns.TypeTXT, dns.RcodeSuccess},
	} {
		for _, round := range []string{"cold", "cached"} {
			m := ask(srv, c.name, c.qtype, true, false)
			bad := m.Rcode != c.rcode || !m.AuthenticatedData || count(m.Answer, dns.TypeCNAME) != 1 || count(m.Ns, dns.TypeNSEC) == 0
			for _, rr := range m.Answer {
				if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered != dns.TypeCNAME {
					bad = true
				}
			}
			soaSig := false
			for _, rr := range m.Ns {
				if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeSOA {
					soaSig = true
				}
			}
			if bad || !soaSig {
				t.Fatalf("%s %s %s: want %s with AD, the CNAME and its RRSIG in the answer, the SOA's RRSIG and the NSEC in the authority, got:\n%v",
					c.name, dns.TypeToString[c.qtype], round, dns.RcodeToString[c.rcode], m)
			}
		}
	}
}

// TestRFC4035_5_3_4_WildcardProofKeptAfterChain: a wildcard expansion
// is answered with the NSEC that proves the name itself absent (RFC
// 4035 §3.1.3.3, §5.3.4), from the cache too, also after a CNAME chain
// through the same name cached it as a link (putLinkDNSSEC kept its
// RRSIG without the proof).
func TestRFC4035_5_3_4_WildcardProofKeptAfterChain(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "a.com.", addr: "127.0.0.4", text: "*.wild.a.com. 300 IN A 192.0.2.4\ntowild.a.com. 300 IN CNAME x.wild.a.com.\n"},
	)
	check := func(when string) {
		t.Helper()
		m := ask(srv, "x.wild.a.com.", dns.TypeA, true, false)
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || count(m.Ns, dns.TypeNSEC) == 0 {
			t.Fatalf("%s: want the expansion with AD and its NSEC proof, got:\n%v", when, m)
		}
	}
	check("cold")
	if m := ask(srv, "towild.a.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("chain:\n%v", m)
	}
	check("after the chain")
}
