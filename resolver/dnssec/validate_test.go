package dnssec_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

const exampleText = `www 300 IN A 192.0.2.1
alias 300 IN CNAME www
*.wild 300 IN A 192.0.2.9
a.b.ent 300 IN A 192.0.2.3
`

func TestRFC4035_5_SecureChainPerAlgorithm(t *testing.T) {
	for _, alg := range []uint8{dns.RSASHA256, dns.ECDSAP256SHA256, dns.ED25519} {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			tr := newTree(t, resolvertest.Signing{Algorithm: alg}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Algorithm: alg}})
			v := tr.validator(t, dnssec.Config{})
			r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
			want(t, r, dnssec.Secure, 0)
			if r.Work.Fetches == 0 || r.Work.Verifications == 0 {
				t.Fatalf("work %+v: the chain was not walked", r.Work)
			}
			// The keys are cached: a second answer costs one check, no fetch.
			r, _ = tr.check(t, v, "www.example.com.", dns.TypeA)
			want(t, r, dnssec.Secure, 0)
			if r.Work.Fetches != 0 || r.Work.Verifications != 1 {
				t.Fatalf("cached chain: work %+v, want 0 fetches and 1 verification", r.Work)
			}
		})
	}
}

func TestRFC4035_5_4_Denial(t *testing.T) {
	for _, n3 := range []bool{false, true} {
		name := "NSEC"
		if n3 {
			name = "NSEC3_RFC5155_8"
		}
		t.Run(name, func(t *testing.T) {
			s := resolvertest.Signing{NSEC3: n3}
			tr := newTree(t, s, child{origin: "example.com.", text: exampleText, s: s})
			v := tr.validator(t, dnssec.Config{})
			for _, c := range []struct {
				name  string
				qtype uint16
				rcode int
			}{
				{"nope.example.com.", dns.TypeA, dns.RcodeNameError},   // NXDOMAIN
				{"x.y.z.example.com.", dns.TypeA, dns.RcodeNameError},  // NXDOMAIN, deeper
				{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess},   // NODATA
				{"ent.example.com.", dns.TypeA, dns.RcodeSuccess},      // empty non-terminal
				{"x.wild.example.com.", dns.TypeA, dns.RcodeSuccess},   // wildcard answer (§5.3.4)
				{"x.wild.example.com.", dns.TypeTXT, dns.RcodeSuccess}, // wildcard NODATA
				{"alias.example.com.", dns.TypeA, dns.RcodeSuccess},    // CNAME
			} {
				r, resp := tr.check(t, v, c.name, c.qtype)
				if resp.Rcode != c.rcode {
					t.Fatalf("%s %s: rcode %d, want %d", c.name, dns.TypeToString[c.qtype], resp.Rcode, c.rcode)
				}
				if r.Status != dnssec.Secure {
					t.Fatalf("%s %s: %v %d %s\n%v", c.name, dns.TypeToString[c.qtype], r.Status, r.EDE, r.Reason, resp)
				}
			}
		})
	}
}

func TestRFC4035_5_3_1_SignatureValidity(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name     string
		from, to time.Time
		ede      uint16
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-time.Hour), dns.ExtendedErrorCodeSignatureExpired},
		{"not_yet_valid", now.Add(time.Hour), now.Add(48 * time.Hour), dns.ExtendedErrorCodeSignatureNotYetValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Inception: c.from, Expiration: c.to}})
			v := tr.validator(t, dnssec.Config{})
			r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
			want(t, r, dnssec.Bogus, c.ede)
		})
	}
}

func TestRFC4035_5_2_DNSKEYDoesNotMatchDS(t *testing.T) {
	other, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, ds: other.DS().String()})
	r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeDNSKEYMissing)
}

func TestRFC4035_5_2_InsecureDelegation(t *testing.T) {
	for _, c := range []struct {
		name string
		com  resolvertest.Signing
		kid  child
		want dnssec.Status
		ede  uint16
	}{
		{"unsigned_child_NSEC_proof", resolvertest.Signing{}, child{unsigned: true}, dnssec.Insecure, 0},
		{"signed_child_no_DS_NSEC_proof", resolvertest.Signing{}, child{ds: "none"}, dnssec.Insecure, 0},
		{"unsigned_child_NSEC3_proof_RFC5155_8_9", resolvertest.Signing{NSEC3: true}, child{unsigned: true}, dnssec.Insecure, 0},
		{"unsigned_child_NSEC3_opt_out_RFC5155_6", resolvertest.Signing{NSEC3: true, OptOut: true}, child{unsigned: true}, dnssec.Insecure, 0},
		{"no_DS_without_proof", resolvertest.Signing{NoDenial: true}, child{unsigned: true}, dnssec.Bogus, dns.ExtendedErrorCodeNSECMissing},
		{"no_DS_without_NSEC3_proof", resolvertest.Signing{NSEC3: true, NoDenial: true}, child{unsigned: true}, dnssec.Bogus, dns.ExtendedErrorCodeNSECMissing},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.kid.origin, c.kid.text = "example.com.", exampleText
			tr := newTree(t, c.com, c.kid)
			v := tr.validator(t, dnssec.Config{})
			for _, q := range []struct {
				name  string
				qtype uint16
			}{{"www.example.com.", dns.TypeA}, {"nope.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeAAAA}} {
				r, _ := tr.check(t, v, q.name, q.qtype)
				want(t, r, c.want, c.ede)
			}
		})
	}
}

