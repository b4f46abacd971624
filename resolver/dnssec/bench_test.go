package dnssec_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// BenchmarkValidate validates a signed answer three zones deep (root,
// com., example.com.) per algorithm: "fresh chain" with an empty key
// cache (3 DNSKEY and 2 DS fetches, served in-process, and their
// checks), "cached keys" with the chain's keys cached (one RRSIG check),
// beside "RRSIG.Verify alone", the floor. Ed448, which miekg/dns cannot
// verify, has "SignedData+ed448.Verify alone" (the same work as the
// validator's Ed448 check) and "ed448.Verify alone" (circl, the signing
// input built once) in its place, beside Ed25519's.
func BenchmarkValidate(b *testing.B) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.ED448, dns.RSASHA256} {
		s := resolvertest.Signing{Algorithm: alg}
		tr := newTree(b, s, child{origin: "example.com.", text: exampleText, s: s})
		q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
		resp := tr.ask(q.Name, q.Qtype)
		f := tr.fetcher()
		ctx := context.Background()
		name := dns.AlgorithmToString[alg]
		b.Run(name+"/fresh chain", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := dnssec.New(dnssec.Config{Anchors: tr.anchor})
				if r := v.Validate(ctx, f, q, resp); r.Status != dnssec.Secure {
					b.Fatal(r)
				}
			}
		})
		b.Run(name+"/cached keys", func(b *testing.B) {
			v, _ := dnssec.New(dnssec.Config{Anchors: tr.anchor})
			v.Validate(ctx, f, q, resp)
			b.ReportAllocs()
			for b.Loop() {
				if r := v.Validate(ctx, f, q, resp); r.Status != dnssec.Secure {
					b.Fatal(r)
				}
			}
		})
		key := tr.zones["example.com."].Key().DNSKEY
		sig := resp.Answer[1].(*dns.RRSIG)
		set := resp.Answer[:1]
		if alg == dns.ED448 {
			pub, _ := base64.StdEncoding.DecodeString(key.PublicKey)
			s, _ := base64.StdEncoding.DecodeString(sig.Signature)
			b.Run(name+"/SignedData+ed448.Verify alone", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					data, err := dnssec.SignedData(sig, set)
					if err != nil || !ed448.Verify(pub, data, s, "") {
						b.Fatal(err)
					}
				}
			})
			data, _ := dnssec.SignedData(sig, set)
			b.Run(name+"/ed448.Verify alone", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !ed448.Verify(pub, data, s, "") {
						b.Fatal("does not verify")
					}
				}
			})
			continue
		}
		b.Run(name+"/RRSIG.Verify alone", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := sig.Verify(key, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
