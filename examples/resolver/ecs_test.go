package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// With -ecs-zone the resolver takes a client's subnet (dig +subnet) and
// answers with it echoed and the answer's scope (RFC 7871 §7.2.1): 0
// here, the hierarchy's zones being the same for everyone. A bad prefix
// length is refused.
func TestECSFlags(t *testing.T) {
	if err := run(context.Background(), []string{"-ecs-zone", "shop.com.", "-ecs-v4", "33"}, &bytes.Buffer{}, nil); err == nil {
		t.Fatal("-ecs-v4 33 accepted")
	}
	// Out of range without -ecs-zone, and 0 (which resolver.ECSConfig
	// would have turned into its default /24, sending more of the
	// client's address than asked), are refused too. Bounded: accepted
	// flags make run serve until ctx ends.
	for _, args := range [][]string{
		{"-ecs-v4", "33"}, {"-ecs-v6", "-1"},
		{"-ecs-zone", "shop.com.", "-ecs-v4", "0"}, {"-ecs-zone", "shop.com.", "-ecs-v6", "0"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := run(ctx, append(args, "-listen", "127.0.0.1:0", "-forward", "127.0.0.1:1"), &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
		cancel()
	}
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
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", strconv.Itoa(port), "-allow-loopback", "-ecs-zone", "shop.com."}, &bytes.Buffer{}, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0)}}
	resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
	if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
		t.Fatalf("%v %v", resp, err)
	}
	var echo *dns.EDNS0_SUBNET
	for _, o := range resp.IsEdns0().Option {
		echo, _ = o.(*dns.EDNS0_SUBNET)
	}
	if echo == nil || echo.SourceNetmask != 24 || echo.SourceScope != 0 || !echo.Address.Equal(net.IPv4(198, 51, 100, 0)) {
		t.Fatalf("echo %v", echo)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
