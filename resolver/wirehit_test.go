package resolver

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// wireFixture is a signed hierarchy with a validating and a
// non-validating resolver over it, their caches warm, on a fake clock.
type wireFixture struct {
	clk       *clock.Fake
	start     time.Time // when the warm-up ended
	servers   map[string]*Server
	questions []dns.Question
	bogus     []dns.Question // answered SERVFAIL with an Extended DNS Error
}

var (
	wireV4, wireV4Local = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	wireTCP, wireTCPLoc = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
)

func newWireFixture(t testing.TB) *wireFixture {
	t.Helper()
	var text strings.Builder
	text.WriteString("$TTL 300\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.4\n")
	text.WriteString("one IN A 192.0.2.1\ntwo IN A 192.0.2.2\ntwo IN A 192.0.2.3\nalias IN CNAME one\nalias2 IN CNAME alias\nshort 2 IN A 192.0.2.9\nMixed IN A 192.0.2.7\n")
	for i := range 12 { // 500 to 1232 octets: truncated at 512, kept for larger sizes
		fmt.Fprintf(&text, "mid IN TXT \"record %d of a set of some size\"\n", i)
	}
	for i := range 40 {
		fmt.Fprintf(&text, "big IN TXT \"record %d of a set too big for 512 octets\"\n", i)
	}
	past := time.Now().Add(-48 * time.Hour)
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: text.String()}},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.5", Origin: "expired.com.", Text: "$TTL 300\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.5\nwww IN A 192.0.2.5\n"},
			Signing: resolvertest.Signing{Inception: past.Add(-time.Hour), Expiration: past}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f := &wireFixture{clk: clock.NewFake(time.Now()), servers: map[string]*Server{}}
	// During the warm-up every reading of the clock moves it on, so the
	// cached answers and their DNSSEC entries are stored at different
	// fractions of a second and cross their seconds of age apart.
	var warming atomic.Bool
	warming.Store(true)
	now := func() time.Time {
		if warming.Load() {
			return f.clk.Advance(37 * time.Millisecond)
		}
		return f.clk.Now()
	}
	for _, name := range []string{"validated", "unvalidated"} {
		r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, DisableDNSSEC: name == "unvalidated", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		srv, err := NewServer(ServerConfig{Resolver: r})
		if err != nil {
			t.Fatal(err)
		}
		if srv.wire == nil {
			t.Fatal("no packed replies kept")
		}
		f.servers[name] = srv
	}
	for _, n := range []string{"one", "two", "mid", "big", "alias", "alias2", "short", "mixed", "nope", "one/AAAA", "www.nope"} {
		q := dns.Question{Name: n + ".example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
		switch n {
		case "big", "mid":
			q.Qtype = dns.TypeTXT
		case "one/AAAA":
			q.Name, q.Qtype = "one.example.com.", dns.TypeAAAA
		}
		f.questions = append(f.questions, q)
	}
	f.bogus = []dns.Question{{Name: "www.expired.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	for _, srv := range f.servers {
		for _, q := range append(f.questions, f.bogus...) {
			req := new(dns.Msg)
			req.SetQuestion(q.Name, q.Qtype)
			req.SetEdns0(4096, true)
			srv.answer(wireV4, wireTCPLoc, req)
		}
	}
	warming.Store(false)
	f.start = f.clk.Now()
	return f
}

// wireVariant is one way of asking a question.
type wireVariant struct {
	do, ad, cd, rd bool
	size           uint16 // 0: no EDNS
	spell          int    // 0: as cached, 1: upper case, 2: mixed (0x20)
	tcp            bool
	opts           int // EDNS options the reply ignores: 0 none, 1 a COOKIE, 2 a COOKIE and an unknown option
}

func (v wireVariant) query(q dns.Question, id uint16) *dns.Msg {
	req := new(dns.Msg)
	name := q.Name
	switch v.spell {
	case 1:
		name = strings.ToUpper(name)
	case 2:
		b := []byte(name)
		for i := range b {
			if i%2 == 0 {
				b[i] = byte(strings.ToUpper(string(b[i]))[0])
			}
		}
		name = string(b)
	}
	req.SetQuestion(name, q.Qtype)
	req.Id = id
	req.RecursionDesired = v.rd
	req.AuthenticatedData, req.CheckingDisabled = v.ad, v.cd
	if v.size > 0 {
		req.SetEdns0(v.size, v.do)
		opt := req.IsEdns0()
		if v.opts > 0 { // as dig +dnssec sends: a client cookie (RFC 7873 §4.1)
			opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "24a5ac1e7f3b9c01"})
		}
		if v.opts > 1 {
			opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})
		}
	}
	return req
}

