package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// Where EDNS Client Subnet (RFC 7871) meets DNSSEC (RFC 4035): a signed
// GeoDNS zone whose answer depends on the client's subnet.

// forgedAddr is the address a forger puts in the answers it changes.
const forgedAddr = "203.0.113.66"

// signedGeo is the authoritative server of the signed zone cdn.com.: it
// answers geo.cdn.com. A (and alias.cdn.com. A, a CNAME to it) from a
// copy of the zone, signed with the zone's own key, whose record is
// 10.9.<third octet of the subnet sent>.1 (10.9.0.1 without a subnet),
// and echoes the option with the scope
// scope returns. forge lists the third octets whose answers a man in the
// middle changes (keeping the signature: bogus); refuse those answered
// REFUSED. gate, while set, holds every geo query until it is closed.
type signedGeo struct {
	variants map[byte]dns.Handler // by third octet, 0 the zone as served to anyone else
	key      *dns.DNSKEY

	mu     sync.Mutex
	scope  func(sent netip.Prefix) int // nil: the source length
	forge  map[byte]bool
	refuse map[byte]bool
	gate   chan struct{}
	seen   []string // the subnet of every geo or alias query ("" for none)
}

func (g *signedGeo) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 || req.Question[0].Qtype != dns.TypeA || !geoName(req.Question[0].Name) {
		g.variants[0].ServeDNS(w, req) // the zone's keys and the rest, the same for everyone
		return
	}
	opt, subnet, _ := dnsproto.ClientSubnet(req)
	third := byte(0)
	if subnet.IsValid() && subnet.Addr().Is4() && subnet.Bits() >= 24 {
		third = subnet.Addr().As4()[2]
	}
	g.mu.Lock()
	if subnet.IsValid() {
		g.seen = append(g.seen, subnet.String())
	} else {
		g.seen = append(g.seen, "")
	}
	scope, forge, refuse, gate := g.scope, g.forge[third], g.refuse[third], g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	h := g.variants[third]
	if h == nil {
		h = g.variants[0]
	}
	rw := &capture{ResponseWriter: w}
	h.ServeDNS(rw, req)
	m := rw.m
	if refuse {
		m = dnsproto.Reply(req)
		m.Rcode = dns.RcodeRefused
	}
	if forge {
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				a.A = net.ParseIP(forgedAddr)
			}
		}
	}
	if opt != nil {
		if m.IsEdns0() == nil {
			m.SetEdns0(1232, true)
		}
		o := m.IsEdns0() // the zone's own server echoes too: one option, the one chosen here
		o.Option = slices.DeleteFunc(o.Option, func(e dns.EDNS0) bool { return e.Option() == dns.EDNS0SUBNET })
		s := int(opt.SourceNetmask)
		if scope != nil {
			s = scope(subnet)
		}
		dnsproto.EchoSubnet(m, opt, s)
	}
	w.WriteMsg(m)
}

func geoName(n string) bool {
	n = dns.CanonicalName(n)
	return n == "geo.cdn.com." || n == "alias.cdn.com."
}

func (g *signedGeo) set(f func(g *signedGeo)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *signedGeo) queries() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// capture keeps the message a handler writes.
type capture struct {
	dns.ResponseWriter
	m *dns.Msg
}

func (c *capture) WriteMsg(m *dns.Msg) error { c.m = m; return nil }

