package authority

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkSteer answers a steered name (ECS located through the static
// table, then the Geography policy) beside a plain name of the same zone,
// the baseline the steered answer is held to (at most 1.5x its cost).
func BenchmarkSteer(b *testing.B) {
	var h HealthTable
	h.Set(netip.MustParseAddr("203.0.113.1"), false)
	s := steerServer(b, Steer{}, &h)
	for _, c := range []struct {
		name, qname string
		ecs         bool
	}{
		{"plain zone answer", "plain.cdn.test.", false},
		{"steered by source address", "shop.cdn.test.", false},
		{"steered by ECS", "shop.cdn.test.", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(c.qname, dns.TypeA)
			q.SetEdns0(1232, false)
			if c.ecs {
				q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: netip.MustParseAddr("10.2.3.0").AsSlice()}}
			}
			src := netip.MustParseAddr("10.1.0.1")
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if m := s.AnswerFrom(q, src); len(m.Answer) == 0 {
					b.Fatal(m)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// The location lookup itself allocates nothing.
func TestStaticLocatorNoAllocs(t *testing.T) {
	l := testLocator(t)
	a := netip.MustParseAddr("10.4.7.3")
	if n := testing.AllocsPerRun(100, func() { l.Locate(a) }); n != 0 {
		t.Fatalf("%v allocations per Locate", n)
	}
}