func wireVariants() []wireVariant {
	var out []wireVariant
	for _, size := range []uint16{0, 512, 1232, 4096} {
		for _, fl := range []wireVariant{{rd: true}, {rd: true, do: true}, {rd: true, ad: true}, {rd: true, do: true, cd: true}, {rd: true, cd: true, ad: true}, {do: true}} {
			for spell := range 3 {
				for _, tcp := range []bool{false, true} {
					v := fl
					v.size, v.spell, v.tcp = size, spell, tcp
					if size == 0 && v.do {
						continue
					}
					out = append(out, v)
					if size > 0 && !tcp {
						v.opts = 1 + spell%2
						out = append(out, v)
					}
				}
			}
		}
	}
	return out
}

// oldReply is the reply respond builds for req, packed: the path every
// reply took before packed replies were kept.
func oldReply(t testing.TB, srv *Server, remote, local net.Addr, req *dns.Msg) ([]byte, bool) {
	m, ok := srv.respond(remote, local, req, cacheOnly)
	if !ok {
		return nil, false
	}
	b, err := m.PackBuffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// checkWire asks req by wireHit three times (packing, keeping, copying)
// and by the old path, and fails unless they agree byte for byte. It
// returns the result of the last wireHit.
func checkWire(t testing.TB, srv *Server, remote, local net.Addr, req *dns.Msg, what string) wireResult {
	t.Helper()
	want, ok := oldReply(t, srv, remote, local, req)
	var last wireResult
	for i := range 3 {
		got, res := srv.wireHit(remote, local, req, make([]byte, 0, 7)) // a small buffer: grown
		switch {
		case res == wireSkip:
			if wireQuery(req) {
				t.Fatalf("%s: an eligible query skipped", what)
			}
			return res
		case res == wireMiss:
			if ok {
				t.Fatalf("%s: wireHit missed, the cache answers:\n%v", what, unpacked(want))
			}
		case !ok:
			t.Fatalf("%s: wireHit answered what the cache does not:\n%v", what, unpacked(got))
		case !bytes.Equal(got, want):
			t.Fatalf("%s, hit %d (result %d): packed reply\n%v\n% x\nwant\n%v\n% x", what, i, res, unpacked(got), got, unpacked(want), want)
		}
		last = res
	}
	return last
}

func unpacked(b []byte) *dns.Msg {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return &dns.Msg{Question: []dns.Question{{Name: "unpack error: " + err.Error() + "."}}}
	}
	return m
}

