package authority_test

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

type noResolver struct{}

func (noResolver) Resolve(context.Context, dns.Question) (*dns.Msg, error) { return new(dns.Msg), nil }

// serveBoth serves on loopback UDP and TCP, returning the address of each.
func serveBoth(t *testing.T, udp func(context.Context, net.PacketConn) error, tcp func(context.Context, net.Listener) error) (string, string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { udp(ctx, pc); done <- struct{}{} }()
	go func() { tcp(ctx, ln); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; pc.Close() })
	return pc.LocalAddr().String(), ln.Addr().String()
}

// rawExchange sends msg and returns the reply. A packet that both
// servers must drop (shorter than a header, or QR set) gets nil when the
// query sent after it (ID 0x7777) is answered first, twice over
// (resolvertest.RawExchange).
func rawExchange(t *testing.T, network, addr string, msg []byte) *dns.Msg {
	t.Helper()
	var probe *dns.Msg
	if len(msg) < 12 || msg[2]&0x80 != 0 {
		probe = new(dns.Msg)
		probe.SetQuestion("www.example.", dns.TypeA)
		probe.Id = 0x7777
	}
	m, err := resolvertest.RawExchange(network, addr, msg, probe)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The authoritative server's own UDP and TCP serving judges hostile
// packets as the resolver's Server does (both call internal/dnsproto:
// VetQuery, UnpackQuery, FormErr): the same packets are dropped, and the
// others get the same rcode (RFC 1035 §4.1.1; RFC 6891 §6.1.1 for two
// OPTs, §6.1.3 BADVERS), the same header bits copied, the same question
// and the same OPT (RFC 6891 §7). Only RA differs, which an authoritative
// server never sets.
func TestServeHostileAsResolverServer(t *testing.T) {
	z, err := authority.ParseZone(strings.NewReader("$TTL 300\nexample. IN SOA ns.example. a.example. 1 2 3 4 60\nexample. IN NS ns.example.\nwww IN A 192.0.2.80\n"), "example.", "")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authority.New(authority.Config{Zones: []*authority.Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := resolver.NewServer(resolver.ServerConfig{Resolver: noResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	aUDP, aTCP := serveBoth(t, auth.ServeUDP, auth.ServeTCP)
	rUDP, rTCP := serveBoth(t, rs.ServeUDP, rs.ServeTCP)
	build := func(edit func(*dns.Msg), raw func([]byte) []byte) []byte {
		q := new(dns.Msg)
		q.SetQuestion("www.example.", dns.TypeA)
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
	count := func(i int, n uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint16(b[4+2*i:], n); return b }
	}
	a := &dns.A{Hdr: dns.RR_Header{Name: "www.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}
	for name, q := range map[string][]byte{
		"opcode_IQUERY":       build(func(q *dns.Msg) { q.Opcode = dns.OpcodeIQuery }, nil),
		"opcode_STATUS":       build(func(q *dns.Msg) { q.Opcode = dns.OpcodeStatus }, nil),
		"opcode_NOTIFY":       build(func(q *dns.Msg) { q.Opcode = dns.OpcodeNotify }, nil),
		"opcode_UPDATE":       build(func(q *dns.Msg) { q.Opcode = dns.OpcodeUpdate; q.Ns = []dns.RR{a} }, nil),
		"qdcount0":            build(func(q *dns.Msg) { q.Question = nil }, nil),
		"qdcount2":            build(func(q *dns.Msg) { q.Question = append(q.Question, q.Question[0]) }, nil),
		"qdcount2_lie":        build(func(q *dns.Msg) { q.Extra = nil }, count(0, 2)),
		"ancount1_lie":        build(func(q *dns.Msg) { q.Extra = nil }, count(1, 1)),
		"arcount2_lie":        build(nil, count(3, 2)),
		"ancount1":            build(func(q *dns.Msg) { q.Answer = []dns.RR{a} }, nil),
		"ancount2":            build(func(q *dns.Msg) { q.Answer = []dns.RR{a, a} }, nil),
		"two_OPT":             build(func(q *dns.Msg) { q.Extra = append(q.Extra, dns.Copy(q.Extra[0])) }, nil),
		"OPT_version1":        build(func(q *dns.Msg) { q.IsEdns0().SetVersion(1) }, nil),
		"TC_set":              build(func(q *dns.Msg) { q.Truncated = true }, nil),
		"QR_set":              build(func(q *dns.Msg) { q.Response = true }, nil),
		"truncated_header":    build(nil, func(b []byte) []byte { return b[:7] }),
		"class_CH":            build(func(q *dns.Msg) { q.Question[0].Qclass = dns.ClassCHAOS }, nil),
		"qtype_AXFR":          build(func(q *dns.Msg) { q.Question[0].Qtype = dns.TypeAXFR }, nil),
		"qtype_OPT":           build(func(q *dns.Msg) { q.Question[0].Qtype = dns.TypeOPT }, nil),
		"no_EDNS_opcode":      build(func(q *dns.Msg) { q.Opcode = dns.OpcodeStatus; q.Extra = nil }, nil),
		"bad_pointer_in_ar":   build(func(q *dns.Msg) { q.Extra = nil }, func(b []byte) []byte { b[11] = 1; return append(b, 0xc0, 0xff, 0, 1) }),
		"OPT_then_bad_record": build(nil, func(b []byte) []byte { b[11] = 2; return append(b, 0xc0, 0xff, 0, 1) }),
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(name+"/"+network, func(t *testing.T) {
				aAddr, rAddr := aUDP, rUDP
				if network == "tcp" {
					aAddr, rAddr = aTCP, rTCP
				}
				got, want := rawExchange(t, network, aAddr, q), rawExchange(t, network, rAddr, q)
				if (got == nil) != (want == nil) {
					t.Fatalf("authority %v\nresolver %v", got, want)
				}
				if got == nil {
					return
				}
				if got.RecursionAvailable {
					t.Error("RA set by an authoritative server")
				}
				got.RecursionAvailable, want.RecursionAvailable = false, false
				if got.String() != want.String() {
					t.Errorf("authority:\n%v\nresolver:\n%v", got, want)
				}
			})
		}
	}
}
