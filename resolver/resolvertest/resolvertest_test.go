package resolvertest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	rootZone = `. 86400 IN SOA a.root. admin.root. 1 1800 900 604800 86400
test. 172800 IN NS ns.test.
ns.test. 172800 IN A 127.0.0.3
`
	testZone = `$TTL 300
test. IN SOA ns.test. admin.test. 1 7200 3600 1209600 60
test. IN NS ns.test.
ns IN A 127.0.0.3
a.b.c IN A 192.0.2.1
www IN CNAME www.other.
`
	otherZone = `$TTL 300
other. IN SOA ns.test. admin.other. 1 7200 3600 1209600 60
other. IN NS ns.test.
www IN A 192.0.2.2
`
)

func mustZone(t *testing.T, text, origin string) *authority.Zone {
	t.Helper()
	z, err := authority.ParseZone(strings.NewReader(text), origin, origin)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func exchange(t *testing.T, netw, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	m, _, err := (&dns.Client{Net: netw}).Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", netw, addr, err)
	}
	return m
}

// Every address is served over UDP and TCP on one port; Roots names the
// servers holding "."; Wrap replaces the handler of one address.
func TestNew(t *testing.T) {
	var wrapped []string
	h, err := New(Config{
		Zones: map[string][]*authority.Zone{
			"127.0.0.2": {mustZone(t, rootZone, ".")},
			"127.0.0.3": {mustZone(t, testZone, "test."), mustZone(t, otherZone, "other.")},
		},
		Wrap: func(addr string, zs *authority.Server) dns.Handler {
			wrapped = append(wrapped, addr)
			return zs
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Port == 0 || len(wrapped) != 2 {
		t.Fatalf("port %d, wrapped %v", h.Port, wrapped)
	}
	roots := h.Roots()
	if len(roots) != 1 || roots[0].String() != fmt.Sprintf("127.0.0.2:%d", h.Port) {
		t.Fatalf("roots %v", roots)
	}
	for _, netw := range []string{"udp", "tcp"} {
		if m := exchange(t, netw, roots[0].String(), "a.b.c.test.", dns.TypeA); len(m.Ns) != 1 || m.Authoritative {
			t.Errorf("%s: root's answer is no referral: %v", netw, m)
		}
		if m := exchange(t, netw, fmt.Sprintf("127.0.0.3:%d", h.Port), "www.other.", dns.TypeA); len(m.Answer) != 1 || !m.Authoritative {
			t.Errorf("%s: %v", netw, m)
		}
	}
	h.Close()
	h.Close() // idempotent
}

// A fixed port is used as given; one already taken is an error, not
// another port.
func TestNewFixedPort(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	taken := pc.LocalAddr().(*net.UDPAddr).Port
	_, err = New(Config{Zones: map[string][]*authority.Zone{"127.0.0.2": {mustZone(t, rootZone, ".")}}, Port: taken})
	if err == nil {
		t.Fatal("a taken port accepted")
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNoZones) {
		t.Fatalf("no zones: %v", err)
	}
}

// recorder is a dns.ResponseWriter keeping the message written.
type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	return nil
}

func serve(h dns.Handler, name string, qtype uint16, edns bool) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns {
		q.SetEdns0(1232, false)
	}
	w := &recorder{}
	h.ServeDNS(w, q)
	return w.msg
}

func TestMisbehavingServers(t *testing.T) {
	zs, err := authority.New(authority.Config{Zones: []*authority.Zone{mustZone(t, testZone, "test."), mustZone(t, otherZone, "other.")}})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8020 §2: b.c.test. is an empty non-terminal, NODATA; the
	// breaker says NXDOMAIN for it, and only for it.
	if m := serve(zs, "b.c.test.", dns.TypeA, false); m.Rcode != dns.RcodeSuccess {
		t.Fatalf("authority: %v", m)
	}
	breaker := ENTBreaker{Server: zs}
	if m := serve(breaker, "b.c.test.", dns.TypeA, false); m.Rcode != dns.RcodeNameError {
		t.Errorf("ENTBreaker, empty non-terminal: %v", m)
	}
	if m := serve(breaker, "a.b.c.test.", dns.TypeAAAA, false); m.Rcode != dns.RcodeSuccess {
		t.Errorf("ENTBreaker, NODATA at a name with records: %v", m)
	}

	// The CNAME into other. is followed in the same answer.
	if m := serve(zs, "www.test.", dns.TypeA, false); len(m.Answer) != 1 {
		t.Fatalf("authority: %v", m)
	}
	if m := serve(CNAMEFollower{Server: zs}, "www.test.", dns.TypeA, false); len(m.Answer) != 2 || m.Answer[1].Header().Name != "www.other." {
		t.Errorf("CNAMEFollower: %v", m)
	}

	// RFC 6891 §7: FORMERR without an OPT for a query with one.
	var seen atomic.Int32
	intolerant := EDNSIntolerant{Server: zs, OnEDNS: func() { seen.Add(1) }}
	if m := serve(intolerant, "ns.test.", dns.TypeA, true); m.Rcode != dns.RcodeFormatError || m.IsEdns0() != nil || len(m.Question) != 0 {
		t.Errorf("EDNSIntolerant, with EDNS: %v", m)
	}
	if m := serve(intolerant, "ns.test.", dns.TypeA, false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("EDNSIntolerant, without EDNS: %v", m)
	}
	if seen.Load() != 1 {
		t.Errorf("OnEDNS called %d times", seen.Load())
	}
}

// A nil handler from Wrap serves the zone server, not miekg/dns's
// package-level default mux.
func TestWrapNilServesTheZoneServer(t *testing.T) {
	h, err := New(Config{
		Zones: map[string][]*authority.Zone{"127.0.0.3": {mustZone(t, otherZone, "other.")}},
		Wrap:  func(string, *authority.Server) dns.Handler { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if m := exchange(t, "udp", fmt.Sprintf("127.0.0.3:%d", h.Port), "www.other.", dns.TypeA); len(m.Answer) != 1 || !m.Authoritative {
		t.Fatalf("%v", m)
	}
}

// With Delegate, the given zones hang below a root and TLD layer that
// delegates to each with the zone's own NS records and glue (RFC 1034
// §4.2.1); a zone below another given zone is left to that zone's own
// delegation; a given TLD is delegated from the root.
func TestDelegateRFC1034_4_2_1(t *testing.T) {
	h, err := New(Config{Delegate: true, Files: []ZoneFile{
		{Addr: "127.0.0.4", Origin: "shop.test.", Text: `$TTL 300
shop.test. IN SOA ns1.shop.test. admin.shop.test. 1 7200 3600 1209600 60
shop.test. IN NS ns1.shop.test.
ns1 IN A 127.0.0.4
www IN A 192.0.2.1
sub IN NS ns.sub.shop.test.
ns.sub IN A 127.0.0.6
`},
		{Addr: "127.0.0.6", Origin: "sub.shop.test.", Text: `sub.shop.test. 300 IN SOA ns.sub.shop.test. admin.shop.test. 1 7200 3600 1209600 60
sub.shop.test. 300 IN NS ns.sub.shop.test.
ns.sub.shop.test. 300 IN A 127.0.0.6
`},
		{Addr: "127.0.0.5", Origin: "example.", Text: `example. 300 IN SOA ns.example. admin.example. 1 7200 3600 1209600 60
example. 300 IN NS ns.example.
ns.example. 300 IN A 127.0.0.5
`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if roots := h.Roots(); len(roots) != 1 || roots[0].String() != fmt.Sprintf("%s:%d", RootAddr, h.Port) {
		t.Fatalf("roots %v", roots)
	}
	root, tld := fmt.Sprintf("%s:%d", RootAddr, h.Port), fmt.Sprintf("%s:%d", TLDAddr, h.Port)
	for _, c := range []struct {
		server, name, ns, glue string
	}{
		// a.gtld-servers.net. lies outside test.: no glue (RFC 9471 §2.1)
		{root, "www.shop.test.", "test.\t172800\tIN\tNS\ta.gtld-servers.net.", ""},
		{root, "www.example.", "example.\t172800\tIN\tNS\tns.example.", "ns.example.\t172800\tIN\tA\t127.0.0.5"},
		{tld, "www.shop.test.", "shop.test.\t172800\tIN\tNS\tns1.shop.test.", "ns1.shop.test.\t172800\tIN\tA\t127.0.0.4"},
		{tld, "x.sub.shop.test.", "shop.test.\t172800\tIN\tNS\tns1.shop.test.", "ns1.shop.test.\t172800\tIN\tA\t127.0.0.4"},
	} {
		m := exchange(t, "udp", c.server, c.name, dns.TypeA)
		glue := ""
		if len(m.Extra) > 0 {
			glue = m.Extra[0].String()
		}
		if m.Authoritative || len(m.Ns) != 1 || m.Ns[0].String() != c.ns || glue != c.glue {
			t.Errorf("%s from %s: want referral %q with glue %q, got\n%v", c.name, c.server, c.ns, c.glue, m)
		}
	}
	if m := exchange(t, "tcp", tld, "a.gtld-servers.net.", dns.TypeA); !m.Authoritative || len(m.Answer) != 1 {
		t.Errorf("net. does not hold its own server's address: %v", m)
	}
}

// Delegate refuses what would clash with the layer it writes, and New
// reports a zone file it cannot read.
func TestDelegateRefusesClashes(t *testing.T) {
	site := ZoneFile{Addr: "127.0.0.4", Origin: "test.", Text: testZone}
	for name, cfg := range map[string]Config{
		"zone on the root's address": {Delegate: true, Files: []ZoneFile{site, {Addr: RootAddr, Origin: "other.", Text: otherZone}}},
		"zone on the TLDs' address":  {Delegate: true, Zones: map[string][]*authority.Zone{TLDAddr: {mustZone(t, otherZone, "other.")}}, Files: []ZoneFile{site}},
		"root zone given":            {Delegate: true, Files: []ZoneFile{site, {Addr: "127.0.0.9", Origin: ".", Text: rootZone}}},
		"bad zone text":              {Files: []ZoneFile{{Addr: "127.0.0.4", Origin: "test.", Text: "test. IN A 192.0.2.1\n"}}},
	} {
		if h, err := New(cfg); err == nil {
			h.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