// TestRFC1035_4_1_1_WireHitDifferential: a cache hit answered from a
// kept packed reply (its ID, CD, AD and DO written in) is exactly the
// bytes the old path packs (respond, then PackBuffer): for validated and
// unvalidated answers, positive, CNAME chains, NXDOMAIN and NODATA with
// their proofs (RFC 4035 §3.2.1), with and without DO, AD and CD (RFC
// 6840 §5.7-5.8, RFC 4035 §3.2.2), RD or not (RFC 1034 §4.3.1), the
// question spelled as cached, in upper case or mixed (0x20: the reply
// spells it back), with a client COOKIE and an unknown option or without
// (the reply ignores them: RFC 7873 §5.2.1, RFC 6891 §6.1.2; checked on
// the old path too), EDNS sizes none, 512, 1232 and 4096 (RFC 6891 §7:
// large answers truncated over UDP, RFC 1035 §4.2.1), over UDP and TCP,
// at moments crossing seconds of age, up to and past a TTL's end (RFC
// 1035 §3.2.1). A bogus answer (SERVFAIL with an Extended DNS Error, RFC
// 8914) is no cache hit and is answered through ServeDNS as before.
func TestRFC1035_4_1_1_WireHitDifferential(t *testing.T) {
	f := newWireFixture(t)
	counts := map[wireResult]int{}
	truncated, signed, withOpts := 0, 0, 0
	id := uint16(0)
	for _, age := range []time.Duration{0, 400 * time.Millisecond, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, 1999 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond, 59 * time.Second, 299*time.Second + 500*time.Millisecond, 300 * time.Second} {
		f.clk.Set(f.start.Add(age))
		for name, srv := range f.servers {
			for round := range 2 {
				for _, q := range f.questions {
					for _, v := range wireVariants() {
						id++
						remote, local := net.Addr(wireV4), net.Addr(wireV4Local)
						if v.tcp {
							remote, local = wireTCP, wireTCPLoc
						}
						req := v.query(q, id)
						res := checkWire(t, srv, remote, local, req, fmt.Sprintf("%s age %v round %d %s/%d %+v", name, age, round, q.Name, q.Qtype, v))
						counts[res]++
						if v.opts > 0 && round == 0 {
							// RFC 7873 §5.2.1, RFC 6891 §6.1.2: the old path
							// answers as if the options were not there.
							w := v
							w.opts = 0
							with, _ := oldReply(t, srv, remote, local, req)
							without, _ := oldReply(t, srv, remote, local, w.query(q, id))
							if !bytes.Equal(with, without) {
								t.Fatalf("%s %s/%d %+v: the old path's reply depends on the options:\n%v\nwithout\n%v", name, q.Name, q.Qtype, v, unpacked(with), unpacked(without))
							}
							withOpts++
						}
						if res == wireKept {
							b, _ := srv.wireHit(remote, local, req, nil)
							m := unpacked(b)
							if m.Truncated {
								truncated++
							}
							if count(m.Answer, dns.TypeRRSIG)+count(m.Ns, dns.TypeRRSIG) > 0 {
								signed++
							}
						}
					}
				}
			}
		}
	}
	if counts[wireKept] == 0 || counts[wireDone] == 0 || counts[wireMiss] == 0 || counts[wireSkip] == 0 || signed == 0 {
		t.Fatalf("results %v, %d kept replies with RRSIGs: the cases do not cover the paths", counts, signed)
	}
	if truncated != 0 {
		t.Fatalf("%d truncated replies were kept", truncated)
	}
	if withOpts == 0 {
		t.Fatal("no query with a cookie")
	}
	// A bogus answer: SERVFAIL with its EDE, through ServeDNS as through
	// the old path.
	srv := f.servers["validated"]
	for _, v := range []wireVariant{{rd: true, size: 1232, do: true}, {rd: true, size: 512}, {rd: true}} {
		req := v.query(f.bogus[0], 7)
		w := &captureWire{benchWriter: benchWriter{remote: wireV4, local: wireV4Local}}
		srv.ServeDNS(w, req)
		want, err := srv.answer(wireV4, wireV4Local, req).Pack()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.b, want) {
			t.Fatalf("bogus %+v: ServeDNS\n%v\nwant\n%v", v, unpacked(w.b), unpacked(want))
		}
		if m := unpacked(w.b); m.Rcode != dns.RcodeServerFailure || v.size > 0 && edeOf(m) == nil {
			t.Fatalf("bogus %+v: not SERVFAIL with EDE:\n%v", v, m)
		}
	}
}

// captureWire is a ResponseWriter keeping what is written, by Write or
// WriteMsg (packed), as the bytes a client would get.
type captureWire struct {
	benchWriter
	b      []byte
	writes int
}

func (w *captureWire) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.b, w.writes = b, w.writes+1
	return err
}

func (w *captureWire) Write(b []byte) (int, error) {
	w.b, w.writes = append([]byte(nil), b...), w.writes+1
	return len(b), nil
}

