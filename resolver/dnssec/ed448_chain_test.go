package dnssec_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// RFC 8080 (RFC 8624 §3.1: MAY): a chain of Ed448-signed zones validates
// as the other algorithms do: positive, wildcard, NXDOMAIN and NODATA
// answers, with the Ed448 key's SHA-256 DS in the parent; a changed
// answer or signature is bogus (EDE 6).
func TestRFC8080_Ed448ChainSecure(t *testing.T) {
	ed := resolvertest.Signing{Algorithm: dns.ED448}
	tr := newTree(t, ed, child{origin: "example.com.", text: exampleText, s: ed})
	key := tr.zones["example.com."].Key().DNSKEY
	if pub, err := base64.StdEncoding.DecodeString(key.PublicKey); err != nil || len(pub) != 57 {
		t.Fatalf("Ed448 public key of %d bytes, want 57 (RFC 8080 §3)", len(pub))
	}
	// RFC 4509 §2.1: SHA-256 of the owner and the DNSKEY RDATA, both in
	// wire form, computed here without miekg's ToDS.
	ds := tr.zones["example.com."].Key().DS()
	pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
	sum := sha256.Sum256(append([]byte("\x07example\x03com\x00\x01\x01\x03\x10"), pub...))
	if ds.Algorithm != dns.ED448 || ds.DigestType != dns.SHA256 || !strings.EqualFold(ds.Digest, hex.EncodeToString(sum[:])) {
		t.Fatalf("DS %v, want digest %x", ds, sum)
	}
	v := tr.validator(t, dnssec.Config{})
	for _, c := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.com.", dns.TypeA}, {"x.wild.example.com.", dns.TypeA}, {"nope.example.com.", dns.TypeA},
		{"www.example.com.", dns.TypeTXT}, {"example.com.", dns.TypeDNSKEY}, {"example.com.", dns.TypeDS},
		{"alias.example.com.", dns.TypeA},
	} {
		r, resp := tr.check(t, v, c.name, c.qtype)
		if r.Status != dnssec.Secure {
			t.Fatalf("%s %s: %v EDE %d (%s)\n%v", c.name, dns.TypeToString[c.qtype], r.Status, r.EDE, r.Reason, resp)
		}
	}
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	for name, change := range map[string]func(m *dns.Msg){
		"answer": func(m *dns.Msg) { m.Answer[0].(*dns.A).A = net.IPv4(203, 0, 113, 66) },
		"signature": func(m *dns.Msg) {
			s := m.Answer[1].(*dns.RRSIG)
			b, _ := base64.StdEncoding.DecodeString(s.Signature)
			b[10] ^= 1
			s.Signature = base64.StdEncoding.EncodeToString(b)
		},
		"short signature": func(m *dns.Msg) {
			s := m.Answer[1].(*dns.RRSIG)
			b, _ := base64.StdEncoding.DecodeString(s.Signature)
			s.Signature = base64.StdEncoding.EncodeToString(b[:113])
		},
	} {
		t.Run(name, func(t *testing.T) {
			resp := tr.ask(q.Name, q.Qtype)
			change(resp)
			want(t, v.Validate(context.Background(), tr.fetcher(), q, resp), dnssec.Bogus, dns.ExtendedErrorCodeDNSBogus)
		})
	}
}

// CVE-2023-50387 (KeyTrap) with Ed448, whose check costs about four of
// Ed25519's: keys of the zone's tag and signatures of full size (57 and
// 114 bytes, so each one reaches the cryptography) are bounded by the
// same limits as for the other algorithms.
func TestCVE_2023_50387_KeyTrapBoundedEd448(t *testing.T) {
	const n = 40
	ed := resolvertest.Signing{Algorithm: dns.ED448}
	tr := newTree(t, ed, child{origin: "example.com.", text: exampleText, s: resolvertest.Signing{Algorithm: dns.ED448, KeyTrap: n}})
	tag := tr.zones["example.com."].Key().DNSKEY.KeyTag()
	keys := tr.ask("example.com.", dns.TypeDNSKEY)
	for _, rr := range keys.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			if pub, _ := base64.StdEncoding.DecodeString(k.PublicKey); k.KeyTag() != tag || len(pub) != 57 {
				t.Fatalf("trap key tag %d of %d bytes, want tag %d, 57 bytes", k.KeyTag(), len(pub), tag)
			}
		}
	}
	resp := tr.ask("www.example.com.", dns.TypeA)
	if s := resp.Answer[1].(*dns.RRSIG); len(s.Signature) != 152 { // base64 of 114 bytes
		t.Fatalf("trap signature %q, want 114 bytes", s.Signature)
	}
	v := tr.validator(t, dnssec.Config{})
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Bogus, any)
	if r.Work.Verifications > 5+8*4 {
		t.Fatalf("%d verifications, want at most %d", r.Work.Verifications, 5+8*4)
	}
}
