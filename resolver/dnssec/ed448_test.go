package dnssec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return rr
}

// RFC 8080 §6.2 (as corrected by erratum 4935: labels 2, the algorithm
// field present): the Ed448 key, its key tag and DS, and an MX RRset's
// signature. Known answers from outside this code.
func TestRFC8080_6_2_Ed448Example(t *testing.T) {
	key := mustRR(t, "example.com. 3600 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA").(*dns.DNSKEY)
	if tag := key.KeyTag(); tag != 9713 {
		t.Fatalf("key tag %d, want 9713 (RFC 4034 Appendix B over the wire form)", tag)
	}
	ds := key.ToDS(dns.SHA256)
	if ds == nil || !strings.EqualFold(ds.Digest, "6ccf18d5bc5d7fc2fceb1d59d17321402f2aa8d368048db93dd811f5cb2b19c7") || ds.Algorithm != dns.ED448 {
		t.Fatalf("DS %v, want 9713 16 2 6ccf18d5...", ds)
	}
	mx := []dns.RR{mustRR(t, "example.com. 3600 IN MX 10 mail.example.com.")}
	sig := mustRR(t, "example.com. 3600 IN RRSIG MX 16 2 3600 1440021600 1438207200 9713 example.com. "+
		"3cPAHkmlnxcDHMyg7vFC34l0blBhuG1qpwLmjInI8w1CMB29FkEAIJUA0amxWndkmnBZ6SKiwZSAxGILn/NBtOXft0+Gj7FSvOKxE/07+4RQvE581N3Aj/JtIyaiYVdnYtyMWbSNyGEY2213WKsJlwEA").(*dns.RRSIG)
	if err := verifySig(sig, key, mx); err != nil {
		t.Fatalf("RFC 8080 example does not verify: %v", err)
	}
	// Mixed case in the owner and the MX target: canonical form lowercases both.
	if err := verifySig(sig, key, []dns.RR{mustRR(t, "EXAMPLE.com. 60 IN MX 10 Mail.Example.COM.")}); err != nil {
		t.Fatalf("mixed case: %v", err)
	}
	// The RFC as published signed with labels 3 (more than the owner
	// has): the signed data still checks, but RFC 4035 §5.3.1 rejects it.
	old := mustRR(t, "example.com. 3600 IN RRSIG MX 16 3 3600 1440021600 1438207200 9713 example.com. "+
		"Nmc0rgGKpr3GKYXcB1JmqqS4NYwhmechvJTqVzt3jR+Qy/lSLFoIk1L+9e39GPL+5tVzDPN3f9kAwiu8KCuPPjtl227ayaCZtRKZuJax7n9NuYlZJIusX0SOIOKBGzG+yWYtz1/jjbzl5GGkWvREUCUA").(*dns.RRSIG)
	data, err := SignedData(old, mx)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
	s, _ := base64.StdEncoding.DecodeString(old.Signature)
	if !ed448.Verify(pub, data, s, "") {
		t.Fatal("RFC 8080 §6.2 published signature does not verify over SignedData")
	}
	if verifySig(old, key, mx) == nil {
		t.Fatal("labels above the owner's count verified (RFC 4035 §5.3.1)")
	}
	for name, rrset := range map[string][]dns.RR{
		"other target": {mustRR(t, "example.com. 3600 IN MX 10 mail2.example.com.")},
		"other owner":  {mustRR(t, "example.net. 3600 IN MX 10 mail.example.com.")},
		"extra record": {mx[0], mustRR(t, "example.com. 3600 IN MX 20 mail.example.com.")},
	} {
		if verifySig(sig, key, rrset) == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// RFC 8080 §3, §4: a key of other than 57 bytes or a signature of other
// than 114 fails cleanly, as does junk in either.
func TestRFC8080_Ed448BadLengthsFail(t *testing.T) {
	key := mustRR(t, "example.com. 3600 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA").(*dns.DNSKEY)
	sig := mustRR(t, "example.com. 3600 IN RRSIG MX 16 2 3600 1440021600 1438207200 9713 example.com. "+
		"3cPAHkmlnxcDHMyg7vFC34l0blBhuG1qpwLmjInI8w1CMB29FkEAIJUA0amxWndkmnBZ6SKiwZSAxGILn/NBtOXft0+Gj7FSvOKxE/07+4RQvE581N3Aj/JtIyaiYVdnYtyMWbSNyGEY2213WKsJlwEA").(*dns.RRSIG)
	mx := []dns.RR{mustRR(t, "example.com. 3600 IN MX 10 mail.example.com.")}
	pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
	s, _ := base64.StdEncoding.DecodeString(sig.Signature)
	b64 := base64.StdEncoding.EncodeToString
	for _, n := range []int{0, 1, 32, 56, 58, 64, 114} {
		k := *key
		k.PublicKey = b64(append(append([]byte(nil), pub...), make([]byte, 64)...)[:n])
		g := *sig
		g.KeyTag = k.KeyTag()
		if verifySig(&g, &k, mx) == nil {
			t.Errorf("key of %d bytes verified", n)
		}
	}
	for _, n := range []int{0, 1, 64, 113, 115, 228} {
		g := *sig
		g.Signature = b64(append(append([]byte(nil), s...), make([]byte, 200)...)[:n])
		if verifySig(&g, key, mx) == nil {
			t.Errorf("signature of %d bytes verified", n)
		}
	}
	for _, junk := range []string{"!!!", "", "3kgR"} {
		k, g := *key, *sig
		k.PublicKey, g.Signature = junk, junk
		if verifySig(&g, key, mx) == nil || verifySig(sig, &k, mx) == nil {
			t.Errorf("junk %q verified", junk)
		}
	}
	// The scalar half of the signature at or above the group order (RFC
	// 8032 §5.2.7: reject), and an all-ones key that is no curve point.
	g := *sig
	bad := append([]byte(nil), s...)
	for i := 57; i < 114; i++ {
		bad[i] = 0xff
	}
	g.Signature = b64(bad)
	k := *key
	k.PublicKey = b64(bytesOf(0xff, 57))
	if verifySig(&g, key, mx) == nil || verifySig(sig, &k, mx) == nil {
		t.Error("non-canonical signature or key verified")
	}
}

func bytesOf(b byte, n int) []byte { return []byte(strings.Repeat(string([]byte{b}), n)) }

// signedDataCases are RRsets of many types as a zone holds them
// (lowercase, sorted as written) and, for each, the same RRset as a peer
// may send it: mixed case in owners and RDATA names, reordered, with
// duplicates. RFC 4034 §6.2 (canonical form), §6.3 (order, duplicates).
var signedDataCases = []struct {
	name      string
	signed    []string // what is signed
	received  []string // what verifies (nil: signed)
	wildLabel int      // >0: signed as the wildcard *.<rightmost wildLabel labels>, received as expanded
}{
	{name: "A", signed: []string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.10", "www.example.com. 300 IN A 192.0.2.2"},
		received: []string{"WWW.Example.COM. 20 IN A 192.0.2.2", "www.example.com. 20 IN A 192.0.2.1", "www.example.COM. 20 IN A 192.0.2.10", "www.example.com. 20 IN A 192.0.2.1"}},
	{name: "AAAA", signed: []string{"v6.example.com. 300 IN AAAA 2001:db8::1", "v6.example.com. 300 IN AAAA 2001:db8::ff"},
		received: []string{"V6.example.com. 300 IN AAAA 2001:db8::ff", "v6.example.com. 300 IN AAAA 2001:db8::1"}},
	{name: "MX", signed: []string{"example.com. 300 IN MX 10 mail.example.com.", "example.com. 300 IN MX 20 mx-long-name.backup.example.net.", "example.com. 300 IN MX 5 a.b."},
		received: []string{"Example.Com. 300 IN MX 20 MX-Long-Name.Backup.Example.NET.", "example.com. 300 IN MX 5 A.B.", "example.com. 300 IN MX 10 MAIL.example.com.", "example.com. 300 IN MX 5 a.b."}},
	{name: "NS", signed: []string{"example.com. 300 IN NS ns1.example.com.", "example.com. 300 IN NS a.very.long.nameserver.example.org."},
		received: []string{"EXAMPLE.COM. 300 IN NS A.Very.Long.NameServer.Example.ORG.", "example.com. 300 IN NS NS1.EXAMPLE.COM."}},
	{name: "CNAME", signed: []string{"alias.example.com. 300 IN CNAME target.example.net."},
		received: []string{"ALIAS.example.com. 300 IN CNAME Target.Example.NET."}},
	{name: "SOA", signed: []string{"example.com. 300 IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"},
		received: []string{"example.COM. 300 IN SOA NS.example.com. HostMaster.Example.com. 1 7200 3600 1209600 300"}},
	{name: "TXT", signed: []string{`example.com. 300 IN TXT "v=spf1 -all"`, `example.com. 300 IN TXT "a" "b"`, `example.com. 300 IN TXT "Case Stays"`, `example.com. 300 IN TXT ""`},
		received: []string{`example.com. 300 IN TXT "Case Stays"`, `EXAMPLE.com. 300 IN TXT ""`, `example.com. 300 IN TXT "a" "b"`, `example.com. 300 IN TXT "v=spf1 -all"`, `example.com. 300 IN TXT "a" "b"`}},
	{name: "SRV", signed: []string{"_sip._tcp.example.com. 300 IN SRV 10 60 5060 sip1.example.com.", "_sip._tcp.example.com. 300 IN SRV 10 20 5060 sip2.example.com."},
		received: []string{"_SIP._TCP.example.com. 300 IN SRV 10 20 5060 SIP2.example.com.", "_sip._tcp.example.com. 300 IN SRV 10 60 5060 Sip1.Example.Com."}},
	// RFC 6840 §5.1: NSEC RDATA names keep their case.
	{name: "NSEC", signed: []string{"alpha.example.com. 300 IN NSEC Beta.Example.com. A RRSIG NSEC"},
		received: []string{"ALPHA.example.com. 300 IN NSEC Beta.Example.com. A RRSIG NSEC"}},
	{name: "DS", signed: []string{"child.example.com. 300 IN DS 60485 13 2 D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A", "child.example.com. 300 IN DS 12345 8 2 0000000000000000000000000000000000000000000000000000000000000000"},
		received: []string{"CHILD.example.com. 300 IN DS 12345 8 2 0000000000000000000000000000000000000000000000000000000000000000", "child.example.com. 300 IN DS 60485 13 2 d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a"}},
	{name: "DNSKEY", signed: []string{"example.com. 300 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA", "example.com. 300 IN DNSKEY 256 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="},
		received: []string{"Example.com. 300 IN DNSKEY 256 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", "example.com. 300 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA"}},
	{name: "PTR", signed: []string{"1.2.0.192.example.com. 300 IN PTR host.example.com."}, received: []string{"1.2.0.192.EXAMPLE.COM. 300 IN PTR Host.Example.com."}},
	{name: "NAPTR", signed: []string{`example.com. 300 IN NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.example.com.`}, received: []string{`example.com. 300 IN NAPTR 100 10 "S" "SIP+D2U" "" _SIP._udp.EXAMPLE.com.`}},
	{name: "DNAME", signed: []string{"old.example.com. 300 IN DNAME new.example.net."}, received: []string{"old.example.com. 300 IN DNAME NEW.example.net."}},
	{name: "RP", signed: []string{"example.com. 300 IN RP admin.example.com. info.example.com."}, received: []string{"example.com. 300 IN RP Admin.example.com. INFO.example.com."}},
	{name: "escaped owner", signed: []string{`a\.b.example.com. 300 IN A 192.0.2.1`}, received: []string{`A\.B.example.com. 300 IN A 192.0.2.1`}},
	// RFC 4035 §5.3.2: the owner of an expansion is the wildcard's.
	{name: "wildcard A", signed: []string{"*.wild.example.com. 300 IN A 192.0.2.7", "*.wild.example.com. 300 IN A 192.0.2.8"}, wildLabel: 3,
		received: []string{"Deep.Down.X.wild.example.com. 300 IN A 192.0.2.8", "deep.down.x.wild.example.com. 300 IN A 192.0.2.7"}},
	{name: "wildcard MX one label", signed: []string{"*.example.com. 300 IN MX 10 Mail.example.com."}, wildLabel: 2,
		received: []string{"anything.example.com. 300 IN MX 10 mail.EXAMPLE.com."}},
	{name: "wildcard TXT", signed: []string{`*.w.example.com. 300 IN TXT "x"`}, wildLabel: 3, received: []string{`A.W.Example.Com. 300 IN TXT "x"`}},
}

func parseAll(t testing.TB, lines []string) []dns.RR {
	var out []dns.RR
	for _, l := range lines {
		out = append(out, mustRR(t, l))
	}
	return out
}

// TestRFC4034_6_SignedDataMatchesMiekg checks SignedData differentially:
// miekg/dns signs each RRset (Ed25519, ECDSA P-256) and the signature
// must verify over SignedData of the same RRset as a peer sends it
// (ed25519.Verify, ecdsa.Verify), as miekg's own Verify does.
func TestRFC4034_6_SignedDataMatchesMiekg(t *testing.T) {
	keys := newTestKeys(t)
	for _, c := range signedDataCases {
		for _, k := range keys {
			t.Run(c.name+"/"+dns.AlgorithmToString[k.key.Algorithm], func(t *testing.T) {
				signed := parseAll(t, c.signed)
				received := signed
				if c.received != nil {
					received = parseAll(t, c.received)
				}
				// An RRset's owners are one string (dns.IsRRset, which
				// both verifiers apply); its case differs from the signed.
				for _, rr := range received {
					rr.Header().Name = received[0].Header().Name
				}
				sig := &dns.RRSIG{Algorithm: k.key.Algorithm, KeyTag: k.key.KeyTag(), SignerName: "Example.COM.", Inception: 1700000000, Expiration: 1900000000}
				if err := sig.Sign(k.priv, signed); err != nil {
					t.Fatal(err)
				}
				if c.wildLabel > 0 && int(sig.Labels) != c.wildLabel {
					t.Fatalf("labels %d, want %d", sig.Labels, c.wildLabel)
				}
				sig.Hdr.Name = received[0].Header().Name
				if err := sig.Verify(k.key, received); err != nil {
					t.Fatalf("miekg Verify: %v", err)
				}
				if !k.verify(t, sig, received) {
					t.Fatal("miekg's signature does not verify over SignedData")
				}
				// RFC 4034 §6.3 sorts by canonical RDATA: shuffled and
				// doubled input gives the same data.
				want, _ := SignedData(sig, received)
				r := rand.New(rand.NewPCG(1, uint64(len(received))))
				for range 5 {
					mixed := append(append([]dns.RR(nil), received...), received...)
					r.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
					if got, _ := SignedData(sig, mixed); string(got) != string(want) {
						t.Fatal("order or duplicates change SignedData")
					}
				}
			})
		}
	}
	// RFC 6840 §5.1: NSEC's next name is not lowercased, so changing its
	// case breaks the signature, in miekg/dns and here alike.
	for _, k := range keys {
		signed := parseAll(t, []string{"alpha.example.com. 300 IN NSEC Beta.Example.com. A RRSIG NSEC"})
		sig := &dns.RRSIG{Algorithm: k.key.Algorithm, KeyTag: k.key.KeyTag(), SignerName: "example.com.", Inception: 1700000000, Expiration: 1900000000}
		if err := sig.Sign(k.priv, signed); err != nil {
			t.Fatal(err)
		}
		lower := parseAll(t, []string{"alpha.example.com. 300 IN NSEC beta.example.com. A RRSIG NSEC"})
		if sig.Verify(k.key, lower) == nil || k.verify(t, sig, lower) {
			t.Errorf("%s: NSEC next name lowercased still verifies", dns.AlgorithmToString[k.key.Algorithm])
		}
	}
}

// testKey is a key miekg/dns signs with and a verifier of its signature
// over SignedData that does not go through miekg/dns.
type testKey struct {
	key  *dns.DNSKEY
	priv crypto.Signer
}

func newTestKeys(t testing.TB) []testKey {
	var out []testKey
	for _, alg := range []uint8{dns.ED25519, dns.ECDSAP256SHA256} {
		k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300}, Flags: 257, Protocol: 3, Algorithm: alg}
		priv, err := k.Generate(256)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testKey{k, priv.(crypto.Signer)})
	}
	return out
}

