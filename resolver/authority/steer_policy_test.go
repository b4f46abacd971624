package authority

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Every policy, asked with an ECS option and without one (by the source
// address), IPv4 and IPv6: the pool, and the scope the answer holds for
// (RFC 7871 §7.2.1; -1: no option in the response, none in the query).
func TestRFC7871_EveryPolicyWithAndWithoutECS(t *testing.T) {
	eu4, us4, ap4 := []string{"192.0.2.1", "192.0.2.2"}, []string{"198.51.100.1", "198.51.100.2"}, []string{"203.0.113.1"}
	rtt := []RTT{
		{netip.MustParsePrefix("10.2.0.0/16"), "us", 10 * time.Millisecond},
		{netip.MustParsePrefix("10.2.0.0/16"), "eu", 90 * time.Millisecond},
		{netip.MustParsePrefix("2001:db8:aa::/48"), "ap", 5 * time.Millisecond},
	}
	for _, c := range []struct {
		name        string
		st          Steer
		qtype       uint16
		subnet, src string
		want        []string
		scope       int
	}{
		{"geography ECS", Steer{}, dns.TypeA, "10.2.1.0/24", "", us4, 16},
		{"geography source", Steer{}, dns.TypeA, "", "10.2.1.9", us4, -1},
		{"geography IPv6 source", Steer{}, dns.TypeAAAA, "", "2001:db8:aa::9", []string{"2001:db8:b::1"}, -1},
		{"geography unknown: documented default", Steer{Default: "ap"}, dns.TypeA, "192.0.2.0/24", "", ap4, 24},
		{"geography unknown source: default", Steer{Default: "us"}, dns.TypeA, "", "192.0.2.77", us4, -1},
		{"latency ECS", Steer{Policy: Latency, RTT: rtt}, dns.TypeA, "10.2.1.0/24", "", us4, 16},
		{"latency source", Steer{Policy: Latency, RTT: rtt}, dns.TypeA, "", "10.2.1.9", us4, -1},
		{"latency IPv6 ECS", Steer{Policy: Latency, RTT: rtt}, dns.TypeAAAA, "2001:db8:aa::/56", "", []string{"2001:db8:b::1"}, 48},
		{"latency unmeasured: default", Steer{Policy: Latency, RTT: rtt, Default: "ap"}, dns.TypeA, "10.9.0.0/24", "", ap4, 24},
		{"failover ECS: scope 0", Steer{Policy: Failover}, dns.TypeA, "10.2.1.0/24", "", eu4, 0},
		{"failover source", Steer{Policy: Failover}, dns.TypeA, "", "10.2.1.9", eu4, -1},
		{"failover IPv6", Steer{Policy: Failover}, dns.TypeAAAA, "2001:db8:aa::/56", "", []string{"2001:db8:e::1"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := steerServer(t, c.st, nil)
			m := ask(s, "shop.cdn.test.", c.qtype, c.subnet, c.src)
			if m.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
			}
			if got := addrs(m); !slices.Equal(got, c.want) || scopeOf(m) != c.scope {
				t.Fatalf("%v scope %d, want %v scope %d", got, scopeOf(m), c.want, c.scope)
			}
		})
	}
	// Weighted: one member per answer, whatever the client; scope 0.
	s := steerServer(t, Steer{Policy: Weighted}, nil)
	for _, q := range []struct{ subnet, src string }{{"10.2.1.0/24", ""}, {"", "10.2.1.9"}} {
		m := ask(s, "shop.cdn.test.", dns.TypeA, q.subnet, q.src)
		want := -1
		if q.subnet != "" {
			want = 0
		}
		if len(m.Answer) != 1 || scopeOf(m) != want {
			t.Fatalf("weighted %v: %v scope %d", q, m.Answer, scopeOf(m))
		}
	}
}

