package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// ecsAuth is the authoritative server of cdn.test. for the ECS tests: it
// answers geo.cdn.test. A with an address made from the client subnet it
// was sent (10.9.<third octet>.1, 10.9.0.0 without one) and an ECS option
// shaped by reply, which may lie; the rest comes from the zone.
type ecsAuth struct {
	zone  dns.Handler
	reply func(sent *dns.EDNS0_SUBNET, m *dns.Msg) // nil: echo with scope = source

	mu   sync.Mutex
	seen []string // the subnet of every query for geo.cdn.test. ("" for none)
}

func (a *ecsAuth) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || dns.CanonicalName(req.Question[0].Name) != "geo.cdn.test." {
		a.zone.ServeDNS(w, req)
		return
	}
	opt, subnet, _ := dnsproto.ClientSubnet(req)
	a.mu.Lock()
	if subnet.IsValid() {
		a.seen = append(a.seen, subnet.String())
	} else {
		a.seen = append(a.seen, "")
	}
	a.mu.Unlock()
	m := dnsproto.Reply(req)
	m.Authoritative = true
	third := byte(0)
	if subnet.IsValid() && subnet.Addr().Is4() {
		third = subnet.Addr().As4()[2]
	}
	if req.Question[0].Qtype == dns.TypeA {
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "geo.cdn.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
			A: net.IPv4(10, 9, third, 1)}}
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(1232, false)
		if opt != nil {
			if a.reply != nil {
				a.reply(opt, m)
			} else {
				dnsproto.EchoSubnet(m, opt, int(opt.SourceNetmask))
			}
		}
	}
	w.WriteMsg(m)
}

func (a *ecsAuth) queries() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// ecsSetup runs test. -> cdn.test. (ecsAuth) and shop.test. (www CNAME
// geo.cdn.test.) and a resolver with cfg, served to every client.
func ecsSetup(t *testing.T, cfg ECSConfig, reply func(*dns.EDNS0_SUBNET, *dns.Msg)) (*Recursive, *Server, *ecsAuth) {
	t.Helper()
	auth := &ecsAuth{reply: reply}
	h, err := resolvertest.New(resolvertest.Config{Delegate: true, Files: []resolvertest.ZoneFile{
		{Addr: "127.0.0.4", Origin: "cdn.test.", Text: "$TTL 300\n@ SOA ns admin 1 7200 3600 1209600 60\n@ NS ns\nns A 127.0.0.4\n"},
		{Addr: "127.0.0.5", Origin: "shop.test.", Text: "$TTL 300\n@ SOA ns admin 1 7200 3600 1209600 60\n@ NS ns\nns A 127.0.0.5\nwww CNAME geo.cdn.test.\n"},
	}, Wrap: func(addr string, srv *authority.Server) dns.Handler {
		if addr == "127.0.0.4" {
			auth.zone = srv
			return auth
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, DisableSpecialUse: true, ECS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	s, err := NewServer(ServerConfig{Resolver: r, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})
	if err != nil {
		t.Fatal(err)
	}
	return r, s, auth
}

// askFrom sends the server a query for name A from client, with the ECS
// option subnet when it is not "" ("0" for FAMILY 0).
func askFrom(s *Server, client, name, subnet string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	switch subnet {
	case "":
	case "0":
		q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET}}
	default:
		q.IsEdns0().Option = []dns.EDNS0{dnsproto.SubnetOption(netip.MustParsePrefix(subnet), 0)}
	}
	return s.answer(&net.UDPAddr{IP: net.ParseIP(client), Port: 5300}, nil, q)
}

func answerAddrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// echoed is the ECS option of m as "subnet scope", or "".
func echoed(m *dns.Msg) string {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				a, _ := netip.AddrFromSlice(e.Address)
				if e.Family == 1 {
					a = a.Unmap()
				}
				return fmt.Sprintf("%s/%d scope %d", a, e.SourceNetmask, e.SourceScope)
			}
		}
	}
	return ""
}