// TestWireHitHostileQueries: queries a kept reply must not answer (two
// OPTs, RFC 6891 §6.1.1; an EDNS option the reply may depend on: Client
// Subnet RFC 7871 (beside a cookie too), Padding RFC 7830, NSID RFC 5001,
// Expire RFC 7314, an unknown type carrying ECS's or Padding's code; two questions; TC set; no RD; a
// response; TSIG; an opcode other than QUERY; EDNS version 1) are
// skipped before anything is counted, and reply() answers them exactly
// as the old path does, as it answers a query cut short (FORMERR).
func TestWireHitHostileQueries(t *testing.T) {
	f := newWireFixture(t)
	srv := f.servers["validated"]
	base := func() *dns.Msg {
		req := new(dns.Msg)
		req.SetQuestion("one.example.com.", dns.TypeA)
		req.SetEdns0(1232, true)
		return req
	}
	opt := func(m *dns.Msg) *dns.OPT { return m.IsEdns0() }
	cases := map[string]func(m *dns.Msg){
		"two OPTs": func(m *dns.Msg) {
			m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
		},
		"ECS": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0)})
		},
		"cookie and ECS": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
				&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0)})
		},
		"padding": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_PADDING{Padding: make([]byte, 8)})
		},
		"NSID": func(m *dns.Msg) { opt(m).Option = append(opt(m).Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID}) },
		"expire": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_EXPIRE{Code: dns.EDNS0EXPIRE, Empty: true})
		},
		"local option with padding's code": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0PADDING, Data: []byte{0, 0}})
		},
		"local option with ECS's code": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 24, 0, 192, 0, 2}})
		},
		"two questions": func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) },
		"TC":            func(m *dns.Msg) { m.Truncated = true },
		"no RD":         func(m *dns.Msg) { m.RecursionDesired = false },
		"response":      func(m *dns.Msg) { m.Response = true },
		"opcode":        func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify },
		"EDNS version":  func(m *dns.Msg) { opt(m).SetVersion(1) },
		"TSIG": func(m *dns.Msg) {
			m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "key.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: dns.HmacSHA256, MAC: "00", OrigId: m.Id})
		},
		"answer record": func(m *dns.Msg) {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "one.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 66)})
		},
	}
	for name, change := range cases {
		req := base()
		change(req)
		if _, res := srv.wireHit(wireV4, wireV4Local, req, nil); res != wireSkip {
			t.Errorf("%s: wireHit took it (%d)", name, res)
		}
		msg, err := req.Pack()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkReply(t, srv, msg, name)
	}
	// Options the reply ignores (RFC 7873 §5.2.1: no server cookies;
	// RFC 6891 §6.1.2: unknown options): taken, as the old path answers.
	taken := map[string]func(m *dns.Msg){
		"client cookie": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		},
		"client and server cookie": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "01020304050607080100000063a1b2c3d4e5f60718293a4b"})
		},
		"two cookies, one of a bad length": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102"},
				&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		},
		"unknown option": func(m *dns.Msg) {
			opt(m).Option = append(opt(m).Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1}})
		},
	}
	for name, change := range taken {
		req := base()
		change(req)
		msg, err := req.Pack()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		parsed := new(dns.Msg)
		if err := dnsproto.UnpackQuery(msg, parsed); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for range 3 {
			if _, res := srv.wireHit(wireV4, wireV4Local, parsed, nil); res == wireSkip {
				t.Errorf("%s: skipped", name)
			}
			checkReply(t, srv, msg, name)
		}
	}
	// Raw datagrams: cut short, counts that lie, a header alone.
	good, _ := base().Pack()
	two := append([]byte(nil), good...)
	two[5] = 2 // qdcount 2, one question carried
	for name, msg := range map[string][]byte{"cut short": good[:len(good)-3], "qdcount 2": two, "header": good[:12]} {
		checkReply(t, srv, msg, name)
	}
}

// checkReply checks that reply() answers msg exactly as the old path
// does (unpackQuery, then respond or formErr, then PackBuffer).
func checkReply(t *testing.T, srv *Server, msg []byte, name string) {
	t.Helper()
	var want []byte
	req := new(dns.Msg)
	if len(msg) < 12 || msg[2]&0x80 != 0 {
		// never answered
	} else if err := dnsproto.UnpackQuery(msg, req); err != nil {
		want, _ = srv.formErr(msg, req, wireV4, wireV4Local).PackBuffer(nil)
	} else if m, ok := srv.respond(wireV4, wireV4Local, req, cacheOnly); ok {
		want, _ = m.PackBuffer(nil)
	} else {
		t.Fatalf("%s: the old path would resolve", name)
	}
	got := srv.reply(msg, wireV4, wireV4Local, nil, &resolvers{}, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: reply()\n%v\nwant\n%v", name, unpacked(got), unpacked(want))
	}
}

