package authority

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkServer answers from a zone of 10,000 names: a name that
// exists, one that does not (NXDOMAIN), and one synthesised from a
// wildcard, beside a miekg/dns handler answering a fixed record.
func BenchmarkServer(b *testing.B) {
	var text strings.Builder
	text.WriteString("$TTL 300\nbig.test. IN SOA ns.big.test. admin.big.test. 1 7200 3600 1209600 60\nbig.test. IN NS ns.big.test.\nns IN A 192.0.2.53\n*.wild IN A 192.0.2.7\n")
	for i := range 10000 {
		fmt.Fprintf(&text, "host%d.dept%d IN A 192.0.2.%d\n", i, i%50, i%250+1)
	}
	z, err := ParseZone(strings.NewReader(text.String()), "big.test.", "bench")
	if err != nil {
		b.Fatal(err)
	}
	zs, _ := New(Config{Zones: []*Zone{z}})
	for _, c := range []struct{ name, qname string }{
		{"exists", "host77.dept27.big.test."},
		{"nxdomain", "nope.dept27.big.test."},
		{"wildcard", "anything.wild.big.test."},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(c.qname, dns.TypeA)
			b.ReportAllocs()
			for b.Loop() {
				if m := zs.Answer(q); m.Rcode == dns.RcodeServerFailure {
					b.Fatal(m)
				}
			}
		})
	}
	b.Run("miekg fixed answer", func(b *testing.B) {
		rr, _ := dns.NewRR("host77.dept27.big.test. 300 IN A 192.0.2.78")
		q := new(dns.Msg)
		q.SetQuestion("host77.dept27.big.test.", dns.TypeA)
		b.ReportAllocs()
		for b.Loop() {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Answer = []dns.RR{rr}
		}
	})
}
