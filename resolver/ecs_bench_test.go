package resolver

import (
	"net"
	"net/netip"
	"testing"

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
