package dnssec_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestRFC7646_InsecureDomains: below a name of Config.InsecureDomains
// (Unbound's domain-insecure, a negative trust anchor) data is insecure,
// signed or not, unsigned private data included, and its chain is not
// fetched; beside it the zone stays secure; a trust anchor at the name
// overrides it, as in Unbound.
func TestRFC7646_InsecureDomains(t *testing.T) {
	tr := newTree(t, resolvertest.Signing{}, child{origin: "example.com.", text: exampleText})
	v := tr.validator(t, dnssec.Config{InsecureDomains: []string{"WWW.example.com"}})
	r, _ := tr.check(t, v, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Insecure, 0)
	if r.Work.Fetches != 0 {
		t.Fatalf("work %+v: the chain was walked below an insecure domain", r.Work)
	}
	// Unsigned data an upstream serves for a private name there.
	private := new(dns.Msg)
	private.SetQuestion("db.www.example.com.", dns.TypeA)
	private.Response = true
	private.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "db.www.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}}}
	want(t, v.Validate(context.Background(), tr.fetcher(), private.Question[0], private), dnssec.Insecure, 0)
	private.Rcode, private.Answer = dns.RcodeNameError, nil
	want(t, v.Validate(context.Background(), tr.fetcher(), private.Question[0], private), dnssec.Insecure, 0)
	// The same unsigned data without the exemption is bogus.
	strict := tr.validator(t, dnssec.Config{})
	private.Rcode = dns.RcodeSuccess
	private.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "db.www.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}}}
	want(t, strict.Validate(context.Background(), tr.fetcher(), private.Question[0], private), dnssec.Bogus, any)
	// A sibling stays secure.
	r, _ = tr.check(t, v, "alias.example.com.", dns.TypeCNAME)
	want(t, r, dnssec.Secure, 0)
	// A trust anchor at the insecure name wins.
	over := tr.validator(t, dnssec.Config{Anchors: append([]dns.RR{tr.zones["example.com."].Key().DS()}, tr.anchor...), InsecureDomains: []string{"example.com."}})
	r, _ = tr.check(t, over, "www.example.com.", dns.TypeA)
	want(t, r, dnssec.Secure, 0)
	if _, err := dnssec.New(dnssec.Config{InsecureDomains: []string{"a..b"}}); !errors.Is(err, dnssec.ErrInvalidConfig) {
		t.Fatalf("bad name: %v", err)
	}
}
