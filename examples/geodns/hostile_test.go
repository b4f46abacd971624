package main

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

const hostileZone = testZone + "www IN A 192.0.2.80\n"

// hostileQuery is the query for www.cdn.example/A with ID 0x1234, RD and
// CD set and an EDNS OPT (payload 1232, DO), changed by edit before it is
// packed and by raw after.
func hostileQuery(t *testing.T, edit func(*dns.Msg), raw func([]byte) []byte) []byte {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("www.cdn.example.", dns.TypeA)
	q.Id = 0x1234
	q.CheckingDisabled = true
	q.SetEdns0(1232, true)
	if edit != nil {
		edit(q)
	}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		b = raw(b)
	}
	return b
}

func setCount(i int, n uint16) func([]byte) []byte {
	return func(b []byte) []byte { binary.BigEndian.PutUint16(b[4+2*i:], n); return b }
}

func optOf(m *dns.Msg) *dns.OPT {
	for _, rr := range m.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			return o
		}
	}
	return nil
}

// exchangeRaw sends msg to addr over network (udp, tcp) and returns the
// first reply. With drop set it expects none: probe queries (ID 0x7777)
// follow it, and the first reply that is not a probe's is returned, or
// nil (resolvertest.RawExchange).
func exchangeRaw(t *testing.T, network, addr string, msg []byte, drop bool) *dns.Msg {
	t.Helper()
	var probe *dns.Msg
	if drop {
		probe = new(dns.Msg)
		probe.SetQuestion("cdn.example.", dns.TypeSOA)
		probe.Id = 0x7777
	}
	m, err := resolvertest.RawExchange(network, addr, msg, probe)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHostileQueriesAnsweredAsAuthority serves the zone with geodns (the
// real UDP and TCP serving on loopback) and sends queries a resolver's
// server would not answer normally. Every reply must be the one
// resolver/authority's own Answer gives for the parsed query (the same
// rules as the resolver's Server: dnsproto.VetQuery), and must follow the
// RFCs: the query's ID, opcode, RD and CD copied (RFC 1035 §4.1.1), and
// an OPT of version 0 in the reply to every query whose OPT was read,
// errors included (RFC 6891 §7). Before, the dns.Server answered
// NOTIMP and FORMERR itself without the OPT and without RD, and answered
// a query whose header promised a second question as a normal one.
func TestHostileQueriesAnsweredAsAuthority(t *testing.T) {
	dir := t.TempDir()
	zone, steer := filepath.Join(dir, "cdn.zone"), filepath.Join(dir, "steer.json")
	os.WriteFile(zone, []byte(hostileZone), 0o600)
	os.WriteFile(steer, []byte(`{"steer": []}`), 0o600)
	svc, err := start("127.0.0.1:0", zone, "cdn.example.", steer, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	z, err := authority.ParseZone(strings.NewReader(hostileZone), "cdn.example.", "")
	if err != nil {
		t.Fatal(err)
	}
	own, err := authority.New(authority.Config{Zones: []*authority.Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	opcode := func(op int) func(*dns.Msg) { return func(q *dns.Msg) { q.Opcode = op } }
	for _, c := range []struct {
		name  string
		query []byte
		// rcode is the RFC's answer; parsed says that the query parses
		// with honest counts, so Answer's reply is the reference; noReply
		// that nothing may come back.
		rcode   int
		opt     bool
		parsed  bool
		noReply bool
	}{
		{name: "RFC1035_4.1.1/plain", query: hostileQuery(t, nil, nil), rcode: dns.RcodeSuccess, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/opcode_IQUERY_NOTIMP", query: hostileQuery(t, opcode(dns.OpcodeIQuery), nil), rcode: dns.RcodeNotImplemented, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/opcode_STATUS_NOTIMP", query: hostileQuery(t, opcode(dns.OpcodeStatus), nil), rcode: dns.RcodeNotImplemented, opt: true, parsed: true},
		{name: "RFC1996/opcode_NOTIFY_NOTIMP", query: hostileQuery(t, opcode(dns.OpcodeNotify), nil), rcode: dns.RcodeNotImplemented, opt: true, parsed: true},
		{name: "RFC2136/opcode_UPDATE_NOTIMP", query: hostileQuery(t, func(q *dns.Msg) {
			q.Opcode = dns.OpcodeUpdate
			q.Ns = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.cdn.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		}, nil), rcode: dns.RcodeNotImplemented, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/qdcount0_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Question = nil }, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/qdcount2_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Question = append(q.Question, q.Question[0]) }, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/qdcount2_lie_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Extra = nil }, setCount(0, 2)), rcode: dns.RcodeFormatError},
		{name: "RFC1035_4.1.1/ancount1_lie_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Extra = nil }, setCount(1, 1)), rcode: dns.RcodeFormatError},
		{name: "RFC1035_4.1.1/arcount2_lie_FORMERR", query: hostileQuery(t, nil, setCount(3, 2)), rcode: dns.RcodeFormatError, opt: true},
		{name: "RFC1035_4.1.1/ancount1_FORMERR", query: hostileQuery(t, func(q *dns.Msg) {
			q.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www.cdn.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		}, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/ancount2_FORMERR", query: hostileQuery(t, func(q *dns.Msg) {
			a := &dns.A{Hdr: dns.RR_Header{Name: "www.cdn.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}
			q.Answer = []dns.RR{a, a}
		}, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/arcount3_FORMERR", query: hostileQuery(t, func(q *dns.Msg) {
			a := &dns.A{Hdr: dns.RR_Header{Name: "www.cdn.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}
			q.Extra = append([]dns.RR{a, a}, q.Extra...)
		}, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC6891_6.1.1/two_OPT_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Extra = append(q.Extra, dns.Copy(q.Extra[0])) }, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC6891_6.1.3/version1_BADVERS", query: hostileQuery(t, func(q *dns.Msg) { optOf(q).SetVersion(1) }, nil), rcode: dns.RcodeBadVers, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/TC_in_query_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Truncated = true }, nil), rcode: dns.RcodeFormatError, opt: true, parsed: true},
		{name: "RFC1035_4.1.1/truncated_header_dropped", query: hostileQuery(t, nil, func(b []byte) []byte { return b[:7] }), noReply: true},
		{name: "RFC1035_4.1.1/QR_set_dropped", query: hostileQuery(t, func(q *dns.Msg) { q.Response = true }, nil), noReply: true},
		{name: "RFC1035_4.1.1/garbage_after_question_FORMERR", query: hostileQuery(t, func(q *dns.Msg) { q.Extra = nil }, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[10:], 1)
			return append(b, 0xc0, 0xff, 0, 1) // a compression pointer past the end
		}), rcode: dns.RcodeFormatError},
		{name: "RFC6895_3.1/class_CH_REFUSED", query: hostileQuery(t, func(q *dns.Msg) { q.Question[0].Qclass = dns.ClassCHAOS }, nil), rcode: dns.RcodeRefused, opt: true, parsed: true},
		{name: "RFC3597/unknown_qtype_NODATA", query: hostileQuery(t, func(q *dns.Msg) { q.Question[0].Qtype = 65280 }, nil), rcode: dns.RcodeSuccess, opt: true, parsed: true},
		{name: "RFC6891_6.1.2/unknown_option_ignored", query: hostileQuery(t, func(q *dns.Msg) {
			optOf(q).Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}}}
		}, nil), rcode: dns.RcodeSuccess, opt: true, parsed: true},
		{name: "RFC6891_6.2.5/payload_100_as_512", query: hostileQuery(t, func(q *dns.Msg) { optOf(q).SetUDPSize(100) }, nil), rcode: dns.RcodeSuccess, opt: true, parsed: true},
		{name: "RFC6891_7/no_EDNS_NOTIMP", query: hostileQuery(t, func(q *dns.Msg) { q.Opcode = dns.OpcodeStatus; q.Extra = nil }, nil), rcode: dns.RcodeNotImplemented, parsed: true},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(c.name+"/"+network, func(t *testing.T) {
				got := exchangeRaw(t, network, svc.addr, c.query, c.noReply)
				if c.noReply {
					if got != nil {
						t.Fatalf("answered a packet to drop:\n%v", got)
					}
					return
				}
				// The RFC's view.
				hdr := c.query
				if got.Id != binary.BigEndian.Uint16(hdr) || !got.Response || got.Opcode != int(hdr[2]>>3)&0xf ||
					got.RecursionDesired != (hdr[2]&1 != 0) || got.CheckingDisabled != (hdr[3]&0x10 != 0) {
					t.Errorf("header not copied from the query (RFC 1035 §4.1.1):\n%v", got)
				}
				if got.Rcode != c.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[c.rcode])
				}
				if o := optOf(got); (o != nil) != c.opt || o != nil && o.Version() != 0 {
					t.Errorf("OPT %v, want one: %v (RFC 6891 §7)", o, c.opt)
				}
				if got.RecursionAvailable {
					t.Error("RA set by an authoritative server")
				}
				// resolver/authority's own handler, on the same query.
				if !c.parsed {
					return
				}
				req := new(dns.Msg)
				if err := req.Unpack(c.query); err != nil {
					t.Fatal(err)
				}
				want := new(dns.Msg)
				wb, err := own.Answer(req).Pack()
				if err != nil {
					t.Fatal(err)
				}
				want.Unpack(wb)
				if got.String() != want.String() {
					t.Errorf("served:\n%v\nauthority.Answer:\n%v", got, want)
				}
			})
		}
	}
}