// verify checks sig over SignedData(sig, rrset) with the standard
// library: Ed25519 (RFC 8080 §4) or ECDSA P-256 with SHA-256, r|s (RFC
// 6605 §4).
func (k testKey) verify(t testing.TB, sig *dns.RRSIG, rrset []dns.RR) bool {
	t.Helper()
	data, err := SignedData(sig, rrset)
	if err != nil {
		t.Fatalf("SignedData: %v", err)
	}
	pub, _ := base64.StdEncoding.DecodeString(k.key.PublicKey)
	s, _ := base64.StdEncoding.DecodeString(sig.Signature)
	switch k.key.Algorithm {
	case dns.ED25519:
		return ed25519.Verify(ed25519.PublicKey(pub), data, s)
	case dns.ECDSAP256SHA256:
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pub...))
		if err != nil || len(s) != 64 {
			t.Fatalf("key or signature: %v", err)
		}
		h := sha256.Sum256(data)
		return ecdsa.Verify(p, h[:], new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:]))
	}
	t.Fatalf("algorithm %d", k.key.Algorithm)
	return false
}

// Where SignedData goes beyond miekg/dns's signing input: an escaped
// upper-case letter (\065, "A") is lowercased like a plain one (RFC 4034
// §6.2 lowercases the letters of the wire form, RFC 4343 §2.1), in the
// owner and in RDATA names; a wildcard expanded at the root (RRSIG
// labels 0, RFC 4035 §5.3.2) has owner "*.", where miekg/dns builds the
// invalid "*..".
func TestRFC4034_6_2_EscapedLettersAndRootWildcard(t *testing.T) {
	sig := &dns.RRSIG{TypeCovered: dns.TypeMX, Algorithm: dns.ED448, Labels: 3, OrigTtl: 300, SignerName: `Ex\065mple.com.`}
	plain, err := SignedData(sig, []dns.RR{mustRR(t, "a.examPle.com. 1 IN MX 1 mail.example.com.")})
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range []string{`\065.ex\065mple.com. 1 IN MX 1 m\065il.example.com.`, `\097.EXAMPLE.com. 9 IN MX 1 MAIL.ex\097mple.com.`} {
		got, err := SignedData(sig, []dns.RR{mustRR(t, rr)})
		if err != nil || string(got) != string(plain) {
			t.Errorf("%s: signed data differs from the lowercase form (%v)", rr, err)
		}
	}
	if !strings.Contains(string(plain), "\x07example\x03com\x00") {
		t.Error("signer name not in canonical form")
	}
	root := &dns.RRSIG{TypeCovered: dns.TypeA, Algorithm: dns.ED448, Labels: 0, OrigTtl: 300, SignerName: "."}
	exp, err1 := SignedData(root, []dns.RR{mustRR(t, "Foo. 300 IN A 192.0.2.1")})
	wild, err2 := SignedData(root, []dns.RR{mustRR(t, "*. 300 IN A 192.0.2.1")})
	if err1 != nil || err2 != nil || string(exp) != string(wild) || !strings.Contains(string(exp), "\x01*\x00\x00\x01") {
		t.Fatalf("root wildcard expansion: %v %v %q", err1, err2, exp)
	}
	if _, err := SignedData(sig, nil); err == nil {
		t.Error("empty RRset: no error")
	}
	if _, err := SignedData(sig, []dns.RR{nil}); err == nil {
		t.Error("nil record: no error")
	}
}
