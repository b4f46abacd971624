package resolver

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// BenchmarkValidatedCacheHit answers a cached answer of a signed zone
// through the resolver's dns.Handler, validated (trust anchor set) and
// not (DisableDNSSEC), to a query without and with DO (with DO the
// validated reply carries AD and the RRSIG), beside a miekg/dns handler
// answering a fixed record. cpu-ns/op is the process's CPU time per
// answer, steadier than ns/op on a shared machine.
func BenchmarkValidatedCacheHit(b *testing.B) {
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{{
		ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: "$TTL 3600\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.4\nwww IN A 192.0.2.1\n"},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	for _, c := range []struct {
		name     string
		validate bool
		do       bool
	}{{"unvalidated", false, false}, {"validated", true, false}, {"unvalidated+DO", false, true}, {"validated+DO", true, true}} {
		b.Run("resolver.Server/"+c.name, func(b *testing.B) {
			r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, DisableDNSSEC: !c.validate})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			srv, _ := NewServer(ServerConfig{Resolver: r})
			q := new(dns.Msg)
			q.SetQuestion("www.example.com.", dns.TypeA)
			q.SetEdns0(1232, c.do)
			if m := srv.answer(w.remote, w.local, q); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != (c.validate && c.do) {
				b.Fatalf("warm-up:\n%v", m)
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				srv.ServeDNS(w, q)
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("miekg fixed answer", func(b *testing.B) {
		rr, _ := dns.NewRR("www.example.com. 3600 IN A 192.0.2.1")
		hd := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{rr}
			w.WriteMsg(m)
		})
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		b.ReportAllocs()
		start := cpuTime()
		for b.Loop() {
			hd.ServeDNS(w, q)
		}
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkValidatedCacheHitInterleaved is BenchmarkValidatedCacheHit's
// four cases measured in one run, interleaved: each iteration times a
// batch of hits of every case in turn (starting with another case each
// time), and the median batch of each case is reported per hit, with
// the ratio validated/unvalidated with DO (issue #21 asks at most 1.10).
// Interleaving keeps a loaded machine's changes from favouring a case.
func BenchmarkValidatedCacheHitInterleaved(b *testing.B) {
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{{
		ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: "$TTL 3600\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.4\nwww IN A 192.0.2.1\n"},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	type hitCase struct {
		name string
		srv  *Server
		q    *dns.Msg
		ns   []float64
	}
	var cases []*hitCase
	for _, c := range []struct {
		name     string
		validate bool
		do       bool
	}{{"unvalidated", false, false}, {"validated", true, false}, {"unvalidated+DO", false, true}, {"validated+DO", true, true}} {
		r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, DisableDNSSEC: !c.validate})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		srv, _ := NewServer(ServerConfig{Resolver: r})
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		q.SetEdns0(1232, c.do)
		if m := srv.answer(w.remote, w.local, q); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData != (c.validate && c.do) {
			b.Fatalf("warm-up:\n%v", m)
		}
		cases = append(cases, &hitCase{name: c.name, srv: srv, q: q})
	}
	const batch = 64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for k := range cases {
			c := cases[(i+k)%len(cases)]
			start := time.Now()
			for range batch {
				c.srv.ServeDNS(w, c.q)
			}
			c.ns = append(c.ns, float64(time.Since(start).Nanoseconds())/batch)
		}
		i++
	}
	median := func(c *hitCase) float64 {
		slices.Sort(c.ns)
		return c.ns[len(c.ns)/2]
	}
	for _, c := range cases {
		b.ReportMetric(median(c), c.name+"-ns/hit")
	}
	b.ReportMetric(median(cases[3])/median(cases[2]), "validated/unvalidated+DO")
	b.ReportMetric(median(cases[1])/median(cases[0]), "validated/unvalidated")
}

// BenchmarkOtherCacheHits answers, through the dns.Handler of a
// validating resolver, the cache hits that are kept packed apart from a
// positive answer's (wirehit.go: builtSlot, wireIgnored) or not kept: a
// CNAME chain, NXDOMAIN and NODATA with their proofs, a query with an
// EDNS cookie (kept), the question spelled in mixed case (0x20: not
// kept), all with DO.
func BenchmarkOtherCacheHits(b *testing.B) {
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{{
		ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: "$TTL 3600\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.4\nwww IN A 192.0.2.1\nalias IN CNAME www\n"},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	for _, validated := range []bool{false, true} {
		r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, DisableDNSSEC: !validated})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		srv, _ := NewServer(ServerConfig{Resolver: r})
		name := map[bool]string{false: "unvalidated", true: "validated"}[validated]
		b.Run(name, func(b *testing.B) { otherCacheHits(b, srv, w) })
	}
}

func otherCacheHits(b *testing.B, srv *Server, w *benchWriter) {
	for _, c := range []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		cookie bool
	}{
		{"CNAME chain", "alias.example.com.", dns.TypeA, dns.RcodeSuccess, false},
		{"NXDOMAIN", "nope.example.com.", dns.TypeA, dns.RcodeNameError, false},
		{"NODATA", "www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, false},
		{"0x20", "wWw.ExAmPlE.cOm.", dns.TypeA, dns.RcodeSuccess, false},
		{"cookie", "www.example.com.", dns.TypeA, dns.RcodeSuccess, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := new(dns.Msg)
			q.SetQuestion(c.qname, c.qtype)
			q.SetEdns0(1232, true)
			if c.cookie {
				o := q.IsEdns0()
				o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
			}
			if m := srv.answer(w.remote, w.local, q); m.Rcode != c.rcode {
				b.Fatalf("warm-up:\n%v", m)
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				srv.ServeDNS(w, q)
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
