package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestTrustAnchorFlag runs the server on a signed -roots hierarchy with
// -trust-anchor: a forged answer is SERVFAIL with its Extended DNS Error
// (RFC 8914); with -dnssec=false the forgery goes through.
func TestTrustAnchorFlag(t *testing.T) {
	zone := "$TTL 300\n@ IN SOA ns admin 1 7200 3600 1209600 60\n@ IN NS ns\nns IN A 127.0.0.6\nwww IN A 192.0.2.80\n"
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{{
		ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.6", Origin: "forged.com.", Text: zone},
		Wrap: func(h dns.Handler) dns.Handler {
			return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { h.ServeDNS(forger{w}, req) })
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := t.TempDir()
	hints, anchorFile := filepath.Join(dir, "root.hints"), filepath.Join(dir, "anchors")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.2\n"), 0o644)
	os.WriteFile(anchorFile, []byte("; the test root's KSK\n"+anchors[0].String()+"\n"), 0o644)
	for _, c := range []struct {
		flags []string
		rcode int
	}{
		{[]string{"-trust-anchor", anchorFile}, dns.RcodeServerFailure},
		{[]string{"-trust-anchor", anchorFile, "-dnssec=false"}, dns.RcodeSuccess},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan string, 1), make(chan error, 1)
		args := append([]string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", strconv.Itoa(h.Port), "-allow-loopback"}, c.flags...)
		go func() { done <- run(ctx, args, &bytes.Buffer{}, ready) }()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("not ready")
		}
		q := new(dns.Msg)
		q.SetQuestion("www.forged.com.", dns.TypeA)
		q.SetEdns0(1232, true)
		resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
		cancel()
		if rerr := <-done; rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil || resp.Rcode != c.rcode {
			t.Fatalf("%v: %v %v", c.flags, resp, err)
		}
		if c.rcode == dns.RcodeServerFailure {
			found := false
			for _, o := range resp.IsEdns0().Option {
				if e, ok := o.(*dns.EDNS0_EDE); ok && e.InfoCode == dns.ExtendedErrorCodeDNSBogus {
					found = true
				}
			}
			if !found {
				t.Fatalf("SERVFAIL without EDE 6: %v", resp)
			}
		}
	}
}
