package authority

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const cdnTest = `$TTL 300
cdn.test. IN SOA ns.cdn.test. admin.cdn.test. 1 7200 3600 1209600 60
cdn.test. IN NS ns.cdn.test.
ns IN A 192.0.2.53
www IN CNAME shop
shop IN TXT "steered"
plain IN A 192.0.2.99
sub IN NS ns.sub
ns.sub IN A 192.0.2.54
`

func testPools() []Pool {
	return []Pool{
		{Name: "eu", Countries: []string{"DE", "FR"}, Continents: []string{"EU"}, Lat: 50.1, Lon: 8.7,
			Members: []Member{{Addr: netip.MustParseAddr("192.0.2.1")}, {Addr: netip.MustParseAddr("192.0.2.2")}, {Addr: netip.MustParseAddr("2001:db8:e::1")}}},
		{Name: "us", Countries: []string{"US"}, Continents: []string{"NA"}, Lat: 39.0, Lon: -77.5,
			Members: []Member{{Addr: netip.MustParseAddr("198.51.100.1")}, {Addr: netip.MustParseAddr("198.51.100.2")}, {Addr: netip.MustParseAddr("2001:db8:a::1")}}},
		{Name: "ap", Countries: []string{"JP"}, Continents: []string{"AS"}, Lat: 35.7, Lon: 139.7,
			Members: []Member{{Addr: netip.MustParseAddr("203.0.113.1")}, {Addr: netip.MustParseAddr("2001:db8:b::1")}}},
	}
}

func testLocator(t testing.TB) *StaticLocator {
	l, err := NewStaticLocator([]StaticLocation{
		{netip.MustParsePrefix("10.1.0.0/16"), Location{Country: "DE", Continent: "EU", Lat: 52.5, Lon: 13.4, Coords: true}},
		{netip.MustParsePrefix("10.2.0.0/16"), Location{Country: "US", Continent: "NA", Lat: 40.7, Lon: -74, Coords: true}},
		{netip.MustParsePrefix("10.3.0.0/16"), Location{Country: "PL", Continent: "EU"}},
		{netip.MustParsePrefix("10.4.0.0/16"), Location{Country: "BR", Continent: "SA", Lat: -23.5, Lon: -46.6, Coords: true}},
		{netip.MustParsePrefix("10.4.7.0/28"), Location{Country: "JP", Continent: "AS"}},
		{netip.MustParsePrefix("2001:db8:aa::/48"), Location{Country: "JP", Continent: "AS", Lat: 35, Lon: 135, Coords: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func steerServer(t testing.TB, st Steer, h Health) *Server {
	t.Helper()
	z := mustZone(t, cdnTest, "cdn.test.")
	st.Name = "shop.cdn.test."
	if st.Pools == nil {
		st.Pools = testPools()
	}
	s, err := New(Config{Zones: []*Zone{z}, Steering: []Steer{st}, Locator: testLocator(t), Health: h})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ask sends qname/qtype with the ECS option subnet ("" for none) from src.
func ask(s *Server, qname string, qtype uint16, subnet string, src string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.SetEdns0(1232, false)
	if subnet != "" {
		p := netip.MustParsePrefix(subnet)
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
		if p.Addr().Is6() {
			e.Family = 2
		}
		q.IsEdns0().Option = append(q.IsEdns0().Option, e)
	}
	var a netip.Addr
	if src != "" {
		a = netip.MustParseAddr(src)
	}
	return s.AnswerFrom(q, a)
}

func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		}
	}
	slices.Sort(out)
	return out
}

func scopeOf(m *dns.Msg) int {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				return int(e.SourceScope)
			}
		}
	}
	return -1
}

