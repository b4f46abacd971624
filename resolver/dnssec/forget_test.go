package dnssec_test

import (
	"context"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestForgetBogus: a DNSKEY RRset forged by the server asked is a bogus
// verdict kept for the bogus TTL; ForgetBogus on a name below drops it,
// and the next validation fetches the keys again (a validation restart
// with another server).
func TestForgetBogus(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	other, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	lying := true
	f := dnssec.FetchFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m := tr.ask(name, qtype)
		if lying && qtype == dns.TypeDNSKEY && name == "example.com." {
			m.Answer = []dns.RR{other.DNSKEY}
		}
		return m, nil
	})
	v := tr.validator(t, dnssec.Config{})
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	resp := tr.ask(q.Name, q.Qtype)
	want(t, v.Validate(context.Background(), f, q, resp), dnssec.Bogus, dns.ExtendedErrorCodeDNSKEYMissing)
	lying = false
	want(t, v.Validate(context.Background(), f, q, resp), dnssec.Bogus, dns.ExtendedErrorCodeDNSKEYMissing) // kept
	before := v.CacheBytes()
	v.ForgetBogus(q.Name)
	if v.CacheBytes() >= before {
		t.Fatalf("cache bytes %d, %d before: the verdict was not dropped", v.CacheBytes(), before)
	}
	want(t, v.Validate(context.Background(), f, q, resp), dnssec.Secure, 0)
}
