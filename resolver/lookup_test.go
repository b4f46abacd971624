package resolver

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// LookupMX sorts by preference, as net.Resolver.LookupMX does (RFC 5321
// §5.1: lower preference first), whatever order the zone lists them in;
// LookupNS returns the NS set; a missing name is a *net.DNSError with
// IsNotFound.
func TestLookupMXAndNS(t *testing.T) {
	h, err := resolvertest.New(resolvertest.Config{Delegate: true, Files: []resolvertest.ZoneFile{
		{Addr: "127.0.0.4", Origin: "mail.org.", Text: `$TTL 300
mail.org. IN SOA ns1.mail.org. admin.mail.org. 1 7200 3600 1209600 60
mail.org. IN NS ns1.mail.org.
mail.org. IN NS ns2.mail.org.
ns1 IN A 127.0.0.4
ns2 IN A 127.0.0.4
mail.org. IN MX 30 c.mail.org.
mail.org. IN MX 10 a.mail.org.
mail.org. IN MX 20 b.mail.org.
`}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := newResolver(t, Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mx, err := r.LookupMX(ctx, "mail.org")
	if err != nil || len(mx) != 3 {
		t.Fatalf("MX %v %v", mx, err)
	}
	for i, want := range []string{"a.mail.org.", "b.mail.org.", "c.mail.org."} {
		if mx[i].Host != want || mx[i].Pref != uint16(10*(i+1)) {
			t.Fatalf("MX %d: %+v, want %s", i, *mx[i], want)
		}
	}
	ns, err := r.LookupNS(ctx, "mail.org")
	if err != nil || len(ns) != 2 {
		t.Fatalf("NS %v %v", ns, err)
	}
	var de *net.DNSError
	if _, err := r.LookupMX(ctx, "nope.mail.org"); !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("NXDOMAIN: %v", err)
	}
}

// RFC 6891 §7 and RFC 3225 §3: NetResolver's pipe answers as the UDP and
// TCP server does (one set of reply rules, dnsproto.Reply and SetEDNS):
// the query's ID, RD, CD and question, an OPT with our payload size and
// the DO bit copied when the query had one, none when it had not; a query
// that does not parse gets FORMERR (RFC 1035 §4.1.1), one for another
// class REFUSED, and the serving goroutine ends when the client closes.
func TestRFC6891_S7_NetResolverPipeRepliesAsServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nr := NetResolver(fixedResolver{})
		nc, err := nr.Dial(context.Background(), "udp", "192.0.2.53:53")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second)) // fake time: ends a test that waits for nothing
		c := &dns.Conn{Conn: nc}
		exchange := func(q *dns.Msg) *dns.Msg {
			t.Helper()
			if err := c.WriteMsg(q); err != nil {
				t.Fatal(err)
			}
			m, err := c.ReadMsg()
			if err != nil {
				t.Fatalf("%v: no reply: %v", q.Question, err)
			}
			return m
		}

		q := new(dns.Msg)
		q.SetQuestion("Host.Example.", dns.TypeA)
		q.Id, q.RecursionDesired, q.CheckingDisabled = 0x1234, true, true
		q.SetEdns0(4096, true)
		m := exchange(q)
		if m.Id != q.Id || !m.Response || !m.RecursionDesired || !m.CheckingDisabled || !m.RecursionAvailable ||
			m.AuthenticatedData || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 ||
			len(m.Question) != 1 || m.Question[0] != q.Question[0] {
			t.Fatalf("reply header, question or answer:\n%v", m)
		}
		opt := m.IsEdns0()
		if opt == nil || !opt.Do() || opt.Version() != 0 || opt.UDPSize() != dnsproto.UDPSize {
			t.Fatalf("OPT %v, want one with DO, version 0, size %d (RFC 6891 §7, RFC 3225 §3)", opt, dnsproto.UDPSize)
		}

		q = new(dns.Msg)
		q.SetQuestion("host.example.", dns.TypeA)
		if m := exchange(q); m.IsEdns0() != nil || m.CheckingDisabled || m.Id != q.Id {
			t.Fatalf("reply to a query without EDNS and CD:\n%v", m)
		}

		q = new(dns.Msg)
		q.SetQuestion("host.example.", dns.TypeA)
		q.RecursionDesired = true
		q.Question[0].Qclass = dns.ClassCHAOS
		if m := exchange(q); m.Rcode != dns.RcodeRefused {
			t.Fatalf("class CH: rcode %s, want REFUSED", dns.RcodeToString[m.Rcode])
		}

		if _, err := c.Write(lyingQuery(0xbeef)); err != nil {
			t.Fatal(err)
		}
		if m, err := c.ReadMsg(); err != nil || m.Id != 0xbeef || m.Rcode != dns.RcodeFormatError {
			t.Fatalf("malformed query: %v, %v", m, err)
		}
	})
	// Without a Resolver, a clear error instead of a panic in the pipe's
	// goroutine.
	if _, err := NetResolver(nil).Dial(context.Background(), "udp", "192.0.2.53:53"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil Resolver: %v, want ErrInvalidConfig", err)
	}
}

// RFC 5321 §5.1: mail exchangers of equal preference are tried in random
// order, as net.Resolver.LookupMX returns them; lower preferences still
// come first. The shuffle is injected: reversing the records before the
// sort reverses the equal ones and nothing else. With the default source,
// the equal ones do not come back in one fixed order.
func TestRFC5321_S5_1_LookupMXRandomisesEqualPreference(t *testing.T) {
	h, err := resolvertest.New(resolvertest.Config{Delegate: true, Files: []resolvertest.ZoneFile{
		{Addr: "127.0.0.4", Origin: "mail.org.", Text: `$TTL 300
mail.org. IN SOA ns1.mail.org. admin.mail.org. 1 7200 3600 1209600 60
mail.org. IN NS ns1.mail.org.
ns1 IN A 127.0.0.4
mail.org. IN MX 20 z.mail.org.
mail.org. IN MX 10 a.mail.org.
mail.org. IN MX 10 b.mail.org.
mail.org. IN MX 5 first.mail.org.
mail.org. IN MX 10 c.mail.org.
mail.org. IN MX 10 d.mail.org.
`}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := newResolver(t, Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lookup := func() []string {
		t.Helper()
		mx, err := r.LookupMX(ctx, "mail.org")
		if err != nil || len(mx) != 6 {
			t.Fatalf("MX %v %v", mx, err)
		}
		var hosts []string
		for i, want := range []uint16{5, 10, 10, 10, 10, 20} {
			if mx[i].Pref != want {
				t.Fatalf("MX %d: %+v, want preference %d (lower first)", i, *mx[i], want)
			}
			hosts = append(hosts, mx[i].Host)
		}
		if hosts[0] != "first.mail.org." || hosts[5] != "z.mail.org." {
			t.Fatalf("MX %v", hosts)
		}
		return hosts[1:5]
	}
	r.shuffle = func(int, func(i, j int)) {} // answer order
	asIs := lookup()
	r.shuffle = func(n int, swap func(i, j int)) {
		for i := range n / 2 {
			swap(i, n-1-i)
		}
	}
	want := slices.Clone(asIs)
	slices.Reverse(want)
	if got := lookup(); !slices.Equal(got, want) {
		t.Fatalf("equal preferences %v after reversing, want %v (answer order %v)", got, want, asIs)
	}
	r.shuffle = nil
	orders := map[string]bool{}
	for range 50 { // 24 orders of 4: one order 50 times running is a broken shuffle
		orders[strings.Join(lookup(), " ")] = true
	}
	if len(orders) < 2 {
		t.Fatalf("equal preferences always in one order: %v", orders)
	}
}