func TestRFC7871_S7_2_1_GeographyAndScope(t *testing.T) {
	s := steerServer(t, Steer{}, nil)
	eu4 := []string{"192.0.2.1", "192.0.2.2"}
	us4 := []string{"198.51.100.1", "198.51.100.2"}
	for _, c := range []struct {
		name, qname string
		qtype       uint16
		subnet, src string
		want        []string
		scope       int // -1: no ECS option in the response
	}{
		{"ECS country match", "shop.cdn.test.", dns.TypeA, "10.1.2.0/24", "127.0.0.1", eu4, 16},
		{"ECS wins over source", "shop.cdn.test.", dns.TypeA, "10.2.9.0/24", "10.1.0.1", us4, 16},
		{"source address without ECS", "shop.cdn.test.", dns.TypeA, "", "10.2.0.9", us4, -1},
		{"continent fallback", "shop.cdn.test.", dns.TypeA, "10.3.1.0/24", "", eu4, 16},
		{"nearest by coordinates", "shop.cdn.test.", dns.TypeA, "10.4.1.0/24", "", us4, 16},
		{"scope longer than source", "shop.cdn.test.", dns.TypeA, "10.4.7.0/24", "", []string{"203.0.113.1"}, 28},
		{"IPv6 client AAAA", "shop.cdn.test.", dns.TypeAAAA, "2001:db8:aa::/56", "", []string{"2001:db8:b::1"}, 48},
		{"unknown client: default pool, own prefix", "shop.cdn.test.", dns.TypeA, "192.0.2.0/24", "", eu4, 24},
		{"source prefix 0: default pool, scope 0", "shop.cdn.test.", dns.TypeA, "0.0.0.0/0", "10.2.0.1", eu4, 0},
		{"IPv4-mapped IPv6 subnet", "shop.cdn.test.", dns.TypeA, "::ffff:10.2.9.0/120", "", us4, 112},
		{"plain name: scope 0", "plain.cdn.test.", dns.TypeA, "10.2.9.0/24", "", []string{"192.0.2.99"}, 0},
		{"CNAME to the pool name", "www.cdn.test.", dns.TypeA, "10.2.9.0/24", "", append(slices.Clone(us4), "CNAME shop.cdn.test."), 16},
		{"other type at steered name from the zone", "shop.cdn.test.", dns.TypeTXT, "10.2.9.0/24", "", nil, 0},
		{"NXDOMAIN keeps the option", "nope.cdn.test.", dns.TypeA, "10.2.9.0/24", "", nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := ask(s, c.qname, c.qtype, c.subnet, c.src)
			if m.Rcode == dns.RcodeFormatError || m.Rcode == dns.RcodeServerFailure {
				t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
			}
			if got := addrs(m); !slices.Equal(got, c.want) {
				t.Fatalf("answer %v, want %v\n%v", got, c.want, m)
			}
			if got := scopeOf(m); got != c.scope {
				t.Fatalf("scope %d, want %d", got, c.scope)
			}
			for _, rr := range m.Answer {
				if rt := rr.Header().Rrtype; (rt == dns.TypeA || rt == dns.TypeAAAA) && rr.Header().Name == "shop.cdn.test." && rr.Header().Ttl != 30 {
					t.Fatalf("TTL %d, want the 30 s default", rr.Header().Ttl)
				}
			}
		})
	}
}

// RFC 7871 §7.2.1: the response's option repeats FAMILY, SOURCE
// PREFIX-LENGTH and ADDRESS of the query.
func TestRFC7871_S7_2_1_EchoesOption(t *testing.T) {
	s := steerServer(t, Steer{}, nil)
	m := ask(s, "shop.cdn.test.", dns.TypeA, "10.1.2.0/24", "")
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	e := back.IsEdns0().Option[0].(*dns.EDNS0_SUBNET)
	if e.Family != 1 || e.SourceNetmask != 24 || e.SourceScope != 16 || !e.Address.Equal(net.ParseIP("10.1.2.0")) {
		t.Fatalf("echoed %v", e)
	}
}

