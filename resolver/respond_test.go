package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// shapeResolver answers "big." with 13 TXT records (945 bytes: more than
// 512), fails "fail." (SERVFAIL), and answers every other name with one A
// record.
type shapeResolver struct{}

func (shapeResolver) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	switch q.Name {
	case "fail.":
		return nil, errors.New("no server answered")
	case "big.":
		m := new(dns.Msg)
		for i := range 13 {
			rr, err := dns.NewRR(fmt.Sprintf(`big. 60 IN TXT "record %02d padding padding padding padding padding padding"`, i))
			if err != nil {
				return nil, err
			}
			m.Answer = append(m.Answer, rr)
		}
		return m, nil
	}
	return fixedResolver{}.Resolve(ctx, q)
}

// serveLoopback serves srv with ServeUDP and ServeTCP on loopback until
// the test ends, and returns the address of each.
func serveLoopback(t *testing.T, srv *Server) (udp, tcp string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.ServeUDP(ctx, pc) }()
	go func() { done <- srv.ServeTCP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		pc.Close()
	})
	return pc.LocalAddr().String(), ln.Addr().String()
}

// exchangeRaw sends the query b over network netw ("udp" or "tcp") to
// addr and returns the reply's bytes.
func exchangeRaw(t *testing.T, netw, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial(netw, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if netw == "tcp" {
		b = append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if netw == "tcp" {
		var size [2]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	reply := make([]byte, dns.MaxMsgSize)
	n, err := c.Read(reply)
	if err != nil {
		t.Fatal(err)
	}
	return reply[:n]
}

// query returns a packed query for name and qtype, with ID 0x5eed, RD set,
// EDNS with a 1232-byte size and DO set when dnssec, changed by mod.
func query(name string, qtype uint16, edns, do bool, mod func(*dns.Msg)) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x5eed
	if edns {
		m.SetEdns0(1232, do)
	}
	if mod != nil {
		mod(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// responseShape is what a case expects of a reply beyond what every reply
// must carry (checkReplyHeader).
type responseShape struct {
	rcode     int
	ra, tc    bool
	questions int // in the reply
	answers   int
	opt       bool // an OPT, with our size and the query's DO
}

// checkReplyHeader checks what every reply to the query q (raw bytes)
// carries, as Unbound's do: the ID, opcode, RD and CD of the query (RFC
// 1035 §4.1.1), QR, never AD (nothing is validated), and then the shape.
func checkReplyHeader(t *testing.T, q, reply []byte, want responseShape) {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("reply does not parse: %v (%x)", err, reply)
	}
	if m.Id != binary.BigEndian.Uint16(q) || !m.Response || m.Opcode != int(q[2]>>3)&0xf {
		t.Errorf("ID, QR or opcode not those of the query: %v", m.MsgHdr)
	}
	if m.RecursionDesired != (q[2]&1 != 0) || m.CheckingDisabled != (q[3]&0x10 != 0) {
		t.Errorf("RD or CD not copied (RFC 1035 §4.1.1): %v", m.MsgHdr)
	}
	if m.AuthenticatedData {
		t.Errorf("AD set without validation: %v", m.MsgHdr)
	}
	if m.Rcode != want.rcode || m.RecursionAvailable != want.ra || m.Truncated != want.tc {
		t.Errorf("rcode %s RA %v TC %v, want %s RA %v TC %v", dns.RcodeToString[m.Rcode], m.RecursionAvailable, m.Truncated,
			dns.RcodeToString[want.rcode], want.ra, want.tc)
	}
	if len(m.Question) != want.questions || len(m.Answer) != want.answers {
		t.Errorf("%d questions, %d answers; want %d, %d: %v", len(m.Question), len(m.Answer), want.questions, want.answers, m)
	}
	if want.questions > 0 && len(m.Question) > 0 {
		var qm dns.Msg
		qm.Unpack(q)
		if len(qm.Question) > 0 && !reflect.DeepEqual(m.Question[0], qm.Question[0]) {
			t.Errorf("question %v, want %v", m.Question[0], qm.Question[0])
		}
	}
	opt := m.IsEdns0()
	if (opt != nil) != want.opt {
		t.Fatalf("OPT in the reply: %v, want %v (RFC 6891 §7): %v", opt != nil, want.opt, m)
	}
	if opt != nil {
		var qm dns.Msg
		qm.Unpack(q)
		qopt := qm.IsEdns0()
		if opt.UDPSize() != 1232 || opt.Version() != 0 || qopt != nil && opt.Do() != qopt.Do() {
			t.Errorf("OPT %v: want our size 1232, version 0, DO copied (RFC 3225 §3) from %v", opt, qopt)
		}
	}
}

// Every reply ServeUDP and ServeTCP send, answers and errors alike,
// carries what Unbound's carry: ID, opcode, RD and CD copied, the
// question, an OPT when the query had one with the DO bit copied (RFC 6891
// §7, RFC 3225 §3), RA as Unbound sets it; a UDP answer that does not fit
// goes with TC and no partial RRset (RFC 2181 §9).
func TestRFC6891_7_EveryReplyCarriesHeaderQuestionAndOPT(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: shapeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	udpAddr, tcpAddr := serveLoopback(t, srv)
	ok := responseShape{rcode: dns.RcodeSuccess, ra: true, questions: 1, answers: 1}
	withOPT := func(s responseShape) responseShape { s.opt = true; return s }
	cases := []struct {
		name     string
		q        []byte
		udp, tcp responseShape
	}{
		{"RFC1035_4_1_1/answer", query("a.", dns.TypeA, false, false, nil), ok, ok},
		{"RFC3225_3/DO copied", query("a.", dns.TypeA, true, true, nil), withOPT(ok), withOPT(ok)},
		{"RFC3225_3/DO clear", query("a.", dns.TypeA, true, false, nil), withOPT(ok), withOPT(ok)},
		{"RFC3225_3/CD copied, AD never", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.CheckingDisabled, m.AuthenticatedData = true, true }), withOPT(ok), withOPT(ok)},
		{"RFC6891_7/REFUSED class CH", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }),
			responseShape{rcode: dns.RcodeRefused, ra: true, questions: 1, opt: true}, responseShape{rcode: dns.RcodeRefused, ra: true, questions: 1, opt: true}},
		{"RFC6891_7/REFUSED without RD", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.RecursionDesired = false }),
			responseShape{rcode: dns.RcodeRefused, ra: true, questions: 1, opt: true}, responseShape{rcode: dns.RcodeRefused, ra: true, questions: 1, opt: true}},
		{"RFC6891_7/REFUSED AXFR", query("a.", dns.TypeAXFR, true, true, nil),
			responseShape{rcode: dns.RcodeRefused, questions: 1, opt: true}, responseShape{rcode: dns.RcodeRefused, questions: 1, opt: true}},
		{"RFC6891_7/NOTIMP STATUS", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }),
			responseShape{rcode: dns.RcodeNotImplemented, questions: 1, opt: true}, responseShape{rcode: dns.RcodeNotImplemented, questions: 1, opt: true}},
		{"RFC1035_4_1_1/NOTIMP UPDATE without EDNS", query("a.", dns.TypeA, false, false, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }),
			responseShape{rcode: dns.RcodeNotImplemented, questions: 1}, responseShape{rcode: dns.RcodeNotImplemented, questions: 1}},
		{"RFC6891_7/FORMERR no question", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Question = nil }),
			responseShape{rcode: dns.RcodeFormatError, opt: true}, responseShape{rcode: dns.RcodeFormatError, opt: true}},
		{"RFC6891_7/FORMERR two questions", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
			responseShape{rcode: dns.RcodeFormatError, questions: 2, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 2, opt: true}},
		{"RFC6891_7/FORMERR meta-type", query("a.", dns.TypeOPT, true, false, nil),
			responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"RFC6891_6_1_1/FORMERR two OPT", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }),
			responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"RFC1035_4_1_1/FORMERR answer record in a query", query("a.", dns.TypeA, true, true, func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.", Rrtype: dns.TypeA, Class: dns.ClassINET}}}
		}),
			responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"RFC1035_4_1_1/FORMERR authority record in a query", query("a.", dns.TypeA, true, true, func(m *dns.Msg) {
			m.Ns = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.", Rrtype: dns.TypeA, Class: dns.ClassINET}}}
		}),
			responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"RFC1035_4_1_1/FORMERR TC in a query", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.Truncated = true }),
			responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"RFC6891_6_1_3/BADVERS", query("a.", dns.TypeA, true, true, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }),
			responseShape{rcode: dns.RcodeBadVers, ra: true, questions: 1, opt: true}, responseShape{rcode: dns.RcodeBadVers, ra: true, questions: 1, opt: true}},
		{"RFC6891_7/SERVFAIL", query("fail.", dns.TypeA, true, true, nil),
			responseShape{rcode: dns.RcodeServerFailure, ra: true, questions: 1, opt: true}, responseShape{rcode: dns.RcodeServerFailure, ra: true, questions: 1, opt: true}},
		{"RFC1035_4_1_1/SERVFAIL without EDNS", query("fail.", dns.TypeA, false, false, nil),
			responseShape{rcode: dns.RcodeServerFailure, ra: true, questions: 1}, responseShape{rcode: dns.RcodeServerFailure, ra: true, questions: 1}},
		{"RFC1035_4_1_1/ANY", query("a.", dns.TypeANY, true, true, nil), withOPT(ok), withOPT(ok)},
		{"RFC2181_9/truncated, EDNS 512", query("big.", dns.TypeTXT, true, false, func(m *dns.Msg) { m.IsEdns0().SetUDPSize(512) }),
			responseShape{ra: true, tc: true, questions: 1, opt: true}, responseShape{ra: true, questions: 1, answers: 13, opt: true}},
		{"RFC2181_9/truncated, no EDNS", query("big.", dns.TypeTXT, false, false, nil),
			responseShape{ra: true, tc: true, questions: 1}, responseShape{ra: true, questions: 1, answers: 13}},
		{"RFC2181_9/fits in 1232", query("big.", dns.TypeTXT, true, true, nil),
			responseShape{ra: true, questions: 1, answers: 13, opt: true}, responseShape{ra: true, questions: 1, answers: 13, opt: true}},
	}
	for _, c := range cases {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(c.name+"/"+netw, func(t *testing.T) {
				addr, want := udpAddr, c.udp
				if netw == "tcp" {
					addr, want = tcpAddr, c.tcp
				}
				checkReplyHeader(t, c.q, exchangeRaw(t, netw, addr, c.q), want)
			})
		}
	}
}