// With every member of every pool down, each policy answers its best
// pool whole: a broken fleet gets an answer, never an empty NOERROR.
func TestSteerEveryPoolDownNeverEmpty(t *testing.T) {
	var h HealthTable
	for _, p := range testPools() {
		for _, m := range p.Members {
			h.Set(m.Addr, false)
		}
	}
	for _, c := range []struct {
		name   string
		st     Steer
		qtype  uint16
		subnet string
		want   []string
	}{
		{"geography", Steer{}, dns.TypeA, "10.2.1.0/24", []string{"198.51.100.1", "198.51.100.2"}},
		{"geography AAAA", Steer{}, dns.TypeAAAA, "10.1.1.0/24", []string{"2001:db8:e::1"}},
		{"latency", Steer{Policy: Latency, RTT: []RTT{{netip.MustParsePrefix("10.0.0.0/8"), "ap", time.Millisecond}}}, dns.TypeA, "10.2.1.0/24", []string{"203.0.113.1"}},
		{"failover", Steer{Policy: Failover}, dns.TypeA, "10.2.1.0/24", []string{"192.0.2.1", "192.0.2.2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := ask(steerServer(t, c.st, &h), "shop.cdn.test.", c.qtype, c.subnet, "")
			if got := addrs(m); m.Rcode != dns.RcodeSuccess || !slices.Equal(got, c.want) {
				t.Fatalf("rcode %d answer %v, want %v", m.Rcode, got, c.want)
			}
		})
	}
	m := ask(steerServer(t, Steer{Policy: Weighted}, &h), "shop.cdn.test.", dns.TypeA, "", "10.2.1.9")
	if len(m.Answer) != 1 {
		t.Fatalf("weighted: %v", m.Answer)
	}
}

// Pools tied on continent are told apart by distance (worked out only
// then, lazily): a client near Madrid gets mad, one near Frankfurt fra.
func TestSteerNearestWithinContinent(t *testing.T) {
	pools := []Pool{
		{Name: "fra", Continents: []string{"EU"}, Lat: 50.1, Lon: 8.7, Members: []Member{{Addr: netip.MustParseAddr("192.0.2.1")}}},
		{Name: "mad", Continents: []string{"EU"}, Lat: 40.4, Lon: -3.7, Members: []Member{{Addr: netip.MustParseAddr("192.0.2.2")}}},
		{Name: "iad", Continents: []string{"NA"}, Lat: 39.0, Lon: -77.5, Members: []Member{{Addr: netip.MustParseAddr("198.51.100.1")}}},
	}
	z := mustZone(t, cdnTest, "cdn.test.")
	loc, err := NewStaticLocator([]StaticLocation{
		{netip.MustParsePrefix("10.5.0.0/16"), Location{Country: "PT", Continent: "EU", Lat: 38.7, Lon: -9.1, Coords: true}},
		{netip.MustParsePrefix("10.6.0.0/16"), Location{Country: "NL", Continent: "EU", Lat: 52.4, Lon: 4.9, Coords: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Zones: []*Zone{z}, Steering: []Steer{{Name: "shop.cdn.test.", Pools: pools}}, Locator: loc})
	if err != nil {
		t.Fatal(err)
	}
	for subnet, want := range map[string]string{"10.5.1.0/24": "192.0.2.2", "10.6.1.0/24": "192.0.2.1"} {
		if got := addrs(ask(s, "shop.cdn.test.", dns.TypeA, subnet, "")); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: %v, want %s", subnet, got, want)
		}
	}
}

// The steered answer allocates no more than the plain one by source
// address (the location lookup and the ranking allocate nothing), and
// one more with ECS: the option echoed (RFC 7871 §7.2.1).
func TestSteerAllocs(t *testing.T) {
	var h HealthTable
	h.Set(netip.MustParseAddr("203.0.113.1"), false)
	s := steerServer(t, Steer{}, &h)
	src := netip.MustParseAddr("10.1.0.1")
	query := func(name string, ecs bool) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, false)
		if ecs {
			q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: 8, Family: 1, SourceNetmask: 24, Address: netip.MustParseAddr("10.2.3.0").AsSlice()}}
		}
		return q
	}
	plainQ, steerQ, ecsQ := query("plain.cdn.test.", false), query("shop.cdn.test.", false), query("shop.cdn.test.", true)
	plain := testing.AllocsPerRun(200, func() { s.AnswerFrom(plainQ, src) })
	steered := testing.AllocsPerRun(200, func() { s.AnswerFrom(steerQ, src) })
	withECS := testing.AllocsPerRun(200, func() { s.AnswerFrom(ecsQ, src) })
	if steered > plain || withECS > plain+1 {
		t.Fatalf("allocations: plain %v, steered %v, steered by ECS %v", plain, steered, withECS)
	}
}
