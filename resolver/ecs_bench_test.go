package resolver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkECSCacheHit answers a cached A query whose name is in an ECS
// zone (its answer picked among 50 scopes for the client's /24, the
// option echoed), beside the same hit without ECS.
func BenchmarkECSCacheHit(b *testing.B) {
	rr, _ := dns.NewRR("www.example.com. 30 IN A 192.0.2.1")
	for _, c := range []struct {
		name string
		ecs  bool
	}{{"plain cache hit", false}, {"per-scope cache hit, option echoed", true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := Config{Roots: []netip.AddrPort{}}
			if c.ecs {
				cfg.ECS = ECSConfig{Zones: []string{"example.com."}}
			}
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			q := new(dns.Msg)
			q.SetQuestion("www.example.com.", dns.TypeA)
			q.SetEdns0(1232, false)
			if c.ecs {
				for i := range 50 {
					sent := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 0}), 24)
					r.putScoped([]dns.RR{rr}, nil, &ecsClient{subnet: sent}, ecsReply{sent: sent, scope: 24})
				}
				q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 7, 0)}}
			} else {
				r.putRRset([]dns.RR{rr}, rankAnswer)
			}
			srv, _ := NewServer(ServerConfig{Resolver: r, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
			w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 1, 7, 5), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
			b.ReportAllocs()
			for b.Loop() {
				srv.ServeDNS(w, q)
			}
		})
	}
}

// BenchmarkECSValidatedHit is BenchmarkECSCacheHit for a validating
// resolver and a client that sets DO: the answer with its RRSIG and AD,
// from the question's DNSSEC entry (global) or its scope's (per-scope,
// ecs_dnssec.go).
func BenchmarkECSValidatedHit(b *testing.B) {
	rr, _ := dns.NewRR("www.example.com. 30 IN A 192.0.2.1")
	sig, _ := dns.NewRR("www.example.com. 30 IN RRSIG A 13 3 30 20370101000000 20260101000000 12345 example.com. AAAA")
	ds, _ := dns.NewRR(". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	for _, c := range []struct {
		name string
		ecs  bool
	}{{"global validated hit, DO", false}, {"per-scope validated hit, DO, option echoed", true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := Config{Roots: []netip.AddrPort{}, TrustAnchors: []dns.RR{ds}}
			if c.ecs {
				cfg.ECS = ECSConfig{Zones: []string{"example.com."}}
			}
			r, err := New(cfg)
			if err != nil || !r.validating() {
				b.Fatal(err)
			}
			defer r.Close()
			m := new(dns.Msg)
			m.SetQuestion(q.Name, q.Qtype)
			m.SetEdns0(1232, true)
			if c.ecs {
				for i := range 50 {
					sent := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 0}), 24)
					own := &ecsClient{subnet: sent}
					r.putScoped([]dns.RR{rr}, nil, own, ecsReply{sent: sent, scope: 24})
					own.widen(24)
					r.putDNSSECFor(q, own, true, []dns.RR{sig}, nil, 30*time.Second)
				}
				m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 7, 0)}}
			} else {
				r.putRRset([]dns.RR{rr}, rankAnswer)
				r.putDNSSEC(q, true, []dns.RR{sig}, nil, 30*time.Second)
			}
			srv, _ := NewServer(ServerConfig{Resolver: r, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
			w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 1, 7, 5), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
			if got := srv.answer(w.remote, w.local, m); !got.AuthenticatedData || len(got.Answer) != 2 {
				b.Fatalf("not a validated hit with its RRSIG:\n%v", got)
			}
			b.ReportAllocs()
			for b.Loop() {
				srv.ServeDNS(w, m)
			}
		})
	}
}