// ecsSignedSetup serves a signed root and com. with cdn.com. (signedGeo,
// an ECS zone) and shop.com. (signed, static A),
// and returns a validating resolver with cfg (ECS toward cdn.com.), on a
// fake clock started now (the signatures hold for real time), served to
// every client.
func ecsSignedSetup(t *testing.T, cfg Config) (*Recursive, *Server, *signedGeo, *clock.Fake) {
	t.Helper()
	key, err := resolvertest.NewKey("cdn.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	head := "cdn.com. 300 IN SOA ns.cdn.com. h.cdn.com. 1 7200 3600 1209600 300\ncdn.com. 300 IN NS ns.cdn.com.\nns.cdn.com. 300 IN A 127.0.0.4\n"
	geo := &signedGeo{variants: map[byte]dns.Handler{}, key: key.DNSKEY, forge: map[byte]bool{}, refuse: map[byte]bool{}}
	for _, third := range []byte{1, 2, 3, 4} {
		z, err := resolvertest.SignZone("cdn.com.", head+fmt.Sprintf("geo 30 IN A 10.9.%d.1\nalias 300 IN CNAME geo\n", third), resolvertest.Signing{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		geo.variants[third] = resolvertest.NewSignedServer([]*resolvertest.SignedZone{z}, nil)
	}
	shop := "shop.com. 300 IN SOA ns.shop.com. h.shop.com. 1 7200 3600 1209600 300\nshop.com. 300 IN NS ns.shop.com.\nns.shop.com. 300 IN A 127.0.0.5\n" +
		"static 300 IN A 192.0.2.7\n"
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "cdn.com.", Text: head + "geo 30 IN A 10.9.0.1\nalias 300 IN CNAME geo\n"}, Signing: resolvertest.Signing{Key: key},
			Wrap: func(h dns.Handler) dns.Handler { geo.variants[0] = h; return geo }},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.5", Origin: "shop.com.", Text: shop}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	clk := clock.NewFake(time.Now())
	cfg.Roots, cfg.Port, cfg.AllowLoopback, cfg.TrustAnchors, cfg.Now = h.Roots(), h.Port, true, anchors, clk.Now
	cfg.DisableSpecialUse = true
	if cfg.ECS.Zones == nil {
		cfg.ECS.Zones = []string{"cdn.com."}
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !r.validating() {
		t.Fatal("not validating")
	}
	s, err := NewServer(ServerConfig{Resolver: r, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	return r, s, geo, clk
}

// askDNSSEC sends the server a query for name/qtype from client (UDP),
// with DO (do), AD (ad) and CD (cd), and the ECS option subnet unless "".
func askDNSSEC(s *Server, client, name string, qtype uint16, subnet string, do, ad, cd bool) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(1232, do)
	q.AuthenticatedData, q.CheckingDisabled = ad, cd
	if subnet != "" {
		q.IsEdns0().Option = []dns.EDNS0{dnsproto.SubnetOption(netip.MustParsePrefix(subnet), 0)}
	}
	return s.answer(&net.UDPAddr{IP: net.ParseIP(client), Port: 5300}, &net.TCPAddr{}, q)
}

// signaturesVerify reports whether every RRset of rrs (the answer
// section) is covered by an RRSIG of rrs that verifies it with key (of
// cdn.com.) or, for shop.com., any signature whose signer is not cdn.com.
// is only counted. It returns what is wrong, or "".
func signaturesVerify(rrs []dns.RR, key *dns.DNSKEY) string {
	var data []dns.RR
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
		} else {
			data = append(data, rr)
		}
	}
	for _, set := range groupRRsets(data) {
		h := set[0].Header()
		found := false
		for _, s := range sigs {
			if s.TypeCovered != h.Rrtype || !strings.EqualFold(s.Hdr.Name, h.Name) {
				continue
			}
			found = true
			if s.SignerName == "cdn.com." {
				// The TTLs were counted down: verify with the original.
				c := make([]dns.RR, len(set))
				for i, rr := range set {
					c[i] = dns.Copy(rr)
					c[i].Header().Ttl = s.OrigTtl
				}
				if err := s.Verify(key, c); err != nil {
					return fmt.Sprintf("RRSIG of %s %s does not verify the RRset served: %v", h.Name, dns.TypeToString[h.Rrtype], err)
				}
			}
		}
		if !found {
			return fmt.Sprintf("no RRSIG for %s %s", h.Name, dns.TypeToString[h.Rrtype])
		}
	}
	return ""
}

func addrsOf(m *dns.Msg) string { return strings.Join(answerAddrs(m), ",") }

// TestRFC4035_3_2_1_ECSScopedAnswersValidated: an answer of a signed ECS
// zone, tailored to the client's subnet and cached per scope, is answered
// exactly as a global one, fresh and from the cache: AD for a client
// that sets DO or AD (RFC 6840 §5.7, §5.8; RFC 4035 §3.2.3), none for one
// that sets neither; with DO, the RRSIGs of the RRsets served (RFC 4035
// §3.2.1), which verify them: a client of another subnet gets its own
// answer with its own signature, never another scope's; a CNAME chain
// carries the signatures of each link. A name outside the ECS zones
// keeps its RRSIGs for ECS clients too.
func TestRFC4035_3_2_1_ECSScopedAnswersValidated(t *testing.T) {
	_, s, geo, _ := ecsSignedSetup(t, Config{})
	for round := range 2 { // fresh, then from the cache
		for _, c := range []struct{ client, name, want string }{
			{"10.1.1.5", "geo.cdn.com.", "10.9.1.1"},
			{"10.1.2.5", "geo.cdn.com.", "10.9.2.1"},
			{"10.1.3.5", "alias.cdn.com.", "10.9.3.1"},
			{"10.1.1.6", "alias.cdn.com.", "10.9.1.1"},
			{"10.1.2.6", "static.shop.com.", "192.0.2.7"},
		} {
			m := askDNSSEC(s, c.client, c.name, dns.TypeA, "", true, false, false)
			if m.Rcode != dns.RcodeSuccess || addrsOf(m) != c.want {
				t.Fatalf("round %d, %s for %s: rcode %d, %v\n%v", round, c.name, c.client, m.Rcode, addrsOf(m), m)
			}
			if !m.AuthenticatedData {
				t.Errorf("round %d, %s for %s: secure answer without AD (RFC 6840 §5.8):\n%v", round, c.name, c.client, m)
			}
			if bad := signaturesVerify(m.Answer, geo.key); bad != "" {
				t.Errorf("round %d, %s for %s: %s (RFC 4035 §3.2.1):\n%v", round, c.name, c.client, bad, m)
			}
			plain := askDNSSEC(s, c.client, c.name, dns.TypeA, "", false, false, false)
			if plain.AuthenticatedData || count(plain.Answer, dns.TypeRRSIG) != 0 || addrsOf(plain) != c.want {
				t.Errorf("round %d, %s for %s without DO or AD: AD %v, %d RRSIGs", round, c.name, c.client, plain.AuthenticatedData, count(plain.Answer, dns.TypeRRSIG))
			}
			ad := askDNSSEC(s, c.client, c.name, dns.TypeA, "", false, true, false)
			if !ad.AuthenticatedData || count(ad.Answer, dns.TypeRRSIG) != 0 {
				t.Errorf("round %d, %s for %s with AD (RFC 6840 §5.7): AD %v, %d RRSIGs", round, c.name, c.client, ad.AuthenticatedData, count(ad.Answer, dns.TypeRRSIG))
			}
		}
	}
	if q := geo.queries(); len(q) != 4 {
		t.Fatalf("upstream saw %q: one query per name and /24 expected", q)
	}
}

// TestRFC4035_4_7_ECSBogusPerSubnet: an answer forged for one subnet is
// SERVFAIL with its Extended DNS Error (RFC 8914) for that subnet, and
// remembered for it for the bogus TTL (RFC 4035 §4.7) without blocking
// the other subnets, whose signed answers are given with AD; with CD
// (RFC 4035 §3.2.2) the forged data is given without AD, resolved with
// the client's subnet and told its scope (RFC 7871 §7.2.1), and not
// cached.
func TestRFC4035_4_7_ECSBogusPerSubnet(t *testing.T) {
	_, s, geo, clk := ecsSignedSetup(t, Config{})
	geo.set(func(g *signedGeo) { g.forge[2] = true })
	for i := range 2 {
		m := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
		if ede := edeOf(m); m.Rcode != dns.RcodeServerFailure || ede == nil || len(m.Answer) != 0 {
			t.Fatalf("forged answer, round %d: want SERVFAIL with an EDE:\n%v", i, m)
		}
	}
	if q := geo.queries(); len(q) != 1 {
		t.Fatalf("upstream saw %q: the bogus verdict was not kept for the subnet", q)
	}
	a := askDNSSEC(s, "10.1.1.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	if a.Rcode != dns.RcodeSuccess || !a.AuthenticatedData || addrsOf(a) != "10.9.1.1" {
		t.Fatalf("another subnet after a bogus answer for 10.1.2.0/24:\n%v", a)
	}
	cd := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "10.1.2.5/32", true, false, true)
	if cd.Rcode != dns.RcodeSuccess || cd.AuthenticatedData || addrsOf(cd) != forgedAddr {
		t.Fatalf("CD: want the forged data, without AD:\n%v", cd)
	}
	if q := geo.queries(); q[len(q)-1] != "10.1.2.0/24" {
		t.Fatalf("the CD query carried %q, not the client's subnet", q[len(q)-1])
	}
	if e := echoed(cd); e != "10.1.2.5/32 scope 24" {
		t.Fatalf("CD answer's echo %q", e)
	}
	if m := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after CD, a validating query got:\n%v", m)
	}
	if m := askDNSSEC(s, "10.1.1.6", "geo.cdn.com.", dns.TypeA, "", true, false, false); !m.AuthenticatedData || addrsOf(m) != "10.9.1.1" {
		t.Fatalf("the signed answer's hit:\n%v", m)
	}
	n := len(geo.queries())
	clk.Advance(bogusTTL + time.Second)
	if m := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false); m.Rcode != dns.RcodeServerFailure || len(geo.queries()) != n+1 {
		t.Fatalf("after the bogus TTL: rcode %d, upstream asked %d times", m.Rcode, len(geo.queries())-n)
	}
}

