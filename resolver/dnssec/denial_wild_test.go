package dnssec_test

import (
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestRFC8198_5_3_WildcardExpansionExposed: a Secure wildcard expansion
// proven by NSEC (RFC 4035 §5.3.4) is reported with its closest encloser
// and the verified NSEC (Result.Wildcards), which WildcardByNSEC accepts
// for another name below the wildcard (RFC 8198 §5.3) and refuses for the
// name the NSEC ends at, a name outside its range or zone, a DS question,
// and beside an NSEC that proves the wildcard absent. A plain answer, an
// NSEC3 expansion and an expansion without proof report none.
func TestRFC8198_5_3_WildcardExpansionExposed(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText + "h1.wild 300 IN A 192.0.2.8\n"})
	v := tr.validator(t, dnssec.Config{})
	r, resp := tr.check(t, v, "b.wild.example.com.", dns.TypeA)
	want(t, r, dnssec.Secure, 0)
	if len(r.Wildcards) != 1 {
		t.Fatalf("wildcards %+v\n%v", r.Wildcards, resp)
	}
	x := r.Wildcards[0]
	if x.Name != "b.wild.example.com." || x.Type != dns.TypeA || x.Closest != "wild.example.com." || x.Zone != "example.com." || x.NSEC == nil {
		t.Fatalf("%+v", x)
	}
	nsecs := []*dns.NSEC{x.NSEC}
	if n, ce := dnssec.WildcardByNSEC(nsecs, "C.wild.example.com.", dns.TypeA, "example.com."); n != x.NSEC || ce != "wild.example.com." {
		t.Fatalf("another name below the wildcard: %v %q", n, ce)
	}
	for _, c := range []struct {
		name  string
		qtype uint16
	}{
		{x.NSEC.NextDomain, dns.TypeA},      // exists
		{"zz.wild.example.com.", dns.TypeA}, // past the NSEC
		{"y.wild.example.org.", dns.TypeA},  // another zone
		{"y.wild.example.com.", dns.TypeDS}, // DS
	} {
		if n, _ := dnssec.WildcardByNSEC(nsecs, c.name, c.qtype, "example.com."); n != nil {
			t.Fatalf("%s %s: proven by %v", c.name, dns.TypeToString[c.qtype], n)
		}
	}
	// An NSEC saying the wildcard does not exist (stale or contradictory
	// data) wins over the cached wildcard.
	gone := &dns.NSEC{Hdr: dns.RR_Header{Name: "wild.example.com.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: "a.wild.example.com."}
	if n, _ := dnssec.WildcardByNSEC(append(nsecs, gone), "y.wild.example.com.", dns.TypeA, "example.com."); n != nil {
		t.Fatal("proven beside an NSEC covering the wildcard")
	}

	if r, _ := tr.check(t, v, "www.example.com.", dns.TypeA); len(r.Wildcards) != 0 {
		t.Fatalf("a plain answer reports %+v", r.Wildcards)
	}
	n3 := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NSEC3: true}})
	if r, _ := n3.check(t, n3.validator(t, dnssec.Config{}), "x.wild.example.com.", dns.TypeA); r.Status != dnssec.Secure || len(r.Wildcards) != 0 {
		t.Fatalf("NSEC3 expansion: %v %+v", r.Status, r.Wildcards)
	}
	bare := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NoDenial: true}})
	if r, _ := bare.check(t, bare.validator(t, dnssec.Config{}), "x.wild.example.com.", dns.TypeA); r.Status != dnssec.Bogus || len(r.Wildcards) != 0 {
		t.Fatalf("expansion without proof: %v %+v", r.Status, r.Wildcards)
	}
}

// TestRFC4035_3_1_3_2_NXDOMAINForEmptyNonTerminalIsBogus: the NSEC that
// covers an empty non-terminal (its next name is below it) proves that
// the name has no data, not that it does not exist: an NXDOMAIN made of
// the honest NODATA's records is bogus (RFC 4035 §3.1.3.1, §5.4; as a
// secure NXDOMAIN it would deny the names below too, RFC 8020), and the
// proof check of cached NSEC records gives NODATA (RFC 8198 §5.2).
func TestRFC4035_3_1_3_2_NXDOMAINForEmptyNonTerminalIsBogus(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	v := tr.validator(t, dnssec.Config{})
	r, resp := tr.check(t, v, "ent.example.com.", dns.TypeA)
	want(t, r, dnssec.Secure, 0)
	if resp.Rcode != dns.RcodeSuccess || len(r.NSEC) == 0 {
		t.Fatalf("the empty non-terminal's NODATA:\n%v", resp)
	}
	rcode, ok := dnssec.DeniedByNSEC(r.NSEC, "ent.example.com.", dns.TypeA, "example.com.")
	if !ok || rcode != dns.RcodeSuccess {
		t.Fatalf("DeniedByNSEC: rcode %d ok %v, want NODATA", rcode, ok)
	}
	forged := resp.Copy()
	forged.Rcode = dns.RcodeNameError
	res := v.Validate(t.Context(), tr.fetcher(), dns.Question{Name: "ent.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, forged)
	want(t, res, dnssec.Bogus, any)
}
