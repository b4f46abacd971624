package resolver

import (
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// RFC 8080 through the resolver: a hierarchy signed with Ed448 from the
// root down (the trust anchor an Ed448 key's SHA-256 DS) answers with AD
// (RFC 4035 §3.2.3); a forged answer in an Ed448 zone is SERVFAIL with
// EDE 6 (RFC 8914 §4.7); Ed448 beside ECDSA in the same chain works too.
func TestRFC8080_Ed448HierarchyThroughTheResolver(t *testing.T) {
	ed := resolvertest.Signing{Algorithm: dns.ED448}
	kid := func(origin, addr string, tamper bool) resolvertest.SignedZoneFile {
		text := strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns.@ 300 IN A "+addr+"\n", "@", origin) + kidText
		zf := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: addr, Origin: origin, Text: text}, Signing: ed}
		if tamper {
			zf.Wrap = func(h dns.Handler) dns.Handler { return tamperer{h} }
		}
		return zf
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Root: ed, TLD: ed,
		TLDs:  map[string]resolvertest.Signing{"net.": {}}, // ECDSA P-256 between Ed448 root and zone
		Zones: []resolvertest.SignedZoneFile{kid("ed448.com.", "127.0.0.4", false), kid("forged.com.", "127.0.0.5", true), kid("mixed.net.", "127.0.0.6", false)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if ds := anchors[0].(*dns.DS); ds.Algorithm != dns.ED448 || ds.DigestType != dns.SHA256 {
		t.Fatalf("trust anchor %v, want an Ed448 key's SHA-256 DS", ds)
	}
	r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"www.ed448.com.", "www.mixed.net.", "nope.ed448.com."} {
		for i := range 2 { // fresh, then cached
			m := ask(srv, name, dns.TypeA, true, false)
			if !m.AuthenticatedData || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
				t.Fatalf("%s round %d: want AD:\n%v", name, i, m)
			}
		}
	}
	m := ask(srv, "www.forged.com.", dns.TypeA, true, false)
	if ede := edeOf(m); m.Rcode != dns.RcodeServerFailure || ede == nil || ede.InfoCode != dns.ExtendedErrorCodeDNSBogus || len(m.Answer) != 0 {
		t.Fatalf("forged Ed448 answer: want SERVFAIL with EDE 6:\n%v", m)
	}
}