// TestRFC9520_3_ECSFailurePerSubnet: a question that failed (SERVFAIL)
// for one client subnet fails again at once for that subnet only, for
// the failure TTL (RFC 9520 §3.2), and other subnets are resolved (RFC
// 7871 §7.3: answers, and so failures, are per scope); the failures kept
// per question are bounded (MaxScopes).
func TestRFC9520_3_ECSFailurePerSubnet(t *testing.T) {
	r, s, geo, clk := ecsSignedSetup(t, Config{ECS: ECSConfig{MaxScopes: 2}})
	geo.set(func(g *signedGeo) { g.refuse[2], g.refuse[3], g.refuse[4] = true, true, true })
	if m := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("refused upstream:\n%v", m)
	}
	n := len(geo.queries())
	if m := askDNSSEC(s, "10.1.2.6", "geo.cdn.com.", dns.TypeA, "", true, false, false); m.Rcode != dns.RcodeServerFailure || len(geo.queries()) != n {
		t.Fatalf("the failed subnet again: rcode %d, upstream asked again: %v", m.Rcode, len(geo.queries()) != n)
	}
	if m := askDNSSEC(s, "10.1.1.5", "geo.cdn.com.", dns.TypeA, "", true, false, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || addrsOf(m) != "10.9.1.1" {
		t.Fatalf("another subnet within the failure TTL of 10.1.2.0/24:\n%v", m)
	}
	clk.Advance(failureTTL + time.Second)
	n = len(geo.queries())
	askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	if len(geo.queries()) != n+1 {
		t.Fatal("the failure outlived its TTL")
	}
	askDNSSEC(s, "10.1.3.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	askDNSSEC(s, "10.1.4.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	held, ok := r.cache.Peek(marksKey(dns.Question{Name: "geo.cdn.com.", Qtype: dns.TypeA}))
	if !ok || len(held.ecs.marks) != 2 {
		t.Fatalf("failures kept: %v", held)
	}
}

// TestRFC7871_7_3_ECSPrefetchPerScope: a prefetch (Config.Prefetch)
// refreshes the scope the hit was answered from, once however many
// subnets of that scope hit it meanwhile, with the subnet of the client
// that hit it; each scope is refreshed apart, and the refreshed answer
// keeps its DNSSEC outcome (AD, RRSIGs that verify it).
func TestRFC7871_7_3_ECSPrefetchPerScope(t *testing.T) {
	r, s, geo, clk := ecsSignedSetup(t, Config{Prefetch: true})
	geo.set(func(g *signedGeo) { g.scope = func(netip.Prefix) int { return 16 } })
	for _, c := range []string{"10.1.1.5", "10.2.1.5"} {
		if m := askDNSSEC(s, c, "geo.cdn.com.", dns.TypeA, "", true, false, false); !m.AuthenticatedData {
			t.Fatalf("%s:\n%v", c, m)
		}
	}
	clk.Advance(28 * time.Second) // past 90% of the 30 s TTL
	gate := make(chan struct{})
	geo.set(func(g *signedGeo) { g.gate = gate })
	for _, c := range []string{"10.1.7.5", "10.1.8.5", "10.1.9.5", "10.2.3.5"} {
		if m := askDNSSEC(s, c, "geo.cdn.com.", dns.TypeA, "", false, false, false); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %v", c, m)
		}
	}
	close(gate)
	r.waitIdle()
	q := geo.queries()[2:]
	slices.Sort(q)
	if !slices.Equal(q, []string{"10.1.7.0/24", "10.2.3.0/24"}) || r.Stats().Prefetches != 2 {
		t.Fatalf("refreshes sent %q (%d prefetches): want one per scope hit, with the first hitting client's subnet", q, r.Stats().Prefetches)
	}
	clk.Advance(5 * time.Second) // past the first answers' expiry
	n := len(geo.queries())
	m := askDNSSEC(s, "10.1.9.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	if len(geo.queries()) != n || addrsOf(m) != "10.9.0.1" || !m.AuthenticatedData {
		t.Fatalf("the refreshed answer (upstream asked again: %v):\n%v", len(geo.queries()) != n, m)
	}
	if bad := signaturesVerify(m.Answer, geo.key); bad != "" {
		t.Fatalf("the refreshed answer: %s:\n%v", bad, m)
	}
}

