package authority

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// truncationZone is example.net. with a 40-record TXT RRset (big) and a
// delegation (sub) to 13 name servers, each with A and AAAA glue.
func truncationZone(t *testing.T) *Server {
	t.Helper()
	var text strings.Builder
	text.WriteString(exampleNet)
	for i := range 40 {
		fmt.Fprintf(&text, "big IN TXT \"record %02d padding padding padding padding padding\"\n", i)
	}
	for i := range 13 {
		fmt.Fprintf(&text, "sub IN NS ns%02d.sub\nns%02d.sub IN A 192.0.2.%d\nns%02d.sub IN AAAA 2001:db8::%d\n", i, i, i+1, i, i+1)
	}
	zs, err := New(Config{Zones: []*Zone{mustZone(t, text.String(), "example.net.")}})
	if err != nil {
		t.Fatal(err)
	}
	return zs
}

// RFC 2181 §9: over UDP an answer whose RRset does not fit is sent with TC
// and no partial RRset: only the question and the OPT (as Unbound does);
// so is a referral whose in-domain glue does not fit (RFC 9471 §3.1: TC
// when not all of it fits). Over TCP everything is sent.
func TestRFC2181_9_NoPartialRRsetOverUDP(t *testing.T) {
	zs := truncationZone(t)
	udp := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	for _, c := range []struct {
		name               string
		qname              string
		edns               uint16 // 0: no EDNS
		remote             net.Addr
		tc                 bool
		answers, ns        int
		minExtra, maxExtra int // not counting the OPT
		maxLen             int
	}{
		{"answer too big, no EDNS", "big.example.net.", 0, udp, true, 0, 0, 0, 0, 512},
		{"answer too big, EDNS 1232", "big.example.net.", 1232, udp, true, 0, 0, 0, 0, 1232},
		{"answer over TCP", "big.example.net.", 0, tcp, false, 40, 0, 0, 0, 65535},
		{"RFC9471_3_1/referral, glue does not fit, no EDNS", "www.sub.example.net.", 0, udp, true, 0, 0, 0, 0, 512},
		{"referral whole, EDNS 4096", "www.sub.example.net.", 4096, udp, false, 0, 13, 26, 26, 4096},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(c.qname, dns.TypeTXT)
			if c.edns != 0 {
				q.SetEdns0(c.edns, false)
			}
			w := &recorder{remote: c.remote}
			zs.ServeDNS(w, q)
			m := w.msg
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			extra := len(m.Extra)
			if m.IsEdns0() != nil {
				extra--
			}
			if m.Truncated != c.tc || len(m.Answer) != c.answers || len(m.Ns) != c.ns || extra < c.minExtra || extra > c.maxExtra || len(b) > c.maxLen {
				t.Errorf("TC %v, %d answers, %d NS, %d additional, %d bytes; want TC %v, %d, %d, %d-%d, <= %d",
					m.Truncated, len(m.Answer), len(m.Ns), extra, len(b), c.tc, c.answers, c.ns, c.minExtra, c.maxExtra, c.maxLen)
			}
			if len(m.Question) != 1 || (m.IsEdns0() != nil) != (c.edns != 0) {
				t.Errorf("question or OPT lost: %v", m)
			}
		})
	}
}

// RFC 6891 §7: error responses to a query with EDNS carry an OPT too, with
// the query's DO bit (RFC 3225 §3); RD is copied for every opcode (RFC 1035
// §4.1.1); RA and AD are never set.
func TestRFC6891_7_ErrorResponsesCarryOPT(t *testing.T) {
	zs, err := New(Config{Zones: []*Zone{mustZone(t, exampleNet, "example.net.")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		mod   func(*dns.Msg)
		rcode int
	}{
		{"answer", func(m *dns.Msg) {}, dns.RcodeSuccess},
		{"NOTIMP", func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }, dns.RcodeNotImplemented},
		{"FORMERR", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }, dns.RcodeFormatError},
		{"REFUSED AXFR", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }, dns.RcodeRefused},
		{"REFUSED class CH", func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, dns.RcodeRefused},
		{"REFUSED out of zone", func(m *dns.Msg) { m.Question[0].Name = "example.org." }, dns.RcodeRefused},
		{"BADVERS", func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }, dns.RcodeBadVers},
	} {
		for _, do := range []bool{false, true} {
			q := new(dns.Msg)
			q.SetQuestion("cdn.example.net.", dns.TypeA)
			q.SetEdns0(4096, do)
			q.AuthenticatedData = true
			c.mod(q)
			m := zs.Answer(q)
			opt := m.IsEdns0()
			if m.Rcode != c.rcode || opt == nil || opt.Do() != do || opt.Version() != 0 || opt.UDPSize() != 1232 {
				t.Errorf("%s, DO %v: rcode %s, OPT %v", c.name, do, dns.RcodeToString[m.Rcode], opt)
			}
			if m.Id != q.Id || !m.RecursionDesired || m.RecursionAvailable || m.AuthenticatedData || len(m.Question) != 1 {
				t.Errorf("%s: header or question not the query's: %v", c.name, m)
			}
		}
	}
}
