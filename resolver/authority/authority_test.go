package authority

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const exampleNet = `$TTL 300
example.net. IN SOA ns.example.net. admin.example.net. 1 7200 3600 1209600 60
example.net. IN NS ns.example.net.
ns IN A 127.0.0.6
cdn IN A 192.0.2.1
cdn IN A 192.0.2.2
`

func mustZone(t testing.TB, text, origin string) *Zone {
	z, err := ParseZone(strings.NewReader(text), origin, origin)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestServerRotates(t *testing.T) {
	z := mustZone(t, exampleNet, "example.net.")
	s, _ := New(Config{Zones: []*Zone{z}, Rotate: true})
	q := new(dns.Msg)
	q.SetQuestion("cdn.example.net.", dns.TypeA)
	first := map[string]int{}
	for i := 0; i < 10; i++ {
		m := s.Answer(q)
		first[m.Answer[0].(*dns.A).A.String()]++
		if !m.Authoritative {
			t.Fatal("AA not set")
		}
	}
	if len(first) != 2 {
		t.Fatalf("no rotation: %v", first)
	}
}

func FuzzParseZone(f *testing.F) {
	f.Add(exampleNet)
	f.Add("$TTL 1\n@ SOA a. b. 1 1 1 1 1\n* A 1.2.3.4\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := ParseZone(strings.NewReader(text), "example.net.", "fuzz")
		if err != nil {
			return
		}
		s, _ := New(Config{Zones: []*Zone{z}, Rotate: true})
		for _, name := range []string{"example.net.", "cdn.example.net.", "x.y.example.net."} {
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeA)
			if m := s.Answer(q); m == nil {
				t.Fatal("nil answer")
			}
		}
	})
}

// RFC 4592 §2.2.2 and RFC 8020 §2: an empty non-terminal exists (NODATA,
// not NXDOMAIN) and is a closest encloser, so a wildcard above it does not
// apply below it; a wildcard's own parent is one too.
func TestRFC4592_EmptyNonTerminalsAndWildcards(t *testing.T) {
	z := mustZone(t, `$TTL 300
zone.test. IN SOA ns.zone.test. admin.zone.test. 1 7200 3600 1209600 60
zone.test. IN NS ns.zone.test.
ns IN A 192.0.2.53
*.wild IN A 192.0.2.7
x.y.wild IN A 192.0.2.8
a.b.c.deep IN A 192.0.2.9
`, "zone.test.")
	zs, _ := New(Config{Zones: []*Zone{z}})
	ask := func(name string) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		return zs.Answer(q)
	}
	for _, c := range []struct {
		name    string
		rcode   int
		answers int
	}{
		{"deep.zone.test.", dns.RcodeSuccess, 0},     // ENT: NODATA
		{"c.deep.zone.test.", dns.RcodeSuccess, 0},   // ENT
		{"b.c.deep.zone.test.", dns.RcodeSuccess, 0}, // ENT
		{"nope.deep.zone.test.", dns.RcodeNameError, 0},
		{"wild.zone.test.", dns.RcodeSuccess, 0},       // the wildcard's parent, an ENT
		{"any.wild.zone.test.", dns.RcodeSuccess, 1},   // synthesised
		{"y.wild.zone.test.", dns.RcodeSuccess, 0},     // an ENT, not the wildcard
		{"z.y.wild.zone.test.", dns.RcodeNameError, 0}, // closest encloser y.wild has no wildcard
	} {
		m := ask(c.name)
		if m.Rcode != c.rcode || len(m.Answer) != c.answers || !m.Authoritative {
			t.Errorf("%s: rcode %s, %d answers, want %s, %d", c.name, dns.RcodeToString[m.Rcode], len(m.Answer), dns.RcodeToString[c.rcode], c.answers)
		}
		if len(m.Answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s: negative answer without the SOA: %v", c.name, m.Ns)
		}
	}
}