func TestRFC7871_S6_MalformedOptionIsFORMERR(t *testing.T) {
	s := steerServer(t, Steer{}, nil)
	for _, c := range []struct {
		name string
		opts []dns.EDNS0
	}{
		{"scope set in a query", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, SourceScope: 24, Address: net.ParseIP("10.1.2.0")}}},
		{"address bits beyond the source prefix", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: net.ParseIP("10.1.2.3")}}},
		{"IPv6 bits beyond the source prefix", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 2, SourceNetmask: 56, Address: net.ParseIP("2001:db8:aa::1")}}},
		{"source prefix longer than IPv4", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 33, Address: net.ParseIP("10.1.2.0")}}},
		{"unknown family", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 3, SourceNetmask: 8, Address: net.ParseIP("10.0.0.0")}}},
		{"family 1 with an IPv6 address", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 8, Address: net.ParseIP("2001:db8::")}}},
		{"family 0 with a prefix", []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 0, SourceNetmask: 8}}},
		{"two options", []dns.EDNS0{
			&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: net.ParseIP("10.1.2.0")},
			&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: net.ParseIP("10.2.2.0")}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion("shop.cdn.test.", dns.TypeA)
			q.SetEdns0(1232, false)
			q.IsEdns0().Option = c.opts
			m := s.Answer(q)
			if m.Rcode != dns.RcodeFormatError || len(m.Answer) != 0 {
				t.Fatalf("rcode %s, answer %v", dns.RcodeToString[m.Rcode], m.Answer)
			}
			if m.IsEdns0() == nil {
				t.Fatal("FORMERR without OPT (RFC 6891 §7)")
			}
		})
	}
}

