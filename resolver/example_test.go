package resolver_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
)

func zone(text, origin string) *resolver.Zone {
	z, err := resolver.ParseZone(strings.NewReader(text), origin, origin)
	if err != nil {
		panic(err)
	}
	return z
}

// A root -> com. -> example.com. hierarchy on loopback addresses, resolved
// iteratively from its root.
func ExampleRecursive() {
	loop, err := resolver.ServeZones(map[string][]*resolver.Zone{
		"127.0.0.2": {zone(`. 86400 IN SOA a.root. admin.root. 1 1800 900 604800 86400
com. 172800 IN NS a.gtld.com.
a.gtld.com. 172800 IN A 127.0.0.3
`, ".")},
		"127.0.0.3": {zone(`com. 900 IN SOA a.gtld.com. admin.com. 1 1800 900 604800 900
example.com. 172800 IN NS ns.example.com.
ns.example.com. 172800 IN A 127.0.0.4
`, "com.")},
		"127.0.0.4": {zone(`$TTL 300
example.com. IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60
example.com. IN NS ns.example.com.
ns IN A 127.0.0.4
www IN CNAME web.example.com.
web IN A 192.0.2.10
`, "example.com.")},
	}, false, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	r, err := resolver.New(resolver.Config{
		Roots:         []netip.AddrPort{netip.MustParseAddrPort(fmt.Sprintf("127.0.0.2:%d", loop.Port))},
		Port:          loop.Port,
		AllowLoopback: true,
		Timeout:       time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	m, err := r.Resolve(context.Background(), dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dns.RcodeToString[m.Rcode])
	for _, rr := range m.Answer {
		fmt.Println(strings.ReplaceAll(rr.String(), "\t", " "))
	}
	m, _ = r.Resolve(context.Background(), dns.Question{Name: "nope.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	fmt.Println(dns.RcodeToString[m.Rcode], m.Ns[0].Header().Rrtype == dns.TypeSOA, m.Ns[0].Header().Ttl)
	// Output:
	// NOERROR
	// www.example.com. 300 IN CNAME web.example.com.
	// web.example.com. 300 IN A 192.0.2.10
	// NXDOMAIN true 60
}

// The authoritative server answers a question from zone data directly.
func ExampleZoneServer() {
	zs, err := resolver.NewZoneServer(resolver.ZoneServerConfig{Zones: []*resolver.Zone{zone(`$TTL 300
example.org. IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 60
example.org. IN NS ns.example.org.
ns IN A 192.0.2.53
*.wild IN A 192.0.2.7
`, "example.org.")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	q := new(dns.Msg)
	q.SetQuestion("any.wild.example.org.", dns.TypeA)
	m := zs.Answer(q)
	fmt.Println(m.Authoritative, strings.ReplaceAll(m.Answer[0].String(), "\t", " "))
	// Output:
	// true any.wild.example.org. 300 IN A 192.0.2.7
}
