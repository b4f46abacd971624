package resolvertest_test

import (
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestSignedServerOnHierarchy serves a signed zone from a Hierarchy
// (Config.Wrap): a DO query gets the RRSIG (RFC 4035 §3.1.1), a query
// without DO does not (RFC 3225 §3), and a negative answer carries its
// NSEC proof (RFC 4035 §3.1.3).
func TestSignedServerOnHierarchy(t *testing.T) {
	text := "@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns 300 IN A 127.0.0.4\nwww 300 IN A 192.0.2.1\n"
	text = strings.ReplaceAll(text, "@", "signed.test.")
	z, err := resolvertest.SignZone("signed.test.", text, resolvertest.Signing{Algorithm: dns.ED25519})
	if err != nil {
		t.Fatal(err)
	}
	srv := resolvertest.NewSignedServer([]*resolvertest.SignedZone{z}, nil)
	h, err := resolvertest.New(resolvertest.Config{
		Files: []resolvertest.ZoneFile{{Addr: "127.0.0.4", Origin: z.Origin(), Text: z.Text()}},
		Wrap:  func(string, *authority.Server) dns.Handler { return srv },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ask := func(name string, do bool) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, do)
		r, _, err := new(dns.Client).Exchange(q, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.Port)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	count := func(rrs []dns.RR, t uint16) int {
		n := 0
		for _, rr := range rrs {
			if rr.Header().Rrtype == t {
				n++
			}
		}
		return n
	}
	if r := ask("www.signed.test.", true); count(r.Answer, dns.TypeRRSIG) != 1 {
		t.Fatalf("DO answer without its RRSIG:\n%v", r)
	}
	if r := ask("www.signed.test.", false); count(r.Answer, dns.TypeRRSIG) != 0 {
		t.Fatalf("answer without DO carries RRSIGs:\n%v", r)
	}
	if r := ask("nope.signed.test.", true); r.Rcode != dns.RcodeNameError || count(r.Ns, dns.TypeNSEC) == 0 {
		t.Fatalf("NXDOMAIN without NSEC:\n%v", r)
	}
}

// TestSigningKnobs checks what SignZone's breakages really serve: a
// KSK/ZSK split (RFC 6781 §3.1) signs the DNSKEY RRset with the KSK and
// the rest with the ZSK, or the keys with the ZSK alone; extra keys are
// published; LabelsDelta signs an RRset as a wildcard expansion (a valid
// signature, RFC 4035 §5.3.4) or raises the Labels field (RFC 4035
// §5.3.1).
func TestSigningKnobs(t *testing.T) {
	const origin = "knobs.test."
	text := strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns 300 IN A 127.0.0.4\nwww 300 IN A 192.0.2.1\nless.a 300 IN A 192.0.2.2\nmore 300 IN A 192.0.2.3\n", "@", origin)
	mk := func(flags uint16) *resolvertest.Key {
		k, err := resolvertest.NewKeySize(origin, dns.ECDSAP384SHA384, 0)
		if err != nil {
			t.Fatal(err)
		}
		k.DNSKEY.Flags = flags
		return k
	}
	ksk, zsk, extra := mk(257), mk(256), mk(256)
	ask := func(z *resolvertest.SignedZone, name string, qtype uint16) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.SetEdns0(4096, true)
		return resolvertest.NewSignedServer([]*resolvertest.SignedZone{z}, nil).Answer(q)
	}
	sigOf := func(m *dns.Msg) *dns.RRSIG {
		for _, rr := range m.Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				return s
			}
		}
		t.Fatalf("no RRSIG:\n%v", m)
		return nil
	}
	for _, zskSigns := range []bool{false, true} {
		z, err := resolvertest.SignZone(origin, text, resolvertest.Signing{Key: ksk, ZSK: zsk, KeysSignedByZSK: zskSigns, ExtraKeys: []*resolvertest.Key{extra},
			LabelsDelta: map[string]int{"less.a." + origin: -1, "more." + origin: 1}})
		if err != nil {
			t.Fatal(err)
		}
		keys := ask(z, origin, dns.TypeDNSKEY)
		var set []dns.RR
		for _, rr := range keys.Answer {
			if rr.Header().Rrtype == dns.TypeDNSKEY {
				set = append(set, rr)
			}
		}
		if len(set) != 3 {
			t.Fatalf("DNSKEY RRset of %d keys, want 3 (KSK, ZSK, extra)", len(set))
		}
		want := ksk
		if zskSigns {
			want = zsk
		}
		if s := sigOf(keys); s.KeyTag != want.DNSKEY.KeyTag() || s.Verify(want.DNSKEY, set) != nil {
			t.Fatalf("ZSK signs keys %v: DNSKEY RRSIG by %d, want %d", zskSigns, s.KeyTag, want.DNSKEY.KeyTag())
		}
		www := ask(z, "www."+origin, dns.TypeA)
		if s := sigOf(www); s.KeyTag != zsk.DNSKEY.KeyTag() || s.Verify(zsk.DNSKEY, www.Answer[:1]) != nil {
			t.Fatalf("www signed by %d, want the ZSK %d", s.KeyTag, zsk.DNSKEY.KeyTag())
		}
		less := ask(z, "less.a."+origin, dns.TypeA)
		if s := sigOf(less); s.Labels != 3 || s.Hdr.Name != "less.a."+origin || s.Verify(zsk.DNSKEY, less.Answer[:1]) != nil {
			t.Fatalf("labels -1: %v", s)
		}
		if s := sigOf(ask(z, "more."+origin, dns.TypeA)); s.Labels != 4 {
			t.Fatalf("labels +1: %v", s)
		}
	}
}