// RFC 1035 §4.1.1: a query that does not parse is answered FORMERR with
// its ID, opcode, RD and CD, the question when it was read whole, and an
// OPT when one was read (RFC 6891 §7); not a bare header.
func TestRFC1035_4_1_1_FORMERRKeepsHeaderAndQuestion(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: shapeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	udpAddr, tcpAddr := serveLoopback(t, srv)
	// The question is read; the additional section promises a record
	// that is not there.
	countsLie := query("a.", dns.TypeA, true, true, nil)
	countsLie[11] = 2 // ARCOUNT 2, one OPT carried
	// The question's name is cut short.
	badName := append(query("a.", dns.TypeA, false, false, func(m *dns.Msg) { m.CheckingDisabled = true })[:12:12], 5, 'a')
	for _, c := range []struct {
		name string
		q    []byte
		want responseShape
	}{
		{"question read, OPT read, counts lie", countsLie, responseShape{rcode: dns.RcodeFormatError, questions: 1, opt: true}},
		{"question cut short", badName, responseShape{rcode: dns.RcodeFormatError}},
		{"header counts lie", lyingQuery(9), responseShape{rcode: dns.RcodeFormatError, questions: 1}},
	} {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(c.name+"/"+netw, func(t *testing.T) {
				addr := udpAddr
				if netw == "tcp" {
					addr = tcpAddr
				}
				checkReplyHeader(t, c.q, exchangeRaw(t, netw, addr, c.q), c.want)
			})
		}
	}
}

// A client not on the access list gets REFUSED with RA clear (no
// recursion for it, as Unbound answers), and, unlike Unbound's bare
// header, its question and an OPT when it sent one (RFC 6891 §7).
func TestRFC6891_7_RefusedClientGetsOPT(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: shapeResolver{}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	udpAddr, tcpAddr := serveLoopback(t, srv)
	for _, edns := range []bool{false, true} {
		q := query("a.", dns.TypeA, edns, true, nil)
		for netw, addr := range map[string]string{"udp": udpAddr, "tcp": tcpAddr} {
			t.Run(fmt.Sprintf("%s/edns=%v", netw, edns), func(t *testing.T) {
				checkReplyHeader(t, q, exchangeRaw(t, netw, addr, q), responseShape{rcode: dns.RcodeRefused, questions: 1, opt: edns})
			})
		}
	}
}