// Without Config.ECS no subnet leaves, whatever the client sends, and
// none comes back (RFC 7871 §11.1: off unless configured).
func TestRFC7871_S11_1_OffByDefault(t *testing.T) {
	_, s, auth := ecsSetup(t, ECSConfig{}, nil)
	m := askFrom(s, "10.1.1.5", "geo.cdn.test.", "10.1.1.0/24")
	if m.Rcode != dns.RcodeSuccess || echoed(m) != "" {
		t.Fatalf("rcode %d, echo %q", m.Rcode, echoed(m))
	}
	if q := auth.queries(); !slices.Equal(q, []string{""}) {
		t.Fatalf("upstream saw %q", q)
	}
}

// The subnet sent: the client's address cut to /24 (IPv4) or /56 (IPv6)
// by default (RFC 7871 §11.1), a client's own option cut so too, and a
// client's /0 sent as /0 (§7.1.2: no address of the client's).
func TestRFC7871_S11_1_SourcePrefix(t *testing.T) {
	for _, c := range []struct {
		name, client, subnet string
		cfg                  ECSConfig
		want                 string
	}{
		{"ipv4 source address", "10.1.1.5", "", ECSConfig{}, "10.1.1.0/24"},
		{"ipv6 source address", "2001:db8:1:2ff::7", "", ECSConfig{}, "2001:db8:1:200::/56"},
		{"client option cut to /24", "192.0.2.1", "10.1.1.128/25", ECSConfig{}, "10.1.1.0/24"},
		{"client option shorter kept", "192.0.2.1", "10.1.0.0/16", ECSConfig{}, "10.1.0.0/16"},
		{"client /0", "10.1.1.5", "0.0.0.0/0", ECSConfig{}, "0.0.0.0/0"},
		{"client FAMILY 0", "10.1.1.5", "0", ECSConfig{}, "0.0.0.0/0"},
		{"configured /16", "10.1.1.5", "", ECSConfig{IPv4Prefix: 16}, "10.1.0.0/16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Zones = []string{"cdn.test"}
			_, s, auth := ecsSetup(t, c.cfg, nil)
			if m := askFrom(s, c.client, "geo.cdn.test.", c.subnet); m.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %d", m.Rcode)
			}
			if q := auth.queries(); !slices.Equal(q, []string{c.want}) {
				t.Fatalf("upstream saw %q, want %q", q, c.want)
			}
		})
	}
}

// Answers are cached per scope (RFC 7871 §7.3.1): another client of the
// same /24 is answered from the cache, one of another /24 is asked for;
// a CNAME outside the ECS zones is cached for everyone; each client is
// told the scope (§7.2.1 via §7.4). A client of unknown address
// (Resolve) never gets a tailored answer.
func TestRFC7871_S7_3_1_CachePerScope(t *testing.T) {
	r, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, nil)
	a := askFrom(s, "10.1.1.5", "www.shop.test.", "")
	b := askFrom(s, "10.1.2.5", "www.shop.test.", "")
	a2 := askFrom(s, "10.1.1.99", "www.shop.test.", "10.1.1.99/32")
	if got := answerAddrs(a); !slices.Equal(got, []string{"10.9.1.1"}) {
		t.Fatalf("client A got %v", got)
	}
	if got := answerAddrs(b); !slices.Equal(got, []string{"10.9.2.1"}) {
		t.Fatalf("client B got %v", got)
	}
	if got := answerAddrs(a2); !slices.Equal(got, []string{"10.9.1.1"}) {
		t.Fatalf("client A2 got %v", got)
	}
	if len(a.Answer) != 2 || a.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Fatalf("no CNAME: %v", a.Answer)
	}
	if q := auth.queries(); !slices.Equal(q, []string{"10.1.1.0/24", "10.1.2.0/24"}) {
		t.Fatalf("upstream saw %q: the second client of 10.1.1.0/24 was not answered from the cache", q)
	}
	if e := echoed(a2); e != "10.1.1.99/32 scope 24" {
		t.Fatalf("echo %q", e)
	}
	if e := echoed(a); e != "" {
		t.Fatalf("echo %q to a client that sent no option", e)
	}
	m, err := r.Resolve(context.Background(), dns.Question{Name: "geo.cdn.test.", Qtype: dns.TypeA})
	if err != nil || !slices.Equal(answerAddrs(m), []string{"10.9.0.1"}) {
		t.Fatalf("Resolve got %v, %v: a tailored answer", m, err)
	}
	if q := auth.queries(); len(q) != 3 || q[2] != "" {
		t.Fatalf("upstream saw %q", q)
	}
	// And what Resolve got (for no subnet) is not given to a client with one.
	if got := answerAddrs(askFrom(s, "10.1.3.5", "geo.cdn.test.", "")); !slices.Equal(got, []string{"10.9.3.1"}) {
		t.Fatalf("client C got %v", got)
	}
}

