package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// The demo's own zones: a site that hands www to a CDN name with a
// CNAME, and the CDN's zone that rotates its addresses. resolvertest
// serves them under a ready-made root (127.0.0.2) and com./net. TLDs
// (127.0.0.3) that delegate to them.
var demoZones = []resolvertest.ZoneFile{
	{Addr: "127.0.0.4", Origin: "shop.com.", Text: `$TTL 300
shop.com. IN SOA ns1.shop.com. admin.shop.com. 1 7200 3600 1209600 60
shop.com. IN NS ns1.shop.com.
ns1 IN A 127.0.0.4
www IN CNAME shop.edge.cdn.net.
shop.com. IN MX 10 mail.shop.com.
mail IN A 192.0.2.25
`},
	{Addr: "127.0.0.5", Origin: "cdn.net.", Text: `$TTL 60
cdn.net. IN SOA ns.cdn.net. admin.cdn.net. 1 7200 3600 1209600 30
cdn.net. IN NS ns.cdn.net.
ns IN A 127.0.0.5
shop.edge IN A 192.0.2.10
shop.edge IN A 192.0.2.11
shop.edge IN AAAA 2001:db8::10
`},
}

// startHierarchy serves the demo zones and the root and TLDs above them
// on 127.0.0.x, all on one port.
func startHierarchy() (port int, stop func(), err error) {
	l, err := resolvertest.New(resolvertest.Config{Files: demoZones, Delegate: true, Rotate: true})
	if err != nil {
		return 0, nil, err
	}
	return l.Port, l.Close, nil
}

func runDemo(ctx context.Context, out io.Writer) error {
	port, stop, err := startHierarchy()
	if err != nil {
		return err
	}
	defer stop()
	var trace []resolver.Step
	r, err := resolver.New(resolver.Config{
		Roots:         []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(resolvertest.RootAddr), uint16(port))},
		Port:          port,
		AllowLoopback: true,
		Timeout:       time.Second,
		Trace:         func(s resolver.Step) { trace = append(trace, s) },
	})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(out, "demo hierarchy on port %d: root 127.0.0.2, com./net. 127.0.0.3, shop.com. 127.0.0.4, cdn.net. 127.0.0.5\n", port)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.shop.com.", dns.TypeA}, {"www.shop.com.", dns.TypeA}, {"shop.com.", dns.TypeMX}, {"nope.shop.com.", dns.TypeA}} {
		trace = trace[:0]
		start := time.Now()
		m, err := r.Resolve(ctx, dns.Question{Name: q.name, Qtype: q.qtype, Qclass: dns.ClassINET})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n; <<>> %s %s\n", q.name, dns.TypeToString[q.qtype])
		for _, s := range trace {
			printStep(out, s)
		}
		if len(trace) == 0 {
			fmt.Fprintln(out, ";; answered from cache")
		}
		for _, rr := range m.Answer {
			fmt.Fprintln(out, rr.String())
		}
		for _, rr := range m.Ns {
			fmt.Fprintln(out, rr.String())
		}
		fmt.Fprintf(out, ";; status %s, %d upstream queries, %v\n", dns.RcodeToString[m.Rcode], len(trace), time.Since(start).Round(time.Microsecond))
	}
	st := r.Stats()
	fmt.Fprintf(out, "\nresolver: %d questions, %d cache hits, %d upstream queries\n", st.Queries, st.CacheHits, st.Upstream)
	return runDNSSECDemo(ctx, out) // dnssec.go
}

// printStep prints one query like a dig +trace block: the question asked
// (marked when it is a minimised probe, RFC 9156, or part of finding a
// name server's address), the server, and what came back.
func printStep(out io.Writer, s resolver.Step) {
	q := s.Question.Name + " " + dns.TypeToString[s.Question.Qtype]
	var marks []string
	if s.NameServer != "" {
		marks = append(marks, "address of name server "+s.NameServer)
	}
	if s.Minimised {
		marks = append(marks, "minimised probe")
	}
	if len(marks) > 0 {
		q += " [" + strings.Join(marks, ", ") + "]"
	}
	if s.Err != nil {
		fmt.Fprintf(out, ";; %s @%s (zone %s): %v\n", q, s.Server, s.Zone, s.Err)
		return
	}
	m := s.Response
	switch {
	case len(m.Answer) == 0 && len(m.Ns) > 0 && !m.Authoritative:
		var ns []string
		for _, rr := range m.Ns {
			if n, ok := rr.(*dns.NS); ok {
				ns = append(ns, n.Hdr.Name+" NS "+n.Ns)
			}
		}
		fmt.Fprintf(out, ";; %s: referral from %s (zone %s) in %v: %s\n", q, s.Server, s.Zone, s.RTT.Round(time.Microsecond), strings.Join(ns, ", "))
	default:
		fmt.Fprintf(out, ";; %s: answer from %s (zone %s, aa=%v) in %v: %s, %d records\n", q, s.Server, s.Zone, m.Authoritative, s.RTT.Round(time.Microsecond), dns.RcodeToString[m.Rcode], len(m.Answer))
	}
}