// The authoritative server vets queries as the resolver's Server does
// (internal/dnsproto.VetQuery): NOTIMP for other opcodes (RFC 1035
// §4.1.1), BADVERS with an OPT of version 0 for EDNS versions above 0
// (RFC 6891 §6.1.3), REFUSED for zone transfers and other classes.
func TestRFC6891_QueryVetting(t *testing.T) {
	zs, err := New(Config{Zones: []*Zone{mustZone(t, exampleNet, "example.net.")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		mod   func(*dns.Msg)
		rcode int
	}{
		{"plain", func(m *dns.Msg) {}, dns.RcodeSuccess},
		{"opcode STATUS", func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }, dns.RcodeNotImplemented},
		{"EDNS 1", func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }, dns.RcodeBadVers},
		{"AXFR", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }, dns.RcodeRefused},
		{"class CH", func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, dns.RcodeRefused},
	} {
		q := new(dns.Msg)
		q.SetQuestion("cdn.example.net.", dns.TypeA)
		c.mod(q)
		m := zs.Answer(q)
		if m.Rcode != c.rcode || m.Id != q.Id || !m.Response {
			t.Errorf("%s: rcode %s, want %s", c.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[c.rcode])
		}
		if c.rcode == dns.RcodeBadVers {
			if opt := m.IsEdns0(); opt == nil || opt.Version() != 0 {
				t.Errorf("BADVERS without an OPT of version 0: %v", m)
			}
		}
	}
}

// A zone needs an SOA at its apex and every record inside it; a server
// needs a zone.
func TestBadZones(t *testing.T) {
	for _, text := range []string{
		"www.example.net. 300 IN A 192.0.2.1\n",
		exampleNet + "www.example.org. 300 IN A 192.0.2.1\n",
		exampleNet + "www IN A not-an-address\n",
	} {
		if _, err := ParseZone(strings.NewReader(text), "example.net.", "t"); err == nil || !strings.HasPrefix(err.Error(), "authority: bad zone") {
			t.Errorf("%q: err %v, want ErrBadZone", text, err)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("a server without zones")
	}
}

// Over UDP an answer larger than the client's buffer is truncated with TC
// set (RFC 1035 §4.2.1, RFC 6891 §6.2.5); over TCP it is whole.
func TestServeDNSTruncatesOverUDP(t *testing.T) {
	var text strings.Builder
	text.WriteString(exampleNet)
	for i := range 40 {
		fmt.Fprintf(&text, "big IN TXT \"record %02d padding padding padding padding padding\"\n", i)
	}
	zs, err := New(Config{Zones: []*Zone{mustZone(t, text.String(), "example.net.")}})
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("big.example.net.", dns.TypeTXT)
	for _, c := range []struct {
		remote net.Addr
		tc     bool
	}{
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, false},
	} {
		w := &recorder{remote: c.remote}
		zs.ServeDNS(w, q)
		if w.msg == nil || w.msg.Truncated != c.tc || !c.tc && len(w.msg.Answer) != 40 {
			t.Errorf("%T: %v", c.remote, w.msg)
		}
		if c.tc {
			if b, _ := w.msg.Pack(); len(b) > dns.MinMsgSize {
				t.Errorf("UDP answer of %d bytes", len(b))
			}
		}
	}
}

// recorder is a dns.ResponseWriter that keeps the message written.
type recorder struct {
	dns.ResponseWriter
	remote net.Addr
	msg    *dns.Msg
}

func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msg = m
	return nil
}

// RFC 1034 §4.2.1, RFC 9471 §2.1: a parent delegates with the child's apex
// NS records and glue for the name servers inside the child only; the
// records handed out are copies.
func TestRFC1034_4_2_1_Delegation(t *testing.T) {
	z := mustZone(t, `$TTL 300
shop.test. IN SOA ns1.shop.test. admin.shop.test. 1 7200 3600 1209600 60
shop.test. IN NS ns1.shop.test.
shop.test. IN NS ns.other.test.
shop.test. IN NS ns1.shop.test.
ns1 IN A 127.0.0.4
ns1 IN AAAA ::1
ns1 IN TXT "not glue"
www IN A 192.0.2.1
sub IN NS ns.sub.shop.test.
ns.sub IN A 127.0.0.9
`, "shop.test.")
	var got []string
	for _, rr := range z.Delegation() {
		got = append(got, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	want := []string{
		"shop.test. 300 IN NS ns1.shop.test.",
		"shop.test. 300 IN NS ns.other.test.",
		"shop.test. 300 IN NS ns1.shop.test.",
		"ns1.shop.test. 300 IN A 127.0.0.4",
		"ns1.shop.test. 300 IN AAAA ::1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("delegation:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	z.Delegation()[0].Header().Ttl = 1
	if ttl := z.Delegation()[0].Header().Ttl; ttl != 300 {
		t.Fatalf("Delegation hands out the zone's own records: TTL now %d", ttl)
	}
}
