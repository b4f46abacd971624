package resolver

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestRFC5452_StrayRepliesIgnored: before the real reply, the server's
// address sends a reply with the wrong ID, one with the right ID for
// another question, an empty datagram and garbage, and a second socket
// on the same address (the wrong port) sends a reply that is right in
// every other way. Each carries a poisoned address; the exchange must
// wait them out and return the real reply (RFC 5452 §9.1, §9.2).
func TestRFC5452_StrayRepliesIgnored(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		srv.SetDeadline(time.Now().Add(5 * time.Second))
		n, from, err := srv.ReadFromUDPAddrPort(buf)
		if err != nil {
			done <- err
			return
		}
		q := new(dns.Msg)
		if err := q.Unpack(buf[:n]); err != nil {
			done <- err
			return
		}
		reply := func(id uint16, name, addr string) []byte {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Id = id
			m.Question[0].Name = name
			rr, _ := dns.NewRR(q.Question[0].Name + " 300 IN A " + addr)
			m.Answer = []dns.RR{rr}
			b, _ := m.Pack()
			return b
		}
		qn := q.Question[0].Name
		for _, d := range []struct {
			c *net.UDPConn
			b []byte
		}{
			{other, reply(q.Id, qn, "203.0.113.1")},       // wrong port
			{srv, reply(q.Id+1, qn, "203.0.113.2")},       // wrong ID
			{srv, reply(q.Id, "evil."+qn, "203.0.113.3")}, // wrong question
			{srv, []byte{}},                     // empty
			{srv, []byte{0xde, 0xad}},           // garbage
			{srv, reply(q.Id, qn, "192.0.2.1")}, // the reply
		} {
			if _, err := d.c.WriteToUDPAddrPort(d.b, from); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	r := newResolver(t, Config{Roots: []netip.AddrPort{}, AllowLoopback: true, Timeout: 5 * time.Second})
	server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	resp, err := r.exchange(context.Background(), &state{deadline: time.Now().Add(5 * time.Second)}, ".", server, "www.example.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("got %v, want the real reply (192.0.2.1)", resp.Answer)
	}
}

// TestResolveTimeoutBoundsUpstreamWait: a root that never answers holds a
// resolution no longer than Config.ResolveTimeout, even when the
// per-query Timeout is far longer (the resolution's deadline reaches the
// socket's read).
func TestResolveTimeoutBoundsUpstreamWait(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	root := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	r := newResolver(t, Config{Roots: []netip.AddrPort{root}, AllowLoopback: true, Timeout: time.Minute, ResolveTimeout: 200 * time.Millisecond})
	start := time.Now()
	m, err := r.Resolve(context.Background(), dns.Question{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("resolution took %v with ResolveTimeout 200ms", d)
	}
}
