package dnssec

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzSignedData feeds arbitrary records (a DNS message's sections) to
// SignedData and the Ed448 verifier: they must never panic. Then
// miekg/dns signs the answer's first RRset with Ed25519, as it stands
// and as the wildcard it would expand from (RFC 4035 §5.3.2), and its
// Verify and ed25519.Verify over SignedData must agree on the RRset as
// sent and with its owner's case changed (RFC 4034 §6.2, §6.3).
func FuzzSignedData(f *testing.F) {
	for _, c := range signedDataCases {
		m := new(dns.Msg)
		m.SetQuestion("example.com.", dns.TypeA)
		m.Answer = parseAll(f, c.signed)
		if c.received != nil {
			m.Ns = parseAll(f, c.received)
		}
		m.Extra = []dns.RR{mustRR(f, "example.com. 3600 IN RRSIG MX 16 2 3600 1440021600 1438207200 9713 example.com. "+
			"3cPAHkmlnxcDHMyg7vFC34l0blBhuG1qpwLmjInI8w1CMB29FkEAIJUA0amxWndkmnBZ6SKiwZSAxGILn/NBtOXft0+Gj7FSvOKxE/07+4RQvE581N3Aj/JtIyaiYVdnYtyMWbSNyGEY2213WKsJlwEA"),
			mustRR(f, "example.com. 3600 IN DNSKEY 257 3 16 3kgROaDjrh0H2iuixWBrc8g2EpBBLCdGzHmn+G2MpTPhpj/OiBVHHSfPodx1FYYUcJKm1MDpJtIA")}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1))
	}
	keys := newTestKeys(f)
	ed := keys[0]
	f.Fuzz(func(t *testing.T, b []byte, wild uint8) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil || len(m.Answer) == 0 {
			return
		}
		all := append(append(append([]dns.RR(nil), m.Answer...), m.Ns...), m.Extra...)
		h0 := m.Answer[0].Header()
		var rrset []dns.RR
		for _, rr := range m.Answer {
			if h := rr.Header(); h.Name == h0.Name && h.Rrtype == h0.Rrtype && h.Class == h0.Class {
				rrset = append(rrset, rr)
			}
		}
		// Hostile input: no panic, whatever the records.
		for _, rr := range all {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			SignedData(sig, rrset)
			SignedData(sig, all)
			s448 := *sig
			s448.Algorithm = dns.ED448
			for _, kr := range all {
				if k, ok := kr.(*dns.DNSKEY); ok {
					k448 := *k
					k448.Algorithm = dns.ED448
					verifySig(sig, k, rrset)
					verifySig(&s448, &k448, rrset)
					verifySig(&s448, &k448, all)
				}
			}
		}
		if h0.Rrtype == dns.TypeRRSIG || h0.Rrtype == dns.TypeOPT {
			return
		}
		signed := rrset
		labels := dns.SplitDomainName(h0.Name)
		if n := int(wild) % 4; n > 0 && len(labels) > n {
			// Sign the wildcard *.<rightmost labels> and check its expansion.
			signed = nil
			for _, rr := range rrset {
				c := dns.Copy(rr)
				c.Header().Name = "*." + strings.Join(labels[n:], ".") + "."
				signed = append(signed, c)
			}
		}
		key := *ed.key
		key.Hdr.Name = dns.CanonicalName(strings.Join(labels[min(len(labels), 1):], ".") + ".")
		key.Hdr.Class = h0.Class
		sig := &dns.RRSIG{Algorithm: dns.ED25519, KeyTag: key.KeyTag(), SignerName: key.Hdr.Name, Inception: 1, Expiration: 2}
		if sig.Sign(ed.priv, signed) != nil {
			return
		}
		sig.Hdr.Name = h0.Name
		upper := make([]dns.RR, len(rrset))
		for i, rr := range rrset {
			upper[len(rrset)-1-i] = dns.Copy(rr)
			upper[len(rrset)-1-i].Header().Name = strings.ToUpper(h0.Name)
		}
		pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
		s, _ := base64.StdEncoding.DecodeString(sig.Signature)
		for _, set := range [][]dns.RR{rrset, upper} {
			theirs := sig.Verify(&key, set) == nil
			data, err := SignedData(sig, set)
			mine := err == nil && sigFits(sig, &key, set) && ed25519.Verify(pub, data, s)
			if theirs != mine {
				t.Fatalf("miekg Verify %v, SignedData %v (err %v) for %v signed as %v with %v", theirs, mine, err, set, signed, sig)
			}
		}
	})
}