// Over the wire, miekg/dns rejects a bad family or prefix length while
// reading the query; the server still answers FORMERR.
func TestRFC7871_S6_MalformedOnTheWire(t *testing.T) {
	s := steerServer(t, Steer{}, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	defer srv.Shutdown()
	q := new(dns.Msg)
	q.SetQuestion("shop.cdn.test.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: 8, Data: []byte{0, 1, 40, 0, 10, 1, 2, 0, 0}}} // /40 for IPv4
	c := &dns.Client{Timeout: 2 * time.Second}
	m, _, err := c.Exchange(q, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeFormatError {
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	// A good option over the wire, with the source address of loopback.
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: net.ParseIP("10.2.3.0")}}
	m, _, err = c.Exchange(q, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if got := addrs(m); !slices.Equal(got, []string{"198.51.100.1", "198.51.100.2"}) || scopeOf(m) != 16 {
		t.Fatalf("answer %v scope %d", got, scopeOf(m))
	}
}

// Without a Locator the answer does not depend on the client: scope 0.
func TestRFC7871_S7_2_1_NoLocatorScopeZero(t *testing.T) {
	z := mustZone(t, cdnTest, "cdn.test.")
	s, err := New(Config{Zones: []*Zone{z}, Steering: []Steer{{Name: "shop.cdn.test.", Pools: testPools()}}})
	if err != nil {
		t.Fatal(err)
	}
	m := ask(s, "shop.cdn.test.", dns.TypeA, "10.2.9.0/24", "")
	if got := addrs(m); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) || scopeOf(m) != 0 {
		t.Fatalf("%v scope %d", got, scopeOf(m))
	}
}

func TestSteerLatency(t *testing.T) {
	s := steerServer(t, Steer{Policy: Latency, Default: "ap", RTT: []RTT{
		{netip.MustParsePrefix("10.0.0.0/8"), "eu", 80 * time.Millisecond},
		{netip.MustParsePrefix("10.0.0.0/8"), "us", 20 * time.Millisecond},
		{netip.MustParsePrefix("10.9.0.0/16"), "ap", 90 * time.Millisecond},
		{netip.MustParsePrefix("10.9.0.0/16"), "eu", 30 * time.Millisecond},
	}}, nil)
	for _, c := range []struct {
		subnet string
		want   []string
		scope  int
	}{
		{"10.1.0.0/24", []string{"198.51.100.1", "198.51.100.2"}, 8},
		{"10.9.1.0/24", []string{"192.0.2.1", "192.0.2.2"}, 16},
		{"172.16.0.0/24", []string{"203.0.113.1"}, 24}, // unmeasured: the default pool
	} {
		m := ask(s, "shop.cdn.test.", dns.TypeA, c.subnet, "")
		if got := addrs(m); !slices.Equal(got, c.want) || scopeOf(m) != c.scope {
			t.Errorf("%s: %v scope %d, want %v scope %d", c.subnet, got, scopeOf(m), c.want, c.scope)
		}
	}
}

func TestSteerFailoverAndHealth(t *testing.T) {
	var h HealthTable
	s := steerServer(t, Steer{Policy: Failover, TTL: 10 * time.Second}, &h)
	check := func(want ...string) {
		t.Helper()
		m := ask(s, "shop.cdn.test.", dns.TypeA, "10.2.9.0/24", "")
		if got := addrs(m); !slices.Equal(got, want) {
			t.Fatalf("answer %v, want %v", got, want)
		}
		if scopeOf(m) != 0 {
			t.Fatalf("failover answers everyone alike: scope %d", scopeOf(m))
		}
		if m.Answer[0].Header().Ttl != 10 {
			t.Fatalf("TTL %d", m.Answer[0].Header().Ttl)
		}
	}
	check("192.0.2.1", "192.0.2.2")
	h.Set(netip.MustParseAddr("192.0.2.1"), false)
	check("192.0.2.2") // shrinks to the healthy members
	h.Set(netip.MustParseAddr("192.0.2.2"), false)
	check("198.51.100.1", "198.51.100.2") // the next pool
	for _, a := range []string{"198.51.100.1", "198.51.100.2", "203.0.113.1"} {
		h.Set(netip.MustParseAddr(a), false)
	}
	check("192.0.2.1", "192.0.2.2") // all down: the primary whole, never empty
	h.Set(netip.MustParseAddr("192.0.2.1"), true)
	check("192.0.2.1")
}

func TestSteerGeographyMovesOnFailure(t *testing.T) {
	var h HealthTable
	s := steerServer(t, Steer{}, &h)
	h.Set(netip.MustParseAddr("198.51.100.1"), false)
	h.Set(netip.MustParseAddr("198.51.100.2"), false)
	// A US client whose pool is down goes to the nearest other (eu).
	m := ask(s, "shop.cdn.test.", dns.TypeA, "10.2.9.0/24", "")
	if got := addrs(m); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Fatalf("answer %v", got)
	}
}

func TestSteerWeighted(t *testing.T) {
	pools := []Pool{
		{Name: "a", Members: []Member{{Addr: netip.MustParseAddr("192.0.2.1"), Weight: 3}}},
		{Name: "b", Members: []Member{{Addr: netip.MustParseAddr("192.0.2.2")}, {Addr: netip.MustParseAddr("192.0.2.3"), Weight: 0}}},
	}
	var h HealthTable
	s := steerServer(t, Steer{Policy: Weighted, Pools: pools}, &h)
	count := map[string]int{}
	for range 50 {
		m := ask(s, "shop.cdn.test.", dns.TypeA, "", "10.1.0.1")
		if len(m.Answer) != 1 {
			t.Fatalf("answer %v", m.Answer)
		}
		count[addrs(m)[0]]++
	}
	if count["192.0.2.1"] != 30 || count["192.0.2.2"] != 10 || count["192.0.2.3"] != 10 {
		t.Fatalf("counts %v, want 30/10/10", count)
	}
	h.Set(netip.MustParseAddr("192.0.2.1"), false)
	for range 10 {
		if got := addrs(ask(s, "shop.cdn.test.", dns.TypeA, "", ""))[0]; got == "192.0.2.1" {
			t.Fatal("answered an unhealthy member")
		}
	}
}

func TestSteerRotatesWithinPool(t *testing.T) {
	s := steerServer(t, Steer{}, nil)
	first := map[string]bool{}
	for range 4 {
		m := ask(s, "shop.cdn.test.", dns.TypeA, "10.1.0.0/24", "")
		first[m.Answer[0].(*dns.A).A.String()] = true
	}
	if len(first) != 2 {
		t.Fatalf("first addresses %v, want both in turn", first)
	}
	m := ask(steerServer(t, Steer{Max: 1}, nil), "shop.cdn.test.", dns.TypeA, "10.1.0.0/24", "")
	if len(m.Answer) != 1 {
		t.Fatalf("Max 1: %v", m.Answer)
	}
}

func TestSteeringErrors(t *testing.T) {
	z := mustZone(t, cdnTest, "cdn.test.")
	one := []Pool{{Name: "p", Members: []Member{{Addr: netip.MustParseAddr("192.0.2.1")}}}}
	for _, c := range []struct {
		name string
		st   Steer
	}{
		{"outside the zones", Steer{Name: "shop.other.", Pools: one}},
		{"below a cut", Steer{Name: "x.sub.cdn.test.", Pools: one}},
		{"has A records", Steer{Name: "plain.cdn.test.", Pools: one}},
		{"is a CNAME", Steer{Name: "www.cdn.test.", Pools: one}},
		{"no pools", Steer{Name: "shop.cdn.test."}},
		{"unknown default", Steer{Name: "shop.cdn.test.", Pools: one, Default: "q"}},
		{"unknown RTT pool", Steer{Name: "shop.cdn.test.", Pools: one, RTT: []RTT{{netip.MustParsePrefix("10.0.0.0/8"), "q", 1}}}},
		{"bad policy", Steer{Name: "shop.cdn.test.", Pools: one, Policy: 9}},
		{"negative TTL", Steer{Name: "shop.cdn.test.", Pools: one, TTL: -1}},
		{"bad address", Steer{Name: "shop.cdn.test.", Pools: []Pool{{Name: "p", Members: []Member{{}}}}}},
		{"bad coordinates", Steer{Name: "shop.cdn.test.", Pools: []Pool{{Name: "p", Lat: 91}}}},
	} {
		if _, err := New(Config{Zones: []*Zone{z}, Steering: []Steer{c.st}}); err == nil || !strings.HasPrefix(err.Error(), "authority: bad steering") {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

func TestHaversine(t *testing.T) {
	// Frankfurt to New York is about 6,200 km.
	if d := distance(50.1, 8.7, 40.7, -74); d < 6100 || d > 6300 {
		t.Fatalf("distance %f", d)
	}
	if d := distance(10, 20, 10, 20); d != 0 {
		t.Fatalf("distance to itself %f", d)
	}
}

// FuzzECSOption feeds arbitrary ECS option bytes through the wire reader
// and the server: no panic, and either FORMERR or an echo of the query's
// option that packs again.
func FuzzECSOption(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 24, 0, 10, 1, 2},
		{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0xaa, 0},
		{0, 0, 0, 0},
		{0, 1, 24, 0, 10, 1, 2, 3},
		{0, 1, 33, 0, 10, 1, 2, 0, 0},
		{0, 1, 0, 0},
		{0, 1, 24, 16, 10, 1, 2},
	} {
		f.Add(seed)
	}
	s := steerServer(f, Steer{}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		q := new(dns.Msg)
		q.SetQuestion("shop.cdn.test.", dns.TypeA)
		q.SetEdns0(1232, false)
		q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data}}
		wire, err := q.Pack()
		if err != nil {
			return
		}
		var in dns.Msg
		if err := in.Unpack(wire); err != nil {
			return // the server answers FORMERR for what it cannot read
		}
		m := s.AnswerFrom(&in, netip.MustParseAddr("127.0.0.1"))
		if _, err := m.Pack(); err != nil {
			t.Fatalf("response does not pack: %v", err)
		}
		if m.Rcode == dns.RcodeFormatError {
			return
		}
		qe := in.IsEdns0().Option[0].(*dns.EDNS0_SUBNET)
		re, ok := m.IsEdns0().Option[0].(*dns.EDNS0_SUBNET)
		if !ok || re.Family != qe.Family || re.SourceNetmask != qe.SourceNetmask || !re.Address.Equal(qe.Address) {
			t.Fatalf("option %v not echoed: %v", qe, m.IsEdns0())
		}
		if len(m.Answer) == 0 {
			t.Fatal("empty answer for a steered name")
		}
	})
}

// HealthTable is written while answers read it (run with -race).
func TestHealthTableConcurrent(t *testing.T) {
	var h HealthTable
	s := steerServer(t, Steer{}, &h)
	a := netip.MustParseAddr("192.0.2.1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			h.Set(a, i%2 == 0)
			h.Set(netip.MustParseAddr("::ffff:192.0.2.2"), i%3 == 0)
		}
	}()
	for range 200 {
		if m := ask(s, "shop.cdn.test.", dns.TypeA, "10.1.0.0/24", ""); len(m.Answer) == 0 {
			t.Fatal("empty answer")
		}
	}
	<-done
	h.Set(a, true)
	h.Set(netip.MustParseAddr("192.0.2.2"), false) // an IPv4-mapped Set and a plain one agree
	if !h.Healthy(a) || h.Healthy(netip.MustParseAddr("::ffff:192.0.2.2")) {
		t.Fatal("final state wrong")
	}
}