// TestSignZoneEd448: Ed448 keys (RFC 8080 §3: 57-byte public keys) sign
// every RRset with 114-byte signatures (§4) over the data the validator
// checks, including the wildcard expansion (LabelsDelta); a hand-made
// Key of algorithm 16 without a private part signs junk.
func TestSignZoneEd448(t *testing.T) {
	const origin = "ed448.test."
	text := strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns 300 IN A 127.0.0.4\nwww 300 IN A 192.0.2.1\nless.a 300 IN A 192.0.2.2\n", "@", origin)
	z, err := resolvertest.SignZone(origin, text, resolvertest.Signing{Algorithm: dns.ED448, LabelsDelta: map[string]int{"less.a." + origin: -1}})
	if err != nil {
		t.Fatal(err)
	}
	key := z.Key().DNSKEY
	pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
	if key.Algorithm != dns.ED448 || len(pub) != ed448.PublicKeySize {
		t.Fatalf("key %v", key)
	}
	srv := resolvertest.NewSignedServer([]*resolvertest.SignedZone{z}, nil)
	for _, name := range []string{"www." + origin, "less.a." + origin} {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(4096, true)
		m := srv.Answer(q)
		if len(m.Answer) != 2 {
			t.Fatalf("%s:\n%v", name, m)
		}
		sig := m.Answer[1].(*dns.RRSIG)
		s, _ := base64.StdEncoding.DecodeString(sig.Signature)
		data, err := dnssec.SignedData(sig, m.Answer[:1])
		if err != nil || sig.Algorithm != dns.ED448 || sig.KeyTag != key.KeyTag() || !ed448.Verify(pub, data, s, "") {
			t.Fatalf("%s: signature %v does not verify (%v)", name, sig, err)
		}
	}
	junkKey := &dns.DNSKEY{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300}, Flags: 257, Protocol: 3, Algorithm: dns.ED448,
		PublicKey: key.PublicKey}
	jz, err := resolvertest.SignZone(origin, text, resolvertest.Signing{Key: &resolvertest.Key{DNSKEY: junkKey}})
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("www."+origin, dns.TypeA)
	q.SetEdns0(4096, true)
	m := resolvertest.NewSignedServer([]*resolvertest.SignedZone{jz}, nil).Answer(q)
	sig := m.Answer[1].(*dns.RRSIG)
	s, _ := base64.StdEncoding.DecodeString(sig.Signature)
	if data, _ := dnssec.SignedData(sig, m.Answer[:1]); sig.Algorithm != dns.ED448 || ed448.Verify(pub, data, s, "") {
		t.Fatalf("junk key: %v", sig)
	}
}
