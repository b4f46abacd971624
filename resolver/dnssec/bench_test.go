package dnssec_test

import (
	"context"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// BenchmarkValidate validates a signed answer three zones deep (root,
// com., example.com.) per algorithm: "fresh chain" with an empty key
// cache (3 DNSKEY and 2 DS fetches, served in-process, and their
// checks), "cached keys" with the chain's keys cached (one RRSIG check),
// beside "RRSIG.Verify alone", the floor.
func BenchmarkValidate(b *testing.B) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.RSASHA256} {
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
		b.Run(name+"/RRSIG.Verify alone", func(b *testing.B) {
			key := tr.zones["example.com."].Key().DNSKEY
			sig := resp.Answer[1].(*dns.RRSIG)
			set := resp.Answer[:1]
			b.ReportAllocs()
			for b.Loop() {
				if err := sig.Verify(key, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