// TestRFC4035_ECSHostileScopes: an upstream that signs its answer for one
// subnet and forges another's, claiming for the forgery a scope of 0
// (every client), gets the forgery served to nobody with AD and cached
// for nobody; the clients it claimed are not blocked by it (the scope of
// a bogus reply is as untrusted as its data); the forged subnet's CD
// query gets it without AD. A signed answer it claims holds for everyone
// (scope 0) is authentic data: given to every client with AD and its
// verifying RRSIG (RFC 7871 §7.3).
func TestRFC4035_ECSHostileScopes(t *testing.T) {
	_, s, geo, _ := ecsSignedSetup(t, Config{})
	geo.set(func(g *signedGeo) {
		g.forge[2] = true
		g.scope = func(p netip.Prefix) int {
			if third := p.Addr().As4()[2]; third == 2 || third == 4 {
				return 0
			}
			return p.Bits()
		}
	})
	check := func(m *dns.Msg, who string) {
		t.Helper()
		if addrsOf(m) == forgedAddr && m.AuthenticatedData {
			t.Fatalf("%s: the forged answer with AD:\n%v", who, m)
		}
	}
	b := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	check(b, "forged subnet")
	if b.Rcode != dns.RcodeServerFailure || edeOf(b) == nil {
		t.Fatalf("forged subnet:\n%v", b)
	}
	for round := range 2 {
		for _, c := range []struct{ client, want string }{{"10.1.1.5", "10.9.1.1"}, {"10.1.3.5", "10.9.3.1"}} {
			for _, do := range []bool{true, false} {
				m := askDNSSEC(s, c.client, "geo.cdn.com.", dns.TypeA, "", do, !do, false)
				check(m, c.client)
				if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || addrsOf(m) != c.want {
					t.Fatalf("round %d, %s (DO %v) after a forgery claiming every client:\n%v", round, c.client, do, m)
				}
			}
		}
		cd := askDNSSEC(s, "10.1.2.5", "geo.cdn.com.", dns.TypeA, "", true, false, true)
		check(cd, "forged subnet with CD")
		if addrsOf(cd) != forgedAddr {
			t.Fatalf("CD:\n%v", cd)
		}
	}
	d := askDNSSEC(s, "10.1.4.5", "geo.cdn.com.", dns.TypeA, "", true, false, false)
	if !d.AuthenticatedData || addrsOf(d) != "10.9.4.1" {
		t.Fatalf("signed answer of scope 0:\n%v", d)
	}
	n := len(geo.queries())
	for _, c := range []string{"10.1.5.5", "10.1.6.5"} {
		m := askDNSSEC(s, c, "geo.cdn.com.", dns.TypeA, "", true, false, false)
		if !m.AuthenticatedData || addrsOf(m) != "10.9.4.1" {
			t.Fatalf("%s, from the global answer:\n%v", c, m)
		}
		if bad := signaturesVerify(m.Answer, geo.key); bad != "" {
			t.Fatalf("%s: %s:\n%v", c, bad, m)
		}
	}
	if len(geo.queries()) != n {
		t.Fatal("the global answer was not given from the cache")
	}
}

// TestRFC7871_7_2_1_ScopedNegativeEchoed: a negative answer of a scope
// above 0, answered but not cached (RFC 7871 §7.3), is given to the
// client with that scope (§7.2.1), not with scope 0, which would let a
// downstream cache give it to every subnet.
func TestRFC7871_7_2_1_ScopedNegativeEchoed(t *testing.T) {
	_, s, _ := ecsSetup(t, ECSConfig{Zones: []string{"cdn.test."}}, func(q *dns.EDNS0_SUBNET, m *dns.Msg) {
		m.Rcode, m.Answer = dns.RcodeNameError, nil
		soa, _ := dns.NewRR("cdn.test. 300 IN SOA ns.cdn.test. admin.cdn.test. 1 7200 3600 1209600 60")
		m.Ns = []dns.RR{soa}
		dnsproto.EchoSubnet(m, q, 24)
	})
	m := askFrom(s, "10.1.1.5", "geo.cdn.test.", "10.1.1.5/32")
	if m.Rcode != dns.RcodeNameError || echoed(m) != "10.1.1.5/32 scope 24" {
		t.Fatalf("rcode %d, echo %q", m.Rcode, echoed(m))
	}
}