// A reply of scope 0 holds for every client (RFC 7871 §7.3), and so does
// one without the option: one upstream query serves them all.
func TestRFC7871_S7_3_ScopeZeroIsGlobal(t *testing.T) {
	for name, reply := range map[string]func(*dns.EDNS0_SUBNET, *dns.Msg){
		"scope 0":   func(q *dns.EDNS0_SUBNET, m *dns.Msg) { dnsproto.EchoSubnet(m, q, 0) },
		"no option": func(*dns.EDNS0_SUBNET, *dns.Msg) {},
	} {
		t.Run(name, func(t *testing.T) {
			_, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, reply)
			first := askFrom(s, "10.1.1.5", "geo.cdn.test.", "10.1.1.0/24")
			second := askFrom(s, "10.7.7.7", "geo.cdn.test.", "10.7.7.0/24")
			if !slices.Equal(answerAddrs(first), answerAddrs(second)) || len(auth.queries()) != 1 {
				t.Fatalf("answers %v %v, upstream saw %q", answerAddrs(first), answerAddrs(second), auth.queries())
			}
			if e := echoed(second); e != "10.7.7.0/24 scope 0" {
				t.Fatalf("echo %q", e)
			}
		})
	}
}

// Hostile authorities (RFC 7871 §7.3): a scope longer than the source is
// cut to the source (the answer is kept for the subnet sent, never for a
// longer one: no cache entry finer than what was asked); a reply whose
// FAMILY, SOURCE PREFIX-LENGTH or ADDRESS is not the query's, or with two
// options, is dropped whole: SERVFAIL, nothing cached.
func TestRFC7871_S7_3_HostileReplies(t *testing.T) {
	t.Run("scope longer than source", func(t *testing.T) {
		_, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
			dnsproto.EchoSubnet(m, q, 32)
		})
		a := askFrom(s, "10.1.1.5", "geo.cdn.test.", "10.1.1.5/32")
		b := askFrom(s, "10.1.1.200", "geo.cdn.test.", "10.1.1.200/32")
		if len(auth.queries()) != 1 || !slices.Equal(answerAddrs(a), answerAddrs(b)) {
			t.Fatalf("upstream saw %q", auth.queries())
		}
		if e := echoed(b); e != "10.1.1.200/32 scope 24" {
			t.Fatalf("echo %q", e)
		}
	})
	for name, reply := range map[string]func(*dns.EDNS0_SUBNET, *dns.Msg){
		"wrong family": func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, dnsproto.SubnetOption(netip.MustParsePrefix("2001:db8::/24"), 24))
		},
		"other source length": func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, dnsproto.SubnetOption(netip.MustParsePrefix("10.1.0.0/16"), 16))
		},
		"other address": func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, dnsproto.SubnetOption(netip.MustParsePrefix("10.66.1.0/24"), 24))
		},
		"two options": func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
			dnsproto.EchoSubnet(m, q, 24)
			dnsproto.EchoSubnet(m, q, 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, reply)
			m := askFrom(s, "10.1.1.5", "geo.cdn.test.", "")
			if m.Rcode != dns.RcodeServerFailure || len(m.Answer) != 0 {
				t.Fatalf("rcode %d, answer %v: a reply of another subnet was used", m.Rcode, m.Answer)
			}
			if len(auth.queries()) == 0 {
				t.Fatal("upstream not asked")
			}
			if _, ok := r.cache.Peek(ecsKey("geo.cdn.test.", dns.TypeA)); ok {
				t.Fatal("the dropped reply was cached")
			}
		})
	}
}

