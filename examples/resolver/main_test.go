package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-demo"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"referral from 127.0.0.2", "shop.edge.cdn.net.", ";; answered from cache", "status NXDOMAIN",
		";; com. A [minimised probe]: referral from 127.0.0.2", ";; www.shop.com. A: answer from 127.0.0.4",
		";; www.signed.com. A: NOERROR, ad=true", ";; www.forged.com. A: SERVFAIL, ad=false, EDE 6 (DNSSEC Bogus)",
		";; www.unsigned.com. A: NOERROR, ad=false, www.unsigned.com. 300 IN A 192.0.2.80", ";; nope.signed.com. A: NXDOMAIN, ad=true"} {
		if !strings.Contains(s, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, s)
		}
	}
}

// TestServesHierarchyFromRootsFile runs the server as a user would, with
// -roots pointing at a loopback hierarchy, and queries it like dig does.
func TestServesHierarchyFromRootsFile(t *testing.T) {
	port, stop, err := startHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	hints := filepath.Join(t.TempDir(), "root.hints")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.2\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", strconv.Itoa(port), "-allow-loopback"}, &out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	c := &dns.Client{Timeout: 5 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	resp, _, err := c.Exchange(q, addr)
	if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 3 || !resp.RecursionAvailable {
		t.Fatalf("%v %v", resp, err)
	}
	c.Net = "tcp"
	q.SetQuestion("nope.shop.com.", dns.TypeA)
	resp, _, err = c.Exchange(q, addr)
	if err != nil || resp.Rcode != dns.RcodeNameError || len(resp.Ns) != 1 {
		t.Fatalf("NXDOMAIN over TCP: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.hints")
	os.WriteFile(bad, []byte("this is not a zone file\n"), 0o644)
	for _, args := range [][]string{{"-roots", bad}, {"-roots", "/nonexistent"}, {"-port", "0"}, {"-root-port", "53"}, {"-allow", "nonsense"}, {"stray"}, {"-trust-anchor", bad}, {"-trust-anchor", "/nonexistent"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// After SIGTERM (ctx ending) the server stops at once: a question being
// resolved at a server that never answers does not hold the exit for the
// upstream timeouts (1.5 s each, retried).
func TestShutdownDoesNotWaitForUpstreamTimeouts(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.9:0") // a root that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	hints := filepath.Join(t.TempDir(), "root.hints")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.9\n"), 0o644)
	port := strconv.Itoa(sink.LocalAddr().(*net.UDPAddr).Port)
	for _, netw := range []string{"udp", "tcp"} {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", port, "-allow-loopback", "-timeout", "20s"}, &bytes.Buffer{}, ready)
		}()
		c, err := net.Dial(netw, <-ready)
		if err != nil {
			t.Fatal(err)
		}
		q := new(dns.Msg)
		q.SetQuestion("example.", dns.TypeA)
		(&dns.Conn{Conn: c}).WriteMsg(q)
		// The resolution is under way once the root gets its query.
		sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := sink.ReadFrom(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: shutdown took %v with a 20 s upstream timeout pending", netw, d)
		}
		c.Close()
	}
}

// TestClientsNote: listening on a wildcard address, the start-up line says
// that only loopback clients are answered unless -allow is set.
func TestClientsNote(t *testing.T) {
	for _, c := range []struct {
		listen string
		allow  []string
		want   string
	}{
		{"0.0.0.0:5353", nil, "loopback only, although listening on 0.0.0.0:5353"},
		{"[::]:5353", nil, "loopback only, although listening on [::]:5353"},
		{"127.0.0.1:5353", nil, "loopback only (-allow"},
		{"0.0.0.0:5353", []string{"10.0.0.0/8"}, "10.0.0.0/8 (-allow); others are refused"},
	} {
		if got := clientsNote(c.listen, c.allow); !strings.Contains(got, c.want) {
			t.Errorf("%s %v: %q, want %q", c.listen, c.allow, got, c.want)
		}
	}
}

// TestCommandLine: -h prints the usage once to stderr and exits 0; a bad
// command line prints its error once and exits 2; no doubled prefix.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "-allow", "Usage of resolver"},
		{[]string{"-nope"}, 2, "Usage of resolver", "flag provided but not defined: -nope"},
		{[]string{"-forward", "tls://", "-listen", "127.0.0.1:0"}, 2, "", "resolver:"},
		{[]string{"-timeout", "0"}, 2, "", "resolver:"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(context.Background(), c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}
