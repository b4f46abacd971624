package resolver

import (
	"context"
	"fmt"
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
	forEachUDPPath(t, testStrayRepliesIgnored)
}

// forEachUDPPath runs test with a resolver whose upstream UDP sockets are
// the epoll path's (on Linux) and with one on the portable path
// (dialUDP). Each test makes its resolver with newPathResolver.
func forEachUDPPath(t *testing.T, test func(t *testing.T, portable bool)) {
	t.Run("poller", func(t *testing.T) { test(t, false) })
	t.Run("portable", func(t *testing.T) { test(t, true) })
}

// newPathResolver is newResolver on the path chosen (forEachUDPPath).
func newPathResolver(t *testing.T, cfg Config, portable bool) *Recursive {
	r := newResolver(t, cfg)
	r.udpWaiting.noPoll = portable
	return r
}

func testStrayRepliesIgnored(t *testing.T, portable bool) {
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
	r := newPathResolver(t, Config{Roots: []netip.AddrPort{}, AllowLoopback: true, Timeout: 5 * time.Second}, portable)
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

// TestRFC5452_FreshPortAndIDPerQuery: every upstream query leaves from a
// socket of its own, on a port the kernel picks at random, with an ID of
// its own (RFC 5452 §9.2, §4.3): a server that sees one query cannot
// predict the port and ID of the next.
func TestRFC5452_FreshPortAndIDPerQuery(t *testing.T) {
	forEachUDPPath(t, func(t *testing.T, portable bool) {
		const n = 60
		srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		type seen struct {
			port uint16
			id   uint16
		}
		got := make(chan seen, n)
		go func() {
			buf := make([]byte, 512)
			for range n {
				srv.SetDeadline(time.Now().Add(5 * time.Second))
				k, from, err := srv.ReadFromUDPAddrPort(buf)
				if err != nil {
					close(got)
					return
				}
				q := new(dns.Msg)
				if q.Unpack(buf[:k]) != nil {
					continue
				}
				got <- seen{from.Port(), q.Id}
				m := new(dns.Msg)
				m.SetReply(q)
				b, _ := m.Pack()
				srv.WriteToUDPAddrPort(b, from)
			}
			close(got)
		}()
		r := newPathResolver(t, Config{Roots: []netip.AddrPort{}, AllowLoopback: true, Timeout: 5 * time.Second}, portable)
		server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
		for i := range n {
			if _, err := r.exchange(context.Background(), &state{deadline: time.Now().Add(5 * time.Second)}, ".", server, fmt.Sprintf("q%d.example.", i), dns.TypeA, false); err != nil {
				t.Fatal(err)
			}
		}
		ports, ids := map[uint16]bool{}, map[uint16]bool{}
		var order []uint16
		for s := range got {
			ports[s.port], ids[s.id] = true, true
			order = append(order, s.port)
		}
		if len(order) != n {
			t.Fatalf("server saw %d queries, want %d", len(order), n)
		}
		// Random draws from the ephemeral range (about 28,000 ports) and
		// from 65,536 IDs repeat rarely: allow a few repeats, not reuse.
		if len(ports) < n-3 || len(ids) < n-3 {
			t.Fatalf("%d distinct source ports and %d distinct IDs over %d queries", len(ports), len(ids), n)
		}
		sequential := 0
		for i := 1; i < len(order); i++ {
			if d := int(order[i]) - int(order[i-1]); d >= -2 && d <= 2 {
				sequential++
			}
		}
		if sequential > n/4 {
			t.Fatalf("source ports follow each other (%d of %d steps within 2): %v", sequential, n-1, order)
		}
	})
}

// TestUDPExchangesConcurrent: many exchanges wait at once, and the server
// answers them in reverse order of arrival, each reply preceded by a
// reply with the right ID but the wrong question sent to the same
// socket: every exchange gets its own answer (the poller wakes the right
// one; the stray is skipped, RFC 5452 §9.1).
func TestUDPExchangesConcurrent(t *testing.T) {
	forEachUDPPath(t, func(t *testing.T, portable bool) {
		const n = 100
		srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		served := make(chan error, 1)
		go func() {
			type pending struct {
				q    *dns.Msg
				from netip.AddrPort
			}
			var all []pending
			buf := make([]byte, 512)
			for len(all) < n {
				srv.SetDeadline(time.Now().Add(10 * time.Second))
				k, from, err := srv.ReadFromUDPAddrPort(buf)
				if err != nil {
					served <- err
					return
				}
				q := new(dns.Msg)
				if err := q.Unpack(buf[:k]); err != nil {
					served <- err
					return
				}
				all = append(all, pending{q, from})
			}
			for i := len(all) - 1; i >= 0; i-- {
				p := all[i]
				for _, name := range []string{"stray." + p.q.Question[0].Name, p.q.Question[0].Name} {
					m := new(dns.Msg)
					m.SetReply(p.q)
					m.Question[0].Name = name
					rr, _ := dns.NewRR(p.q.Question[0].Name + " 300 IN TXT \"" + p.q.Question[0].Name + "\"")
					if name != p.q.Question[0].Name {
						rr, _ = dns.NewRR(p.q.Question[0].Name + " 300 IN TXT \"poison\"")
					}
					m.Answer = []dns.RR{rr}
					b, _ := m.Pack()
					srv.WriteToUDPAddrPort(b, p.from)
				}
			}
			served <- nil
		}()
		r := newPathResolver(t, Config{Roots: []netip.AddrPort{}, AllowLoopback: true, Timeout: 10 * time.Second}, portable)
		server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
		errs := make(chan error, n)
		for i := range n {
			go func() {
				name := fmt.Sprintf("c%d.example.", i)
				resp, err := r.exchange(context.Background(), &state{deadline: time.Now().Add(10 * time.Second)}, ".", server, name, dns.TypeTXT, false)
				switch {
				case err != nil:
					errs <- err
				case len(resp.Answer) != 1 || resp.Answer[0].(*dns.TXT).Txt[0] != name:
					errs <- fmt.Errorf("%s: got %v", name, resp.Answer)
				default:
					errs <- nil
				}
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	})
}

// TestUDPExchangeEnds: a server that never answers holds an exchange
// until its deadline, the end of its context, or the resolver's Close,
// whichever comes first, and the error is a timeout (as ask counts it).
func TestUDPExchangeEnds(t *testing.T) {
	forEachUDPPath(t, func(t *testing.T, portable bool) {
		silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		server := silent.LocalAddr().(*net.UDPAddr).AddrPort()
		r := newPathResolver(t, Config{Roots: []netip.AddrPort{}, AllowLoopback: true, Timeout: time.Minute}, portable)
		q := new(dns.Msg)
		q.SetQuestion("www.example.", dns.TypeA)
		isTimeout := func(err error) bool {
			ne, ok := err.(net.Error)
			return ok && ne.Timeout()
		}
		// The deadline.
		start := time.Now()
		if _, err := r.exchangeUDP(context.Background(), q, server, time.Now().Add(50*time.Millisecond)); !isTimeout(err) {
			t.Fatalf("deadline: got %v, want a timeout", err)
		}
		// The context.
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		if _, err := r.exchangeUDP(ctx, q, server, time.Now().Add(time.Minute)); !isTimeout(err) {
			t.Fatalf("context: got %v, want a timeout", err)
		}
		// Close.
		done := make(chan error, 1)
		go func() {
			_, err := r.exchangeUDP(context.Background(), q, server, time.Now().Add(time.Minute))
			done <- err
		}()
		r.Close()
		if err := <-done; err == nil {
			t.Fatal("Close: exchange succeeded")
		}
		if _, err := r.exchangeUDP(context.Background(), q, server, time.Now().Add(time.Minute)); err == nil {
			t.Fatal("after Close: exchange succeeded")
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}