func TestRFC4035_5_3_4_WildcardNeedsProof(t *testing.T) {
	for _, n3 := range []bool{false, true} {
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NSEC3: n3, NoDenial: true}})
		r, resp := tr.check(t, tr.validator(t, dnssec.Config{}), "x.wild.example.com.", dns.TypeA)
		if len(resp.Answer) == 0 {
			t.Fatal("no wildcard answer")
		}
		want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeNSECMissing)
	}
}

func TestRFC4035_5_4_NegativeWithoutProofIsBogus(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{NoDenial: true}})
	v := tr.validator(t, dnssec.Config{})
	r, _ := tr.check(t, v, "nope.example.com.", dns.TypeA)
	want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeNSECMissing)
	r, _ = tr.check(t, v, "www.example.com.", dns.TypeAAAA)
	want(t, r, dnssec.Bogus, dns.ExtendedErrorCodeNSECMissing)
}

func TestRFC6840_5_2_UnsupportedAlgorithmIsInsecure(t *testing.T) {
	for _, alg := range []uint8{dns.RSAMD5, dns.DSA, 253} {
		tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Algorithm: alg}})
		r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
		want(t, r, dnssec.Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm)
	}
}

func TestRFC4035_5_2_UnknownDigestIsInsecure(t *testing.T) {
	k, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ds := k.DS()
	ds.DigestType = 200
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Key: k}, ds: ds.String()})
	r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Insecure, dns.ExtendedErrorCodeUnsupportedDSDigestType)
}

func TestRFC4035_5_3_TamperedAnswer(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	v := tr.validator(t, dnssec.Config{})
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	resp := tr.ask(q.Name, q.Qtype)
	resp.Answer[0].(*dns.A).A[3] = 66
	want(t, v.Validate(context.Background(), tr.fetcher(), q, resp), dnssec.Bogus, dns.ExtendedErrorCodeDNSBogus)
	// Signatures stripped: a secure zone's data must be signed.
	resp = tr.ask(q.Name, q.Qtype)
	resp.Answer = resp.Answer[:1]
	want(t, v.Validate(context.Background(), tr.fetcher(), q, resp), dnssec.Bogus, dns.ExtendedErrorCodeRRSIGsMissing)
	// A forged NXDOMAIN without proof.
	resp = tr.ask(q.Name, q.Qtype)
	resp.Rcode, resp.Answer = dns.RcodeNameError, nil
	want(t, v.Validate(context.Background(), tr.fetcher(), q, resp), dnssec.Bogus, any)
}

func TestRFC4035_5_CNAMEChainTakesWeakestStatus(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{},
		child{origin: "example.com.", text: exampleText + "out 300 IN CNAME www.plain.com.\nbad 300 IN CNAME www.broken.com.\n"},
		child{origin: "plain.com.", text: exampleText, unsigned: true},
		child{origin: "broken.com.", text: exampleText, s: resolvertest.Signing{Expiration: time.Now().Add(-time.Minute), Inception: time.Now().Add(-time.Hour)}},
	)
	v := tr.validator(t, dnssec.Config{})
	chain := func(name, target string) *dns.Msg {
		a := tr.ask(name, dns.TypeA)
		b := tr.ask(target, dns.TypeA)
		a.Answer = append(a.Answer, b.Answer...)
		return a
	}
	q := dns.Question{Name: "out.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	want(t, v.Validate(context.Background(), tr.fetcher(), q, chain(q.Name, "www.plain.com.")), dnssec.Insecure, any)
	q.Name = "bad.example.com."
	want(t, v.Validate(context.Background(), tr.fetcher(), q, chain(q.Name, "www.broken.com.")), dnssec.Bogus, dns.ExtendedErrorCodeSignatureExpired)
}

func TestRFC9276_3_2_NSEC3IterationsAboveLimitAreInsecure(t *testing.T) {
	s := resolvertest.Signing{NSEC3: true, Iterations: 200, Salt: "ABCD"}
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: s})
	r, _ := tr.check(t, tr.validator(t, dnssec.Config{}), "nope.example.com.", dns.TypeA)
	want(t, r, dnssec.Insecure, dns.ExtendedErrorCodeUnsupportedNSEC3IterValue)
}

