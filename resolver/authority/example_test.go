package authority_test

import (
	"fmt"
	"net"
	"strings"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

const exampleOrg = `$TTL 300
example.org. IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 60
example.org. IN NS ns.example.org.
ns IN A 192.0.2.53
www IN CNAME web
web IN A 192.0.2.10
*.wild IN A 192.0.2.7
shop IN NS ns.shop
ns.shop IN A 192.0.2.80
`

// A Server serving a zone on a loopback UDP socket, asked by a DNS client.
func ExampleServer() {
	z, err := authority.ParseZone(strings.NewReader(exampleOrg), "example.org.", "example.org.zone")
	if err != nil {
		fmt.Println(err)
		return
	}
	zs, err := authority.New(authority.Config{Zones: []*authority.Zone{z}})
	if err != nil {
		fmt.Println(err)
		return
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: zs, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	defer srv.Shutdown()

	ask := func(name string) {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		m, _, err := new(dns.Client).Exchange(q, pc.LocalAddr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s aa=%v\n", name, dns.RcodeToString[m.Rcode], m.Authoritative)
		for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range section {
				fmt.Println("  " + strings.ReplaceAll(rr.String(), "\t", " "))
			}
		}
	}
	ask("www.example.org.")      // a CNAME chased within the zone
	ask("any.wild.example.org.") // synthesised from a wildcard (RFC 4592)
	ask("www.shop.example.org.") // a referral, with glue
	ask("nope.example.org.")     // NXDOMAIN with the SOA (RFC 2308)
	// Output:
	// www.example.org. NOERROR aa=true
	//   www.example.org. 300 IN CNAME web.example.org.
	//   web.example.org. 300 IN A 192.0.2.10
	// any.wild.example.org. NOERROR aa=true
	//   any.wild.example.org. 300 IN A 192.0.2.7
	// www.shop.example.org. NOERROR aa=false
	//   shop.example.org. 300 IN NS ns.shop.example.org.
	//   ns.shop.example.org. 300 IN A 192.0.2.80
	// nope.example.org. NXDOMAIN aa=true
	//   example.org. 60 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 60
}

// Answer gives the server's response without a network: here a round
// robin of several addresses with Config.Rotate.
func ExampleServer_Answer() {
	z, err := authority.ParseZone(strings.NewReader(`$TTL 60
pool.test. IN SOA ns.pool.test. admin.pool.test. 1 7200 3600 1209600 60
pool.test. IN NS ns.pool.test.
ns IN A 192.0.2.53
edge IN A 192.0.2.1
edge IN A 192.0.2.2
edge IN A 192.0.2.3
`), "pool.test.", "pool.test.zone")
	if err != nil {
		fmt.Println(err)
		return
	}
	zs, err := authority.New(authority.Config{Zones: []*authority.Zone{z}, Rotate: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	q := new(dns.Msg)
	q.SetQuestion("edge.pool.test.", dns.TypeA)
	for range 3 {
		m := zs.Answer(q)
		fmt.Println(m.Answer[0].(*dns.A).A, m.Answer[1].(*dns.A).A, m.Answer[2].(*dns.A).A)
	}
	// Output:
	// 192.0.2.2 192.0.2.3 192.0.2.1
	// 192.0.2.3 192.0.2.1 192.0.2.2
	// 192.0.2.1 192.0.2.2 192.0.2.3
}

// ParseZone refuses zone data it could not serve.
func ExampleParseZone() {
	_, err := authority.ParseZone(strings.NewReader("www.example.org. 300 IN A 192.0.2.1\n"), "example.org.", "nosoa.zone")
	fmt.Println(err)
	// Output:
	// authority: bad zone: zone example.org. has no SOA at its apex
}
