package firewall

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/miekg/dns"
)

// TestDNSGuardRateLimitsEveryResponse: RRL counts refusals and errors,
// and an unreadable peer, too (a forged source must not draw unlimited
// REFUSED at a victim); a message that is a response is never answered;
// TCP is not limited (its source is proven; TC=1 over TCP is no answer).
func TestDNSGuardRateLimitsEveryResponse(t *testing.T) {
	next := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})
	rs, _ := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.66\n"))
	fw, _ := New(Config{Rules: rs})
	newGuard := func() *DNSGuard {
		fc := clock.NewFake(time.Time{})
		rrl, _ := NewLimiter(LimiterConfig{Rate: 1, Burst: 2, IPv4Bits: 24, Now: fc.Now})
		g, err := NewDNSGuard(next, DNSGuardConfig{Filter: fw, RRL: rrl, Slip: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	replies := func(g *DNSGuard, remote net.Addr, q *dns.Msg) int {
		n := 0
		for range 10 {
			w := &dnsRecorder{remote: remote}
			g.ServeDNS(w, q.Copy())
			n += len(w.msgs)
		}
		return n
	}
	query := func(qtype uint16) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion("example.com.", qtype)
		return q
	}
	udp := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 53} }
	for _, c := range []struct {
		name   string
		remote net.Addr
		q      *dns.Msg
		want   int
	}{
		{"REFUSED to a denied (forged) source", udp("192.0.2.66"), query(dns.TypeA), 2},
		{"RFC 8482 ANY refusals", udp("198.51.100.1"), query(dns.TypeANY), 2},
		{"FORMERR", udp("198.51.100.1"), &dns.Msg{}, 2},
		{"answers to a peer that is no IP address", &net.UnixAddr{Name: "@dns", Net: "unixgram"}, query(dns.TypeA), 2},
		{"answers over TCP are not limited", &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 53}, query(dns.TypeA), 10},
	} {
		if got := replies(newGuard(), c.remote, c.q); got != c.want {
			t.Errorf("%s: %d replies to 10 queries, want %d", c.name, got, c.want)
		}
	}
	resp := query(dns.TypeA)
	resp.Response = true
	if got := replies(newGuard(), udp("198.51.100.1"), resp); got != 0 {
		t.Errorf("RFC 1035 §4.1.1 QR=1: %d replies to 10 responses, want none", got)
	}
}

// pipeListener hands out net.Pipe ends, whose addresses are no IP
// addresses: what a Unix-socket listener gives.
type pipeListener struct{ conns chan net.Conn }

func (l *pipeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *pipeListener) Close() error   { return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestListenerCapsPeersWithoutAddress: peers that are no IP address share
// one source for the per-source cap instead of escaping it.
func TestListenerCapsPeersWithoutAddress(t *testing.T) {
	fw, _ := New(Config{})
	pl := &pipeListener{conns: make(chan net.Conn, 4)}
	ln, _ := NewListener(pl, ListenerConfig{Filter: fw, MaxConnsPerSource: 1})
	var ends []net.Conn
	for range 3 {
		a, b := net.Pipe()
		ends = append(ends, a, b)
		pl.conns <- a
	}
	close(pl.conns)
	defer func() {
		for _, c := range ends {
			c.Close()
		}
	}()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("a second connection from a peer without address passed the cap of 1")
	}
	if ln.Refused() != 2 {
		t.Fatalf("refused %d, want 2", ln.Refused())
	}
	first.Close()
}
