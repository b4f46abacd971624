package resolver

import (
	"strconv"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkForwardedMiss resolves a new name per operation (below a
// signed wildcard: one expansion and one NSEC proof to verify) through a
// forwarder that validates and one that does not (DisableDNSSEC), both in
// front of the same validating upstream on loopback, aggressive NSEC off
// (every name asked upstream); and through a validating forwarder with
// it on (RFC 8198 §5.3: answered from the cached validated wildcard).
// cpu-ns/op is the process's CPU time per answer, upstream included (the
// upstream's work is the same); the difference is the forwarder's
// validation.
func BenchmarkForwardedMiss(b *testing.B) {
	rig := newForwardRig(b, fwdKids()...)
	for _, c := range []struct {
		name           string
		validate, aggr bool
	}{{"unvalidated", false, false}, {"validated", true, false}, {"validated+RFC8198", true, true}} {
		name, validate := c.name, c.validate
		b.Run(name, func(b *testing.B) {
			_, _, srv := rig.forwarder(b, nil, Config{DisableDNSSEC: !validate, DisableAggressiveNSEC: !c.aggr})
			if m := ask(srv, "www.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != validate {
				b.Fatalf("warm-up:\n%v", m)
			}
			b.ReportAllocs()
			i := 0
			start := cpuTime()
			for b.Loop() {
				i++
				if m := ask(srv, "n"+strconv.Itoa(i)+".x"+strconv.Itoa(len(name))+".wild.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != validate {
					b.Fatalf("miss %d:\n%v", i, m)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