// A malformed ECS option from a client is FORMERR (RFC 7871 §7.1.2 and
// §6), not forwarded nor answered.
func TestRFC7871_S6_MalformedClientOptionFORMERR(t *testing.T) {
	_, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, nil)
	q := new(dns.Msg)
	q.SetQuestion("geo.cdn.test.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 1, 9)}}
	m := s.answer(&net.UDPAddr{IP: net.IPv4(10, 1, 1, 5), Port: 5300}, nil, q)
	if m.Rcode != dns.RcodeFormatError || len(auth.queries()) != 0 {
		t.Fatalf("rcode %d, upstream saw %q", m.Rcode, auth.queries())
	}
}

// The tailored answers kept per name are bounded (MaxScopes, the oldest
// going first, as Unbound's max-ecs-tree-size), and each counts in the
// cache's bytes.
func TestECSMaxScopesAndBytes(t *testing.T) {
	r, s, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}, MaxScopes: 2}, nil)
	askFrom(s, "10.1.1.5", "geo.cdn.test.", "")
	before := r.Stats().CacheBytes
	askFrom(s, "10.1.2.5", "geo.cdn.test.", "")
	if r.Stats().CacheBytes <= before {
		t.Fatalf("a second scope cost no bytes (%d -> %d)", before, r.Stats().CacheBytes)
	}
	askFrom(s, "10.1.3.5", "geo.cdn.test.", "") // evicts 10.1.1.0/24
	askFrom(s, "10.1.2.6", "geo.cdn.test.", "") // still cached
	askFrom(s, "10.1.1.6", "geo.cdn.test.", "") // asked again
	want := []string{"10.1.1.0/24", "10.1.2.0/24", "10.1.3.0/24", "10.1.1.0/24"}
	if q := auth.queries(); !slices.Equal(q, want) {
		t.Fatalf("upstream saw %q, want %q", q, want)
	}
	held, _ := r.cache.Peek(ecsKey("geo.cdn.test.", dns.TypeA))
	if n := len(held.ecs.scoped); n != 2 {
		t.Fatalf("%d scopes kept", n)
	}
}

