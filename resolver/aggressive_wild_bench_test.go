package resolver

import (
	"net"
	"strconv"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRFC8198_WildcardMiss answers, through the resolver's
// dns.Handler with DO, a new name below a signed wildcard per operation
// (the miss workload of scripts/bench-resolver.sh): synthesised from the
// cached validated wildcard and NSEC (RFC 8198 §5.3), and asked upstream
// and validated (DisableAggressiveNSEC; the in-process authoritative
// server's CPU time is in its cpu-ns/op), beside a validated cache hit of
// one name and a miekg/dns handler answering a fixed record.
func BenchmarkRFC8198_WildcardMiss(b *testing.B) {
	h, anchors := aggrZones(b, wildKid(wildText))
	w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	for _, c := range []struct {
		name       string
		aggressive bool
		newName    bool
	}{{"validated cache hit", true, false}, {"synthesised", true, true}, {"upstream+validated", false, true}} {
		b.Run("resolver.Server/"+c.name, func(b *testing.B) {
			_, srv := aggrResolver(b, h, anchors, nil, func(cfg *Config) { cfg.DisableAggressiveNSEC = !c.aggressive })
			q := new(dns.Msg)
			q.SetQuestion("a.wild.example.com.", dns.TypeA)
			q.SetEdns0(1232, true)
			if m := srv.answer(w.remote, w.local, q); len(m.Answer) == 0 || !m.AuthenticatedData {
				b.Fatalf("warm-up:\n%v", m)
			}
			i := 0
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if c.newName {
					i++
					q.Question[0].Name = "b" + strconv.Itoa(i) + ".wild.example.com."
				}
				srv.ServeDNS(w, q)
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("miekg fixed answer", func(b *testing.B) {
		rr, _ := dns.NewRR("a.wild.example.com. 300 IN A 192.0.2.81")
		hd := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{rr}
			w.WriteMsg(m)
		})
		q := new(dns.Msg)
		q.SetQuestion("a.wild.example.com.", dns.TypeA)
		b.ReportAllocs()
		start := cpuTime()
		for b.Loop() {
			hd.ServeDNS(w, q)
		}
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}