// TestCVE_2023_50387_KeyTrapBounded: a zone whose DNSKEY set holds many
// keys sharing one tag, and whose RRsets carry many signatures with that
// tag, is bogus after a bounded number of signature checks (a validator
// without limits would make KeyTrap² of them per RRset).
func TestCVE_2023_50387_KeyTrapBounded(t *testing.T) {
	const n = 40
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{KeyTrap: n}})
	v := tr.validator(t, dnssec.Config{})
	keys := tr.ask("example.com.", dns.TypeDNSKEY)
	if got := len(keys.Answer); got != n+2 {
		t.Fatalf("DNSKEY answer has %d records, want the trap's %d keys, the real one and its signature", got, n)
	}
	tag := tr.zones["example.com."].Key().DNSKEY.KeyTag()
	for _, rr := range keys.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.KeyTag() != tag {
			t.Fatalf("key tag %d, want all %d", k.KeyTag(), tag)
		}
	}
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Bogus, any)
	// Root and com.: DNSKEY and DS (4), example.com.'s DNSKEY (1), its
	// A: 8 signatures x 4 keys at most.
	if r.Work.Verifications > 5+8*4 {
		t.Fatalf("%d verifications, want at most %d", r.Work.Verifications, 5+8*4)
	}
	// The same zone without the limits: what the bounds save.
	loose := tr.validator(t, dnssec.Config{MaxKeysPerTag: 1 << 20, MaxSignaturesPerRRset: 1 << 20, MaxVerifications: 1 << 20})
	r, _ = tr.check(t, loose, "www.example.com.", dns.TypeA)
	if r.Work.Verifications < n*n {
		t.Fatalf("unbounded validator made %d verifications, want at least %d: the trap does not trap", r.Work.Verifications, n*n)
	}
}

// TestCVE_2023_50868_NSEC3HashesBounded: a name with many labels below
// an NSEC3 zone, with iterations allowed, costs at most MaxNSEC3Hashes
// hashes and is not secure.
func TestCVE_2023_50868_NSEC3HashesBounded(t *testing.T) {
	s := resolvertest.Signing{NSEC3: true, Iterations: 100}
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, s: s})
	v := tr.validator(t, dnssec.Config{MaxNSEC3Hashes: 16})
	name := strings.Repeat("a.", 60) + "example.com."
	r, resp := tr.check(t, v, name, dns.TypeA)
	if resp.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %d", resp.Rcode)
	}
	if r.Work.Hashes > 16 {
		t.Fatalf("%d NSEC3 hashes, want at most 16", r.Work.Hashes)
	}
	if r.Status == dnssec.Secure {
		t.Fatalf("secure after the hash budget ran out")
	}
}

func TestRFC4035_4_3_IndeterminateWithoutAnchor(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	k, _ := resolvertest.NewKey("org.", dns.ED25519)
	v := tr.validator(t, dnssec.Config{Anchors: []dns.RR{k.DS()}})
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Indeterminate, 0)
}

func TestDNSKEYAnchor(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	key := tr.zones["."].Key().DNSKEY
	anchors, err := dnssec.ParseAnchors(strings.NewReader("; root\n"+key.String()+"\n"), "anchors")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := tr.check(t, tr.validator(t, dnssec.Config{Anchors: anchors}), "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Secure, 0)
	// An anchor below the root, for the child alone.
	anchors = []dns.RR{tr.zones["example.com."].Key().DS()}
	r, _ = tr.check(t, tr.validator(t, dnssec.Config{Anchors: anchors}), "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Secure, 0)
}

func TestRootAnchors(t *testing.T) {
	tags := map[uint16]bool{}
	for _, rr := range dnssec.RootAnchors() {
		ds := rr.(*dns.DS)
		if ds.Hdr.Name != "." || ds.Algorithm != dns.RSASHA256 || ds.DigestType != dns.SHA256 {
			t.Fatalf("bad root anchor %v", ds)
		}
		tags[ds.KeyTag] = true
	}
	if !tags[20326] || !tags[38696] || len(tags) != 2 {
		t.Fatalf("root anchor tags %v, want 20326 and 38696", tags)
	}
}

func TestParseAnchorsRejects(t *testing.T) {
	for _, text := range []string{"", "example. 300 IN A 192.0.2.1", "example. IN DS garbage", "$INCLUDE /etc/passwd"} {
		if _, err := dnssec.ParseAnchors(strings.NewReader(text), "t"); err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}

func TestBogusVerdictCachedBriefly(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	other, _ := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText, ds: other.DS().String()})
	v := tr.validator(t, dnssec.Config{Now: clock})
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Bogus, any)
	r, _ = tr.check(t, v, "www.example.com.", dns.TypeA)
	if r.Work.Fetches != 0 {
		t.Fatalf("bogus verdict not cached: %+v", r.Work)
	}
	now = now.Add(61 * time.Second)
	r, _ = tr.check(t, v, "www.example.com.", dns.TypeA)
	if r.Work.Fetches == 0 {
		t.Fatal("bogus verdict kept past 60 s")
	}
}