// FuzzWireHit feeds arbitrary queries to the cache hit path: whatever
// wireHit answers is exactly what the old path packs, a query it skips
// is one it must not answer, and nothing panics.
func FuzzWireHit(f *testing.F) {
	fx := newWireFixture(f)
	for i, v := range wireVariants() {
		if i%3 != 0 {
			continue
		}
		q := fx.questions[i%len(fx.questions)]
		if b, err := v.query(q, uint16(i)).Pack(); err == nil {
			f.Add(b, v.tcp, uint16(i))
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, tcp bool, age uint16) {
		if len(msg) < 12 || msg[2]&0x80 != 0 {
			return
		}
		req := new(dns.Msg)
		if dnsproto.UnpackQuery(msg, req) != nil {
			return
		}
		fx.clk.Set(fx.start.Add(time.Duration(age%4000) * time.Millisecond))
		remote, local := net.Addr(wireV4), net.Addr(wireV4Local)
		if tcp {
			remote, local = wireTCP, wireTCPLoc
		}
		for _, srv := range fx.servers {
			if _, res := srv.wireHit(remote, local, req, nil); res == wireMiss {
				continue // a resolution: not the hit path
			}
			checkWire(t, srv, remote, local, req, fmt.Sprintf("% x", msg))
		}
	})
}

// TestWireHitConcurrentSecondBoundary: hits from many goroutines while
// the clock crosses seconds of the records' age (the kept replies
// replaced as others read them) are race-free (go test -race), and each
// reply is one the old path gives at a moment of its hit: each record of
// its answer section (TTLs counted down, RFC 1035 §3.2.1) as at a step
// of the clock during the hit, never as kept for an older second, and
// its header and OPT its own query's.
func TestWireHitConcurrentSecondBoundary(t *testing.T) {
	f := newWireFixture(t)
	srv := f.servers["validated"]
	const workers, steps = 4, 30
	at := func(s int64) time.Time { return f.start.Add(time.Duration(s) * 300 * time.Millisecond) }
	variant := func(w int) wireVariant { return wireVariant{rd: true, do: w%2 == 0, size: 1232, cd: w == 3} }
	// want[s][w] is the answer section the old path gives worker w's
	// query at step s, a record a line.
	want := make([][workers][]string, steps+1)
	for s := range int64(steps + 1) {
		f.clk.Set(at(s))
		for w := range workers {
			b, ok := oldReply(t, srv, wireV4, wireV4Local, variant(w).query(f.questions[0], 1))
			if !ok {
				t.Fatal("not cached")
			}
			for _, rr := range unpacked(b).Answer {
				want[s][w] = append(want[s][w], rr.String())
			}
		}
	}
	f.clk.Set(at(0))
	var wg sync.WaitGroup
	var bad atomic.Value
	var step, hits atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := variant(w)
			for i := 0; step.Load() < steps && bad.Load() == nil; i++ {
				before := step.Load()
				b, res := srv.wireHit(wireV4, wireV4Local, v.query(f.questions[0], uint16(i)), nil)
				after := step.Load()
				hits.Add(1)
				if res != wireKept && res != wireDone {
					bad.Store(fmt.Sprintf("result %d", res))
					return
				}
				m := unpacked(b)
				// Each record as at one of the steps: the hit reads the
				// clock for the answer, then for its RRSIGs, as before.
				for k, rr := range m.Answer {
					found := false
					for s := before; s <= after && k < len(want[s][w]); s++ {
						found = found || rr.String() == want[s][w][k]
					}
					if !found || len(m.Answer) != len(want[before][w]) {
						bad.Store(fmt.Sprintf("steps %d-%d: answer\n%v\nwant records of these steps, from\n%v", before, after, m.Answer, want[before][w]))
						return
					}
				}
				if m.Id != uint16(i) || m.CheckingDisabled != v.cd || m.IsEdns0() == nil || m.IsEdns0().Do() != v.do {
					bad.Store(fmt.Sprintf("header or OPT of another query: %v", m))
					return
				}
			}
		}()
	}
	for s := int64(1); s <= steps && bad.Load() == nil; s++ {
		// Each step waits for hits of the workers (yielding, not
		// sleeping), so hits and clock changes interleave.
		for target := hits.Load() + 4*workers; hits.Load() < target && bad.Load() == nil; {
			runtime.Gosched()
		}
		f.clk.Set(at(s))
		step.Store(s)
	}
	step.Store(steps)
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(msg)
	}
}

