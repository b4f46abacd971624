package authority_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// A steered name: clients in Germany get the Frankfurt edges, clients in
// the United States the Ashburn ones, and when Ashburn fails its clients
// move to Frankfurt within the 30 s TTL. The ECS option of each answer
// tells the resolver which client prefix it holds for.
func ExampleSteer() {
	z, _ := authority.ParseZone(strings.NewReader(`$TTL 300
cdn.example. IN SOA ns.cdn.example. admin.cdn.example. 1 7200 3600 1209600 60
cdn.example. IN NS ns.cdn.example.
ns IN A 192.0.2.53
`), "cdn.example.", "cdn.example.zone")
	where, _ := authority.NewStaticLocator([]authority.StaticLocation{
		{Network: netip.MustParsePrefix("198.18.0.0/16"), Location: authority.Location{Country: "DE", Continent: "EU"}},
		{Network: netip.MustParsePrefix("198.19.0.0/16"), Location: authority.Location{Country: "US", Continent: "NA"}},
	})
	var health authority.HealthTable
	zs, err := authority.New(authority.Config{
		Zones:   []*authority.Zone{z},
		Locator: where,
		Health:  &health,
		Steering: []authority.Steer{{
			Name: "shop.cdn.example.",
			Pools: []authority.Pool{
				{Name: "fra", Countries: []string{"DE"}, Continents: []string{"EU"}, Lat: 50.1, Lon: 8.7,
					Members: []authority.Member{{Addr: netip.MustParseAddr("192.0.2.10")}}},
				{Name: "iad", Countries: []string{"US"}, Continents: []string{"NA"}, Lat: 39.0, Lon: -77.5,
					Members: []authority.Member{{Addr: netip.MustParseAddr("192.0.2.20")}}},
			},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ask := func(subnet string) {
		p := netip.MustParsePrefix(subnet)
		q := new(dns.Msg)
		q.SetQuestion("shop.cdn.example.", dns.TypeA)
		q.SetEdns0(1232, false)
		q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}}
		m := zs.Answer(q)
		for _, rr := range m.Answer {
			fmt.Printf("%-16s %s  scope /%d\n", subnet, strings.ReplaceAll(rr.String(), "\t", " "), m.IsEdns0().Option[0].(*dns.EDNS0_SUBNET).SourceScope)
		}
	}
	ask("198.18.7.0/24")
	ask("198.19.7.0/24")
	health.Set(netip.MustParseAddr("192.0.2.20"), false)
	ask("198.19.7.0/24")
	// Output:
	// 198.18.7.0/24    shop.cdn.example. 30 IN A 192.0.2.10  scope /16
	// 198.19.7.0/24    shop.cdn.example. 30 IN A 192.0.2.20  scope /16
	// 198.19.7.0/24    shop.cdn.example. 30 IN A 192.0.2.10  scope /16
}
