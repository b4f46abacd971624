package resolver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// exampleZone is example.com., on 127.0.0.4; resolvertest serves it under
// a root and a com. TLD of its own making (Config.Delegate).
var exampleZone = resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: `$TTL 300
example.com. IN SOA ns.example.com. admin.example.com. 1 7200 3600 1209600 60
example.com. IN NS ns.example.com.
ns IN A 127.0.0.4
www IN CNAME web.example.com.
web IN A 192.0.2.10
`}

// hierarchy starts a root -> com. -> example.com. hierarchy on loopback
// addresses (resolvertest) and returns it with a resolver pointed at it.
func hierarchy() (*resolvertest.Hierarchy, *resolver.Recursive, error) {
	h, err := resolvertest.New(resolvertest.Config{Files: []resolvertest.ZoneFile{exampleZone}, Delegate: true})
	if err != nil {
		return nil, nil, err
	}
	r, err := resolver.New(resolver.Config{
		Roots:         h.Roots(),
		Port:          h.Port,
		AllowLoopback: true, // the hierarchy is on loopback addresses
		Timeout:       time.Second,
	})
	if err != nil {
		h.Close()
		return nil, nil, err
	}
	return h, r, nil
}

// A root -> com. -> example.com. hierarchy on loopback addresses, resolved
// iteratively from its root.
func ExampleRecursive() {
	loop, err := resolvertest.New(resolvertest.Config{Files: []resolvertest.ZoneFile{exampleZone}, Delegate: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	r, err := resolver.New(resolver.Config{
		Roots:         loop.Roots(), // 127.0.0.2, on the hierarchy's port
		Port:          loop.Port,    // the port of the servers referrals name
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

// A Server answering clients on a loopback UDP socket from a Recursive
// resolver: ServeUDP reads the socket until its context ends.
func ExampleServer() {
	loop, r, err := hierarchy()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	defer r.Close()

	srv, err := resolver.NewServer(resolver.ServerConfig{Resolver: r}) // loopback clients only
	if err != nil {
		fmt.Println(err)
		return
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(ctx, pc) }()
	defer func() { stop(); <-done; pc.Close() }()

	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA) // RD set: recursion desired
	m, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, pc.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dns.RcodeToString[m.Rcode], "ra:", m.RecursionAvailable)
	for _, rr := range m.Answer {
		fmt.Println(strings.ReplaceAll(rr.String(), "\t", " "))
	}
	// Output:
	// NOERROR ra: true
	// www.example.com. 300 IN CNAME web.example.com.
	// web.example.com. 300 IN A 192.0.2.10
}

// NetResolver sends the standard library's lookups through a resolver,
// with no socket of their own; a net.Dialer{Resolver: nr} gives an
// http.Transport's DialContext the same.
func ExampleNetResolver() {
	loop, r, err := hierarchy()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	defer r.Close()

	nr := resolver.NetResolver(r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := nr.LookupNetIP(ctx, "ip4", "www.example.com.")
	fmt.Println(addrs, err)
	_, err = nr.LookupNetIP(ctx, "ip4", "nope.example.com.")
	var dnsErr *net.DNSError
	fmt.Println(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	// Output:
	// [192.0.2.10] <nil>
	// true
}

// DoHHandler serves a Server over HTTP as DNS over HTTPS (RFC 8484): a
// POST of a DNS message, answered with one and a Cache-Control max-age
// of the smallest TTL. (Mount it at /dns-query on a TLS server.)
func ExampleDoHHandler() {
	loop, r, err := hierarchy()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	defer r.Close()
	srv, err := resolver.NewServer(resolver.ServerConfig{Resolver: r})
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := httptest.NewServer(resolver.DoHHandler(srv))
	defer ts.Close()

	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.Id = 0 // RFC 8484 §4.1: 0, so that HTTP caches can share answers
	wire, err := q.Pack()
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.Post(ts.URL+"/dns-query", "application/dns-message", bytes.NewReader(wire))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	m := new(dns.Msg)
	if err := m.Unpack(body); err != nil {
		fmt.Println(err)
		return
	}
	for _, rr := range m.Answer {
		fmt.Println(strings.ReplaceAll(rr.String(), "\t", " "))
	}
	// Output:
	// 200 OK application/dns-message max-age=300
	// www.example.com. 300 IN CNAME web.example.com.
	// web.example.com. 300 IN A 192.0.2.10
}
