package dnssec_test

import (
	"context"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// Regression tests for what scripts/compare-dnssec.sh (a differential
// run beside a validating Unbound) found; docs/resolver.md, "Agreement
// with Unbound".

// TestRFC4035_3_1_3_1_NoNODATAForANY: an NSEC (or NSEC3) of a name that
// holds records proves that it has no records of the types its bitmap
// leaves out, never that it has none at all: a NODATA for ANY (RFC 1035
// §3.2.3 QTYPE *) cannot be proven by it (RFC 4035 §3.1.3.1, RFC 5155
// §8.5). A forger replaying the signed NODATA of another type for an ANY
// question was validated secure, and the resolver's RFC 8198 synthesis
// answered ANY with an empty NODATA and AD.
func TestRFC4035_3_1_3_1_NoNODATAForANY(t *testing.T) {
	for _, n3 := range []bool{false, true} {
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NSEC3: n3}})
		v := tr.validator(t, dnssec.Config{})
		resp := tr.ask("www.example.com.", dns.TypeTXT) // a signed NODATA for TXT
		r := v.Validate(context.Background(), tr.fetcher(), dns.Question{Name: "www.example.com.", Qtype: dns.TypeTXT, Qclass: dns.ClassINET}, resp)
		want(t, r, dnssec.Secure, 0)
		r = v.Validate(context.Background(), tr.fetcher(), dns.Question{Name: "www.example.com.", Qtype: dns.TypeANY, Qclass: dns.ClassINET}, resp)
		if r.Status != dnssec.Bogus {
			t.Fatalf("NSEC3 %v: the TXT NODATA replayed for ANY: %v, want bogus", n3, r.Status)
		}
		if !n3 {
			if _, ok := dnssec.DeniedByNSEC(r2nsec(t, v, tr), "www.example.com.", dns.TypeANY, "example.com."); ok {
				t.Fatal("DeniedByNSEC proves a NODATA for ANY at a name with records")
			}
		}
	}
}

// r2nsec returns the validated NSEC records of the TXT NODATA at www.
func r2nsec(t *testing.T, v *dnssec.Validator, tr *tree) []*dns.NSEC {
	t.Helper()
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeTXT)
	if len(r.NSEC) == 0 {
		t.Fatal("no validated NSEC")
	}
	return r.NSEC
}

// TestRFC8914_PreciseEDEs: the Extended DNS Error names what is wrong
// (RFC 8914 §4): an RRSIG whose Labels field is above its owner's label
// count (RFC 4035 §5.3.1) is there but invalid, DNSSEC Bogus (6), not
// RRSIGs Missing (10); a DNSKEY RRset with a key matching the DS but no
// signature by it (RFC 4035 §5.2) is RRSIGs Missing (10), not DNSKEY
// Missing (9), which says that no key matches the DS (as Unbound says).
func TestRFC8914_PreciseEDEs(t *testing.T) {
	t.Run("labels_above_owner_RFC4035_5_3_1", func(t *testing.T) {
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{LabelsDelta: map[string]int{"www.example.com.": 1}}})
		r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
		want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeDNSBogus)
	})
	t.Run("DNSKEY_not_signed_by_DS_key_RFC4035_5_2", func(t *testing.T) {
		zsk, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
		if err != nil {
			t.Fatal(err)
		}
		zsk.DNSKEY.Flags = 256
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{ZSK: zsk, KeysSignedByZSK: true}})
		r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
		want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeRRSIGsMissing)
	})
	t.Run("KSK_ZSK_split_is_secure_RFC6781_3_1", func(t *testing.T) {
		zsk, err := resolvertest.NewKey("example.com.", dns.ECDSAP384SHA384)
		if err != nil {
			t.Fatal(err)
		}
		zsk.DNSKEY.Flags = 256
		ksk, err := resolvertest.NewKey("example.com.", dns.ECDSAP384SHA384)
		if err != nil {
			t.Fatal(err)
		}
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Key: ksk, ZSK: zsk}})
		r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
		want(t, r, dnssec.Secure, 0)
	})
}

// TestRFC5155_9_2_OptOutWildcardInsecure: a wildcard expansion whose
// next closer name is covered by an opt-out NSEC3 is not proven: an
// unsigned delegation may exist there (RFC 5155 §6, §9.2), whose answer
// would be a referral, not the wildcard. Insecure, as Unbound says and
// as an opt-out NXDOMAIN already was here (RFC 5155 §8.4, §8.8).
func TestRFC5155_9_2_OptOutWildcardInsecure(t *testing.T) {
	for _, optOut := range []bool{false, true} {
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NSEC3: true, OptOut: optOut}})
		r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "x.wild.example.com.", dns.TypeA)
		if want := map[bool]dnssec.Status{false: dnssec.Secure, true: dnssec.Insecure}[optOut]; r.Status != want {
			t.Fatalf("opt-out %v: %v (%s), want %v", optOut, r.Status, r.Reason, want)
		}
	}
}
