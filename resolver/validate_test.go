package resolver

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// signedKid is a zone below com. in a signed test hierarchy.
type signedKid struct {
	origin, addr, text string
	s                  resolvertest.Signing
	unsigned           bool
	noDS               bool
	tamper             bool // the server changes every A record it answers
}

// signedHierarchy serves a signed root and com. (resolvertest.NewSigned)
// and the kids on loopback, and returns a validating resolver for it with
// the root's DS as trust anchor, and a Server over it.
func signedHierarchy(t testing.TB, com resolvertest.Signing, kids ...signedKid) (*Recursive, *Server) {
	t.Helper()
	var zones []resolvertest.SignedZoneFile
	for _, k := range kids {
		text := strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns.@ 300 IN A "+k.addr+"\n", "@", k.origin) + k.text
		zf := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: k.addr, Origin: k.origin, Text: text}, Signing: k.s, Unsigned: k.unsigned, NoDS: k.noDS}
		if k.tamper {
			zf.Wrap = func(h dns.Handler) dns.Handler { return tamperer{h} }
		}
		zones = append(zones, zf)
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: zones, TLD: com})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

// tamperer forges the A records of every answer (a man in the middle).
type tamperer struct{ h dns.Handler }

func (t tamperer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) { t.h.ServeDNS(tamperWriter{w}, req) }

type tamperWriter struct{ dns.ResponseWriter }

func (w tamperWriter) WriteMsg(m *dns.Msg) error {
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			a.A = net.IPv4(203, 0, 113, 66)
		}
	}
	return w.ResponseWriter.WriteMsg(m)
}

// ask sends name/qtype to srv with DO (do) and CD (cd).
func ask(srv *Server, name string, qtype uint16, do, cd bool) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(1232, do)
	q.CheckingDisabled = cd
	return srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.TCPAddr{}, q)
}

func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				return ede
			}
		}
	}
	return nil
}

const kidText = "www 300 IN A 192.0.2.1\nalias 300 IN CNAME www.plain.com.\n"

// TestRFC4035_4_ValidatingResolver: a secure answer carries AD for a
// client that sets DO or AD (RFC 6840 §5.8), fresh and from the cache,
// and none for a client that sets neither; NXDOMAIN is proven secure
// too; an unsigned delegation proven insecure answers without AD; a
// secure CNAME to an insecure zone is insecure.
func TestRFC4035_4_ValidatingResolver(t *testing.T) {
	r, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "example.com.", addr: "127.0.0.4", text: kidText},
		signedKid{origin: "plain.com.", addr: "127.0.0.5", text: kidText, unsigned: true},
		signedKid{origin: "n3.com.", addr: "127.0.0.6", text: kidText, s: resolvertest.Signing{NSEC3: true, Algorithm: 15}},
	)
	if !r.validating() {
		t.Fatal("not validating with a trust anchor")
	}
	for i := range 2 { // fresh, then cached
		m := ask(srv, "www.example.com.", dns.TypeA, true, false)
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || len(m.Answer) != 2 || count(m.Answer, dns.TypeRRSIG) != 1 {
			t.Fatalf("round %d: secure answer without AD and its RRSIG (RFC 4035 §3.2.1):\n%v", i, m)
		}
	}
	if m := ask(srv, "www.example.com.", dns.TypeA, false, false); m.AuthenticatedData || len(m.Answer) != 1 {
		t.Fatalf("a client without DO or AD got AD or RRSIGs:\n%v", m)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.AuthenticatedData = true // RFC 6840 §5.7: AD in a query asks for AD
	if m := srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.TCPAddr{}, q); !m.AuthenticatedData || len(m.Answer) != 1 {
		t.Fatalf("AD query:\n%v", m)
	}
	for _, c := range []struct {
		name string
		t    uint16
	}{{"nope.example.com.", dns.TypeNSEC}, {"nope.n3.com.", dns.TypeNSEC3}} {
		for i := range 2 {
			m := ask(srv, c.name, dns.TypeA, true, false)
			if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || count(m.Ns, c.t) == 0 || count(m.Ns, dns.TypeRRSIG) == 0 {
				t.Fatalf("%s round %d: secure NXDOMAIN with its proof:\n%v", c.name, i, m)
			}
		}
	}
	// The DNSKEY RRset the validator fetched is validated for a client too.
	if m := ask(srv, "example.com.", dns.TypeDNSKEY, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("DNSKEY after validation:\n%v", m)
	}
	if m := ask(srv, "www.n3.com.", dns.TypeAAAA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("secure NODATA (NSEC3): rcode %d AD %v", m.Rcode, m.AuthenticatedData)
	}
	if m := ask(srv, "www.plain.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || len(m.Answer) != 1 || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("insecure delegation:\n%v", m)
	}
	if m := ask(srv, "alias.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || count(m.Answer, dns.TypeCNAME) != 1 || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("CNAME chain:\n%v", m)
	} else if m.AuthenticatedData {
		t.Fatal("secure -> insecure CNAME chain carries AD")
	}
}

