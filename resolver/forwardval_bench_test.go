package resolver

import (
	"strconv"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkForwardedMiss resolves a new name per operation (below a
// signed wildcard: one expansion and one NSEC proof to verify) through a
// forwarder that validates and one that does not (DisableDNSSEC), both in
// front of the same validating upstream on loopback. cpu-ns/op is the
// process's CPU time per answer, upstream included (the upstream's work
// is the same in both); the difference is the forwarder's validation.
func BenchmarkForwardedMiss(b *testing.B) {
	rig := newForwardRig(b, fwdKids()...)
	for _, validate := range []bool{false, true} {
		name := "unvalidated"
		if validate {
			name = "validated"
		}
		b.Run(name, func(b *testing.B) {
			_, _, srv := rig.forwarder(b, nil, Config{DisableDNSSEC: !validate})
			if m := ask(srv, "www.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != validate {
				b.Fatalf("warm-up:\n%v", m)
			}
			b.ReportAllocs()
			i := 0
			start := cpuTime()
			for b.Loop() {
				i++
				if m := ask(srv, "n"+strconv.Itoa(i)+"."+name+".wild.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != validate {
					b.Fatalf("miss %d:\n%v", i, m)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