// TestRFC4035_3_2_1_WireHitDNSSECEntryApart: a kept reply with DNSSEC
// records (RFC 4035 §3.2.1) and AD (RFC 6840 §5.8) is made of two cache
// entries, the answer and its DNSSEC entry, whose seconds of age turn at
// different moments. Swept over several seconds in 50 ms steps, with the
// DNSSEC entry stored 600 ms after the answer and 600 ms before it, the
// kept reply is byte for byte the old path's (its RRSIG TTLs counted
// down with their own entry); and once the DNSSEC entry is removed or
// replaced by an insecure one, no kept reply gives its records or AD.
func TestRFC4035_3_2_1_WireHitDNSSECEntryApart(t *testing.T) {
	f := newWireFixture(t)
	srv := f.servers["validated"]
	r := srv.wire.rec
	for _, c := range []struct {
		name  string
		apart time.Duration // the DNSSEC entry's store time after the answer's
	}{{"after", 600 * time.Millisecond}, {"before", -600 * time.Millisecond}} {
		name := "tick-" + c.name + ".example.com."
		a, _ := dns.NewRR(name + " 300 IN A 192.0.2.44")
		sig, _ := dns.NewRR(name + " 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 1 example.com. AAAAAAAAAAAAAAAAAAAAAAAA")
		q := dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
		t0 := f.start.Add(time.Hour)
		putA := func() { r.putRRset([]dns.RR{dns.Copy(a)}, rankAnswer) }
		putSig := func(secure bool) { r.putDNSSEC(q, secure, []dns.RR{dns.Copy(sig)}, nil, 300*time.Second) }
		f.clk.Set(t0)
		if c.apart > 0 {
			putA()
			f.clk.Set(t0.Add(c.apart))
			putSig(true)
		} else {
			putSig(true)
			f.clk.Set(t0.Add(-c.apart))
			putA()
		}
		kept := 0
		for step := range 100 {
			f.clk.Set(t0.Add(time.Second + time.Duration(step)*50*time.Millisecond))
			for _, v := range []wireVariant{{rd: true, do: true, size: 1232}, {rd: true, ad: true, size: 1232}, {rd: true, ad: true}} {
				if checkWire(t, srv, wireV4, wireV4Local, v.query(q, uint16(step)), fmt.Sprintf("%s step %d %+v", c.name, step, v)) == wireKept {
					kept++
				}
			}
		}
		if kept < 200 {
			t.Fatalf("%s: %d kept replies of 300", c.name, kept)
		}
		// The DNSSEC entry gone (evicted, flushed): no AD, no RRSIG.
		req := wireVariant{rd: true, do: true, size: 1232}.query(q, 1)
		for range 2 {
			checkWire(t, srv, wireV4, wireV4Local, req, c.name+" before deletion")
		}
		if !r.cache.Delete(dnssecKey(name, dns.TypeA)) {
			t.Fatal("no DNSSEC entry")
		}
		checkWire(t, srv, wireV4, wireV4Local, req, c.name+" DNSSEC entry deleted")
		if b, _ := srv.wireHit(wireV4, wireV4Local, req, nil); unpacked(b).AuthenticatedData || count(unpacked(b).Answer, dns.TypeRRSIG) != 0 {
			t.Fatalf("%s: AD or RRSIG once the DNSSEC entry is gone:\n%v", c.name, unpacked(b))
		}
		// Replaced by an insecure one: its records, no AD.
		putSig(true)
		for range 2 {
			checkWire(t, srv, wireV4, wireV4Local, req, c.name+" secure again")
		}
		putSig(false)
		checkWire(t, srv, wireV4, wireV4Local, req, c.name+" replaced insecure")
		if b, _ := srv.wireHit(wireV4, wireV4Local, req, nil); unpacked(b).AuthenticatedData {
			t.Fatalf("%s: AD once the DNSSEC entry is insecure:\n%v", c.name, unpacked(b))
		}
	}
}

