package resolvertest_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// A root and a zone whose server predates EDNS, on loopback: the resolver
// asks again without EDNS (RFC 6891 §7) and gets its answer.
func ExampleNew() {
	var queriesWithEDNS atomic.Int32
	h, err := resolvertest.New(resolvertest.Config{
		// Only the site's zone: Delegate adds the root (127.0.0.2) and the
		// TLD server (127.0.0.3) that delegate to it.
		Files: []resolvertest.ZoneFile{{Addr: "127.0.0.4", Origin: "old.example.", Text: `$TTL 300
old.example. IN SOA ns.old.example. admin.old.example. 1 7200 3600 1209600 60
old.example. IN NS ns.old.example.
ns IN A 127.0.0.4
www IN A 192.0.2.30
`}},
		Delegate: true,
		Wrap: func(addr string, zs *authority.Server) dns.Handler {
			if addr == "127.0.0.4" {
				return resolvertest.EDNSIntolerant{Server: zs, OnEDNS: func() { queriesWithEDNS.Add(1) }}
			}
			return zs
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	r, err := resolver.New(resolver.Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, Timeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	m, err := r.Resolve(context.Background(), dns.Question{Name: "www.old.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.ReplaceAll(m.Answer[0].String(), "\t", " "))
	fmt.Println("queries with EDNS refused:", queriesWithEDNS.Load())
	// Output:
	// www.old.example. 300 IN A 192.0.2.30
	// queries with EDNS refused: 1
}
