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