// TestWireHitBudget: the octets kept (packed replies, the records they
// keep alive, their overhead) stay within the Server's budget, give or
// take one reply's overhead, whatever is asked; replies not kept for
// lack of room are still exactly the old path's.
func TestWireHitBudget(t *testing.T) {
	f := newWireFixture(t)
	srv := f.servers["validated"]
	if srv.wire.max != wireBudget(srv.wire.rec.cfg.MaxBytes) || srv.wire.max < 64<<10 {
		t.Fatalf("budget %d for MaxBytes %d", srv.wire.max, srv.wire.rec.cfg.MaxBytes)
	}
	srv.wire.max = 1500
	kept := 0
	for _, age := range []time.Duration{0, time.Second, 2 * time.Second} {
		f.clk.Set(f.start.Add(age))
		for _, q := range f.questions {
			for _, v := range wireVariants() {
				if checkWire(t, srv, wireV4, wireV4Local, v.query(q, 1), fmt.Sprintf("%s %+v", q.Name, v)) == wireKept {
					kept++
				}
				if n := srv.wire.bytes.Load(); n < 0 || n > srv.wire.max+1024 {
					t.Fatalf("%d octets kept, budget %d", n, srv.wire.max)
				}
			}
		}
	}
	if kept == 0 {
		t.Fatal("nothing kept")
	}
}

// TestWireHitFreshSetsNotKept: the answers made of records copied for
// each hit (a name spelled in mixed case or in upper case: the answer's
// owners copied, spelled as asked) are never kept, even when a fresh
// slice lands at an address seen before (the allocator reuses memory
// after a collection): keeping them would pack and store a reply on
// every hit. Answers built per hit from records shared by the hits of a
// second (a CNAME chain, NXDOMAIN and NODATA with their SOA copied) are
// kept from their third hit of a second, in upper case too for a
// negative answer (it holds no owner spelled as asked).
func TestWireHitFreshSetsNotKept(t *testing.T) {
	f := newWireFixture(t)
	srv := f.servers["validated"]
	type asked struct {
		q     dns.Question
		spell int
	}
	var copied, built []asked
	for _, q := range f.questions {
		switch q.Name {
		case "alias.example.com.", "alias2.example.com.":
			copied = append(copied, asked{q, 1})
			built = append(built, asked{q, 0})
		case "nope.example.com.", "www.nope.example.com.":
			built = append(built, asked{q, 0}, asked{q, 1})
		case "one.example.com.":
			if q.Qtype == dns.TypeA {
				copied = append(copied, asked{q, 2}, asked{q, 1})
			} else {
				built = append(built, asked{q, 0}) // NODATA
			}
		}
	}
	for i := range 300 {
		if i%10 == 0 {
			runtime.GC()
		}
		for _, a := range copied {
			v := wireVariant{rd: true, do: i%2 == 0, size: 1232, spell: a.spell}
			if _, res := srv.wireHit(wireV4, wireV4Local, v.query(a.q, 1), nil); res != wireDone {
				t.Fatalf("%s/%d: result %d", a.q.Name, a.q.Qtype, res)
			}
		}
	}
	if n := srv.wire.bytes.Load(); n != 0 {
		t.Fatalf("%d octets kept for answers copied per hit", n)
	}
	for i := range 30 {
		if i%10 == 0 {
			runtime.GC()
		}
		f.clk.Set(f.start.Add(time.Duration(i) * 400 * time.Millisecond))
		for _, a := range built {
			for _, do := range []bool{false, true} {
				if do && a.q.Name == "www.nope.example.com." {
					// Its proof is the DNSSEC entry of nope's NXDOMAIN (RFC
					// 8020, nxdomainCut), which a later entry of its own
					// would replace: not kept.
					continue
				}
				v := wireVariant{rd: true, do: do, size: 1232, spell: a.spell}
				var res wireResult
				for range 3 {
					_, res = srv.wireHit(wireV4, wireV4Local, v.query(a.q, 1), nil)
				}
				if res != wireKept {
					t.Fatalf("%s/%d %+v at %d: third hit's result %d", a.q.Name, a.q.Qtype, v, i, res)
				}
			}
		}
	}
}
