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
