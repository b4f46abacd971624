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

// startCmd runs the command with args until the test ends and returns
// the address it serves on.
func startCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), &bytes.Buffer{}, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return ""
}

// TestForwardValidates: a forwarder (-forward) validates by default: with
// the IANA roots' anchors a private hierarchy behind it is bogus, unless
// -domain-insecure exempts it; with its -trust-anchor a signed answer has
// AD and a forged one is SERVFAIL with EDE 6 (RFC 8914) (asked again
// with CD after the validating upstream's SERVFAIL, and validated here);
// -dnssec=false turns validation off (answers without AD).
func TestForwardValidates(t *testing.T) {
	zone := func(origin, addr string) string {
		return "$TTL 300\n@ IN SOA ns admin 1 7200 3600 1209600 60\n@ IN NS ns\nns IN A " + addr + "\nwww IN A 192.0.2.80\n"
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.5", Origin: "signed.com.", Text: zone("signed.com.", "127.0.0.5")}},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.6", Origin: "forged.com.", Text: zone("forged.com.", "127.0.0.6")},
			Wrap: func(h dns.Handler) dns.Handler {
				return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { h.ServeDNS(forger{w}, req) })
			}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := t.TempDir()
	hints, anchorFile := filepath.Join(dir, "root.hints"), filepath.Join(dir, "anchors")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.2\n"), 0o644)
	os.WriteFile(anchorFile, []byte(anchors[0].String()+"\n"), 0o644)
	// The upstream: a validating recursive resolver of the hierarchy.
	upstream := startCmd(t, "-roots", hints, "-port", strconv.Itoa(h.Port), "-allow-loopback", "-trust-anchor", anchorFile)
	type want struct {
		name  string
		rcode int
		ad    bool
		ede   uint16 // 0: none wanted
	}
	for _, c := range []struct {
		flags []string
		want  []want
	}{
		{nil, []want{{"www.signed.com.", dns.RcodeServerFailure, false, 0}}}, // IANA anchors: the private root is bogus
		{[]string{"-domain-insecure", "com."}, []want{{"www.signed.com.", dns.RcodeSuccess, false, 0}}},
		{[]string{"-trust-anchor", anchorFile}, []want{
			{"www.signed.com.", dns.RcodeSuccess, true, 0},
			{"www.forged.com.", dns.RcodeServerFailure, false, dns.ExtendedErrorCodeDNSBogus},
		}},
		{[]string{"-dnssec=false"}, []want{{"www.signed.com.", dns.RcodeSuccess, false, 0}}}, // not validated: no AD
	} {
		addr := startCmd(t, append([]string{"-forward", upstream}, c.flags...)...)
		for _, w := range c.want {
			q := new(dns.Msg)
			q.SetQuestion(w.name, dns.TypeA)
			q.SetEdns0(1232, true)
			resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
			if err != nil || resp.Rcode != w.rcode || resp.AuthenticatedData != w.ad {
				t.Fatalf("%v %s: want rcode %d AD %v: %v %v", c.flags, w.name, w.rcode, w.ad, resp, err)
			}
			if w.ede != 0 {
				found := false
				for _, o := range resp.IsEdns0().Option {
					if e, ok := o.(*dns.EDNS0_EDE); ok && e.InfoCode == w.ede {
						found = true
					}
				}
				if !found {
					t.Fatalf("%v %s: SERVFAIL without EDE %d: %v", c.flags, w.name, w.ede, resp)
				}
			}
		}
	}
}