// Clients of many subnets at once (run with -race): each gets its own
// subnet's answer.
func TestECSConcurrentClients(t *testing.T) {
	_, s, _ := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Go(func() {
			third := i % 4
			m := askFrom(s, fmt.Sprintf("10.1.%d.%d", third, 10+i), "www.shop.test.", "")
			if got := answerAddrs(m); !slices.Equal(got, []string{fmt.Sprintf("10.9.%d.1", third)}) {
				errs <- fmt.Sprintf("client %d got %v", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A forwarder with ECS sends its client's subnet to its upstream (here
// a resolver with ECS, which passes it on as the client's own option) and
// caches the upstream's answers per scope, as an iterating resolver does.
func TestECSForwarderChain(t *testing.T) {
	_, upstream, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: upstream}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	t.Cleanup(func() { ds.Shutdown() })
	fwd, err := New(Config{Forward: []string{pc.LocalAddr().String()}, DisableSpecialUse: true, DisableDNSSEC: true, ECS: ECSConfig{Zones: []string{"cdn.test."}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Close() })
	s, err := NewServer(ServerConfig{Resolver: fwd, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	a := askFrom(s, "10.1.1.5", "geo.cdn.test.", "")
	b := askFrom(s, "10.1.2.5", "geo.cdn.test.", "")
	a2 := askFrom(s, "10.1.1.6", "geo.cdn.test.", "10.1.1.6/32")
	if !slices.Equal(answerAddrs(a), []string{"10.9.1.1"}) || !slices.Equal(answerAddrs(b), []string{"10.9.2.1"}) || !slices.Equal(answerAddrs(a2), []string{"10.9.1.1"}) {
		t.Fatalf("answers %v %v %v", answerAddrs(a), answerAddrs(b), answerAddrs(a2))
	}
	if q := auth.queries(); !slices.Equal(q, []string{"10.1.1.0/24", "10.1.2.0/24"}) {
		t.Fatalf("authority saw %q", q)
	}
	if e := echoed(a2); e != "10.1.1.6/32 scope 24" {
		t.Fatalf("echo %q", e)
	}
}

// FuzzReplyScope feeds arbitrary ECS option bytes, as an upstream's reply
// carries them, through the wire reader and replyScope: no panic, and a
// reply taken is one for the subnet sent, of a scope no longer than it
// (RFC 7871 §7.3).
func FuzzReplyScope(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 24, 16, 10, 1, 2},
		{0, 1, 24, 32, 10, 1, 2},
		{0, 1, 16, 0, 10, 1},
		{0, 2, 24, 24, 0x20, 0x01, 0x0d},
		{0, 1, 24, 24, 10, 66, 2},
		{0, 0, 0, 0},
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	sent := netip.MustParsePrefix("10.1.2.0/24")
	f.Fuzz(func(t *testing.T, data []byte, twice bool) {
		m := new(dns.Msg)
		m.SetQuestion("geo.cdn.test.", dns.TypeA)
		m.Response = true
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data}}
		if twice {
			m.IsEdns0().Option = append(m.IsEdns0().Option, dnsproto.SubnetOption(sent, 24))
		}
		wire, err := m.Pack()
		if err != nil {
			return
		}
		var resp dns.Msg
		if resp.Unpack(wire) != nil {
			return // unreadable: the exchange skips it as garbled
		}
		scope, ok := replyScope(sent, &resp)
		if !ok {
			return
		}
		if twice || scope < 0 || scope > sent.Bits() {
			t.Fatalf("taken: scope %d, twice %v, option %v", scope, twice, resp.IsEdns0())
		}
		if e, isECS := resp.IsEdns0().Option[0].(*dns.EDNS0_SUBNET); isECS {
			a, _ := netip.AddrFromSlice(e.Address)
			if p, _ := a.Unmap().Prefix(24); e.Family != 1 || e.SourceNetmask != 24 || p != sent {
				t.Fatalf("taken for another subnet: %v", e)
			}
		}
	})
}

// A forwarder asked a question outside the ECS zones (www.shop.test.)
// sends no subnet, and the upstream chases the CNAME into the ECS zone
// for the forwarder's own address: that tailored answer is never given
// to a located client from the cache as if it held for everyone.
func TestECSForwardedCNAMENotGlobal(t *testing.T) {
	_, upstream, auth := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: upstream}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	t.Cleanup(func() { ds.Shutdown() })
	fwd, err := New(Config{Forward: []string{pc.LocalAddr().String()}, DisableSpecialUse: true, DisableDNSSEC: true, ECS: ECSConfig{Zones: []string{"cdn.test."}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Close() })
	s, err := NewServer(ServerConfig{Resolver: fwd, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	askFrom(s, "10.1.1.5", "www.shop.test.", "") // the upstream locates 127.0.0.1: 10.9.0.1
	if got := answerAddrs(askFrom(s, "10.1.2.5", "geo.cdn.test.", "")); !slices.Equal(got, []string{"10.9.2.1"}) {
		t.Fatalf("client of 10.1.2.0/24 got %v: an answer for the forwarder's address, from the cache", got)
	}
	if q := auth.queries(); !slices.Equal(q, []string{"127.0.0.0/24", "10.1.2.0/24"}) {
		t.Fatalf("authority saw %q", q)
	}
}