// TestRFC8914_BogusIsServfailWithEDE: an expired signature, a forged
// answer and a DNSKEY that does not match its DS are SERVFAIL with the
// Extended DNS Error that says why, kept for the bogus TTL; CD gives the
// data (RFC 4035 §3.2.2).
func TestRFC8914_BogusIsServfailWithEDE(t *testing.T) {
	past := resolvertest.Signing{Inception: time.Now().Add(-48 * time.Hour), Expiration: time.Now().Add(-time.Hour)}
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "expired.com.", addr: "127.0.0.4", text: kidText, s: past},
		signedKid{origin: "forged.com.", addr: "127.0.0.5", text: kidText, tamper: true},
		signedKid{origin: "chain.com.", addr: "127.0.0.6", text: "www 300 IN CNAME www.expired.com.\n"},
	)
	for _, c := range []struct {
		name string
		ede  uint16
	}{
		{"www.expired.com.", dns.ExtendedErrorCodeSignatureExpired},
		{"www.forged.com.", dns.ExtendedErrorCodeDNSBogus},
		{"www.chain.com.", dns.ExtendedErrorCodeSignatureExpired}, // secure -> bogus
	} {
		for i := range 2 {
			m := ask(srv, c.name, dns.TypeA, true, false)
			ede := edeOf(m)
			if m.Rcode != dns.RcodeServerFailure || ede == nil || ede.InfoCode != c.ede || len(m.Answer) != 0 {
				t.Fatalf("%s round %d: want SERVFAIL with EDE %d:\n%v", c.name, i, c.ede, m)
			}
		}
	}
	m := ask(srv, "www.expired.com.", dns.TypeA, true, true)
	if m.Rcode != dns.RcodeSuccess || count(m.Answer, dns.TypeA) != 1 || m.AuthenticatedData {
		t.Fatalf("CD: want the unvalidated data:\n%v", m)
	}
	// ... which was not cached for clients that validate.
	if m := ask(srv, "www.expired.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after CD, a validating query got:\n%v", m)
	}
}

func TestDNSSECOffWithoutAnchorOrWhenDisabled(t *testing.T) {
	if r, err := New(Config{Roots: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:53")}}); err != nil || r.validating() {
		t.Fatalf("private roots without an anchor: validating %v, err %v", r != nil && r.validating(), err)
	}
	if r, err := New(Config{}); err != nil || !r.validating() {
		t.Fatal("IANA roots: not validating by default")
	}
	if r, err := New(Config{DisableDNSSEC: true}); err != nil || r.validating() {
		t.Fatal("DisableDNSSEC: still validating")
	}
}

// TestRFC5155_6_InsecureDelegationProofs: an unsigned zone below a TLD
// signed with NSEC3 opt-out is insecure (answered, no AD); below a TLD
// that gives no proof of the missing DS, bogus (RFC 4035 §5.2).
func TestRFC5155_6_InsecureDelegationProofs(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{NSEC3: true, OptOut: true},
		signedKid{origin: "plain.com.", addr: "127.0.0.4", text: kidText, unsigned: true},
		signedKid{origin: "signed.com.", addr: "127.0.0.5", text: kidText})
	if m := ask(srv, "www.plain.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData {
		t.Fatalf("opt-out insecure delegation:\n%v", m)
	}
	if m := ask(srv, "www.signed.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("secure zone under an opt-out TLD:\n%v", m)
	}
	_, srv = signedHierarchy(t, resolvertest.Signing{NoDenial: true},
		signedKid{origin: "plain.com.", addr: "127.0.0.4", text: kidText, unsigned: true})
	m := ask(srv, "www.plain.com.", dns.TypeA, true, false)
	if ede := edeOf(m); m.Rcode != dns.RcodeServerFailure || ede == nil || ede.InfoCode != dns.ExtendedErrorCodeNSECMissing {
		t.Fatalf("missing DS without proof:\n%v", m)
	}
}

func count(rrs []dns.RR, t uint16) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			n++
		}
	}
	return n
}

// TestRFC4035_5_3_3_TTLCappedAtSignatureExpiry: an answer whose
// signature expires in 100 s is not cached (nor given) for its 300 s TTL.
func TestRFC4035_5_3_3_TTLCappedAtSignatureExpiry(t *testing.T) {
	soon := resolvertest.Signing{Inception: time.Now().Add(-time.Hour), Expiration: time.Now().Add(100 * time.Second)}
	_, srv := signedHierarchy(t, resolvertest.Signing{}, signedKid{origin: "soon.com.", addr: "127.0.0.4", text: kidText, s: soon})
	for i := range 2 { // fresh, then cached
		m := ask(srv, "www.soon.com.", dns.TypeA, true, false)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			t.Fatalf("round %d:\n%v", i, m)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl > 100 {
				t.Fatalf("round %d: TTL %d past the signature's expiration:\n%v", i, rr.Header().Ttl, m)
			}
		}
	}
}

// TestRFC6840_5_2_HostileZonesThroughTheResolver: a zone signed only
// with an algorithm the validator does not implement is answered as
// insecure (no AD, RFC 4035 §5.2), a KeyTrap zone (CVE-2023-50387) is
// SERVFAIL with an Extended DNS Error (its work bounded in
// resolver/dnssec's TestCVE_2023_50387_KeyTrapBounded).
func TestRFC6840_5_2_HostileZonesThroughTheResolver(t *testing.T) {
	_, srv := signedHierarchy(t, resolvertest.Signing{},
		signedKid{origin: "md5.com.", addr: "127.0.0.4", text: kidText, s: resolvertest.Signing{Algorithm: dns.RSAMD5}},
		signedKid{origin: "trap.com.", addr: "127.0.0.5", text: kidText, s: resolvertest.Signing{KeyTrap: 40}})
	if m := ask(srv, "www.md5.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("RSAMD5 zone:\n%v", m)
	}
	m := ask(srv, "www.trap.com.", dns.TypeA, true, false)
	if ede := edeOf(m); m.Rcode != dns.RcodeServerFailure || ede == nil {
		t.Fatalf("KeyTrap zone:\n%v", m)
	}
}
