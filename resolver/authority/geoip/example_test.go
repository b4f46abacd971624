package geoip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// A GeoLite2-City database places clients for a steered name: a client
// in Germany gets the Frankfurt edge, one in the US the Ashburn edge. (The
// test writes its own small database; use Open with the path of a real
// GeoLite2-Country or GeoLite2-City file.)
func ExampleDB() {
	db, err := OpenBytes(writeMMDB(map[netip.Prefix]map[string]mmdbValue{
		netip.MustParsePrefix("198.18.0.0/15"): cityRecord("DE", "EU", 52.5, 13.4),
		netip.MustParsePrefix("198.51.0.0/16"): cityRecord("US", "NA", 40.7, -74),
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	z, _ := authority.ParseZone(strings.NewReader(`cdn.example. 300 IN SOA ns.cdn.example. admin.cdn.example. 1 7200 3600 1209600 60`), "cdn.example.", "zone")
	zs, err := authority.New(authority.Config{
		Zones:   []*authority.Zone{z},
		Locator: db,
		Steering: []authority.Steer{{
			Name: "shop.cdn.example.",
			Pools: []authority.Pool{
				{Name: "fra", Lat: 50.1, Lon: 8.7, Members: []authority.Member{{Addr: netip.MustParseAddr("192.0.2.10")}}},
				{Name: "iad", Lat: 39.0, Lon: -77.5, Members: []authority.Member{{Addr: netip.MustParseAddr("192.0.2.20")}}},
			},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, src := range []string{"198.19.4.4", "198.51.100.7", "203.0.113.9"} {
		q := new(dns.Msg)
		q.SetQuestion("shop.cdn.example.", dns.TypeA)
		m := zs.AnswerFrom(q, netip.MustParseAddr(src))
		fmt.Printf("from %-13s %s\n", src, strings.ReplaceAll(m.Answer[0].String(), "\t", " "))
	}
	// Output:
	// from 198.19.4.4    shop.cdn.example. 30 IN A 192.0.2.10
	// from 198.51.100.7  shop.cdn.example. 30 IN A 192.0.2.20
	// from 203.0.113.9   shop.cdn.example. 30 IN A 192.0.2.10
}
