package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// newServedResolver returns a resolver over the test hierarchy, a Server
// for it and a loopback UDP socket to serve it on (closed by the test's
// cleanup).
func newServedResolver(t *testing.T) (*Recursive, *Server, net.PacketConn) {
	t.Helper()
	r := newResolver(t, newHierarchy(t).config())
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return r, srv, pc
}

func TestServerHandlerAndACL(t *testing.T) {
	r, srv, pc := newServedResolver(t)
	ds := &dns.Server{PacketConn: pc, Handler: srv}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	defer ds.Shutdown()
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.RecursionDesired = true
	c := &dns.Client{Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(q, pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.RecursionAvailable || resp.Rcode != 0 || len(resp.Answer) != 3 || resp.Id != q.Id {
		t.Fatalf("%v", resp)
	}
	// Not on the access list: REFUSED.
	deny, _ := NewServer(ServerConfig{Resolver: r, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	m := deny.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}, &net.UDPAddr{}, q)
	if m.Rcode != dns.RcodeRefused {
		t.Fatalf("ACL: rcode %d", m.Rcode)
	}
	bad := new(dns.Msg)
	bad.Id = 7
	if m := srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &net.UDPAddr{}, bad); m.Rcode != dns.RcodeFormatError {
		t.Fatalf("no question: rcode %d", m.Rcode)
	}
}

func TestNetResolverHook(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	nr := NetResolver(r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := nr.LookupNetIP(ctx, "ip4", "www.example.com")
	if err != nil || len(addrs) != 2 {
		t.Fatalf("%v %v", addrs, err)
	}
	_, err = nr.LookupHost(ctx, "nope.example.com")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("NXDOMAIN through net.Resolver: %v", err)
	}
	got, err := r.LookupNetIP(ctx, "WWW.Example.COM")
	if err != nil || len(got) != 2 {
		t.Fatalf("LookupNetIP %v %v", got, err)
	}
	if _, err := r.LookupNetIP(ctx, "bad..name"); err == nil {
		t.Fatal("invalid name accepted")
	}
	cn, err := r.LookupCNAME(ctx, "www.example.com")
	if err != nil || cn != "cdn.example.net." {
		t.Fatalf("CNAME %q %v", cn, err)
	}
}

// TestServeUDP serves a Resolver with Server.ServeUDP: a question that
// needs resolving (handed to a goroutine), the same one again from the
// cache (answered inline), a malformed query (FORMERR), a response (never
// answered), and a clean stop when ctx ends.
func TestServeUDP(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) { testServeUDP(t, batched) })
	}
}

// packetConn hides a *net.UDPConn, so ServeUDP reads one datagram at a time.
type packetConn struct{ net.PacketConn }

func testServeUDP(t *testing.T, batched bool) {
	r, srv, pc := newServedResolver(t)
	served := pc
	if !batched {
		served = packetConn{pc}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(ctx, served) }()
	addr := pc.LocalAddr().String()
	c := &dns.Client{Timeout: 5 * time.Second}
	for i, want := range []string{"resolved", "cached"} {
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		q.RecursionDesired = true
		resp, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if resp.Id != q.Id || !resp.Response || resp.Rcode != 0 || len(resp.Answer) != 3 {
			t.Fatalf("%s (%d): %v", want, i, resp)
		}
	}
	if st := r.Stats(); st.CacheHits < 1 {
		t.Fatalf("second question not a cache hit: %+v", st)
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	send := func(m *dns.Msg) {
		t.Helper()
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(b)
	}
	buf := make([]byte, 512)
	recv := func() *dns.Msg {
		t.Helper()
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// RFC 1035 §4.1.1: a header whose counts promise a question that is
	// not there does not parse; the reply is FORMERR with the same ID.
	conn.Write([]byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff})
	if m := recv(); m.Id != 0xbeef || m.Rcode != dns.RcodeFormatError || !m.Response {
		t.Fatalf("malformed query: %v", m)
	}
	// A response is dropped: the next thing read is the answer to the
	// query sent after it.
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.com.", dns.TypeA)
	resp.Response = true
	resp.Id = 1
	send(resp)
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.Id = 2
	send(q)
	if m := recv(); m.Id != 2 {
		t.Fatalf("after a response: got %v, want the reply to ID 2", m)
	}
	// RFC 1035 §4.1.1: an opcode the server does not implement is
	// answered NOTIMP (as miekg/dns's dns.Server does before the handler).
	notify := new(dns.Msg)
	notify.SetNotify("example.com.")
	notify.Id = 3
	send(notify)
	if m := recv(); m.Id != 3 || m.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("NOTIFY: got %v, want NOTIMP", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeUDP after ctx ended: %v", err)
	}
}

// fixedResolver answers every question at once with one A record.
type fixedResolver struct{}

func (fixedResolver) Resolve(_ context.Context, q dns.Question) (*dns.Msg, error) {
	m := new(dns.Msg)
	rr, err := dns.NewRR(q.Name + " 60 IN A 192.0.2.1")
	if err == nil {
		m.Answer = append(m.Answer, rr)
	}
	return m, nil
}

// FuzzReplyTo feeds arbitrary datagrams to ServeUDP's per-packet step: it
// never panics, drops what is not a query, and any reply it builds parses,
// is a response, carries the query's ID and RD bit, never AD, fits the UDP
// size asked for, and when truncated carries no records.
func FuzzReplyTo(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	b, _ := q.Pack()
	f.Add(b)
	q.SetEdns0(4096, true)
	b, _ = q.Pack()
	f.Add(b)
	f.Add([]byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff})
	srv, err := NewServer(ServerConfig{Resolver: fixedResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer pc.Close()
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} // discard: nothing listens
	f.Fuzz(func(t *testing.T, data []byte) {
		var wg sync.WaitGroup
		reply := srv.replyTo(data, client, pc.LocalAddr(), pc, &wg, nil)
		wg.Wait() // a question handed to a goroutine is answered there
		if reply == nil {
			return
		}
		if len(data) < 12 || data[2]&0x80 != 0 {
			t.Fatalf("replied to a runt or a response: %x", data)
		}
		m := new(dns.Msg)
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if !m.Response || m.Id != uint16(data[0])<<8|uint16(data[1]) {
			t.Fatalf("reply %v does not answer ID %x", m, data[:2])
		}
		// RFC 1035 §4.1.1: RD copied; RFC 2181 §9: no partial RRset.
		if m.RecursionDesired != (data[2]&1 != 0) || m.AuthenticatedData {
			t.Fatalf("reply %v: RD not copied, or AD set", m)
		}
		if m.Truncated && (len(m.Answer) > 0 || len(m.Ns) > 0) {
			t.Fatalf("truncated reply with records: %v", m)
		}
		// RFC 6891 §7 / RFC 1035 §4.2.1: no larger than the client can take.
		if req := new(dns.Msg); req.Unpack(data) == nil {
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = max(int(opt.UDPSize()), dns.MinMsgSize)
			}
			if len(reply) > size {
				t.Fatalf("reply of %d bytes to a client that takes %d", len(reply), size)
			}
		}
	})
}

// What both servers answer before looking anything up: NOTIMP for other
// opcodes (RFC 1035 §4.1.1), FORMERR for a second OPT (RFC 6891 §6.1.1)
// and for meta-type questions, BADVERS for EDNS versions above 0 (RFC
// 6891 §6.1.3), REFUSED for zone transfers and classes other than IN.
func TestRFC6891_QueryVetting(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: fixedResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	query := func(mod func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("cdn.example.net.", dns.TypeA)
		mod(m)
		return m
	}
	cases := []struct {
		name  string
		mod   func(*dns.Msg)
		rcode int
	}{
		{"plain", func(m *dns.Msg) {}, dns.RcodeSuccess},
		{"EDNS 0", func(m *dns.Msg) { m.SetEdns0(1232, true) }, dns.RcodeSuccess},
		{"opcode STATUS", func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }, dns.RcodeNotImplemented},
		{"two OPT", func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) }, dns.RcodeFormatError},
		{"EDNS 1", func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }, dns.RcodeBadVers},
		{"qtype OPT", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }, dns.RcodeFormatError},
		{"qtype TSIG", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeTSIG }, dns.RcodeFormatError},
		{"qtype 200", func(m *dns.Msg) { m.Question[0].Qtype = 200 }, dns.RcodeFormatError},
		{"AXFR", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }, dns.RcodeRefused},
		{"IXFR", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeIXFR }, dns.RcodeRefused},
		{"class CH", func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, dns.RcodeRefused},
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}
	for _, c := range cases {
		for name, answer := range map[string]func(*dns.Msg) *dns.Msg{
			"Server": func(q *dns.Msg) *dns.Msg { return srv.answer(from, &net.UDPAddr{}, q) },
		} {
			q := query(c.mod)
			m := answer(q)
			if m.Rcode != c.rcode || m.Id != q.Id || !m.Response {
				t.Errorf("%s, %s: rcode %s, want %s", name, c.name, dns.RcodeToString[m.Rcode], dns.RcodeToString[c.rcode])
			}
			if c.rcode == dns.RcodeBadVers {
				if opt := m.IsEdns0(); opt == nil || opt.Version() != 0 {
					t.Errorf("%s: BADVERS without an OPT of version 0: %v", name, m)
				}
			}
		}
	}
}

// serverWithCache returns a Server over a resolver with no roots whose
// cache holds records (one RRset each), as if resolved.
func serverWithCache(t *testing.T, records ...string) *Server {
	t.Helper()
	r := newResolver(t, Config{Roots: []netip.AddrPort{}})
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatal(err)
		}
		r.putRRset([]dns.RR{rr}, rankAnswer)
	}
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// RFC 1034 §4.3.1: without RD the server does not recurse; local data is
// still answered. RFC 6303 §2.2 and RFC 2308 §3: the special-use zones are
// answered authoritatively, negative answers with the zone's SOA.
func TestRFC1034_NoRecursionAndLocalZones(t *testing.T) {
	srv := serverWithCache(t, "www.example.com. 3600 IN A 192.0.2.1")
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}
	ask := func(name string, qtype uint16, rd bool) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.RecursionDesired = rd
		return srv.answer(from, &net.UDPAddr{}, q)
	}
	// Cached, but not given without RD (no cache snooping); given with RD.
	if m := ask("www.example.com.", dns.TypeA, false); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
		t.Errorf("RD=0, cached name: %v", m)
	}
	if m := ask("www.example.com.", dns.TypeA, true); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Authoritative {
		t.Errorf("RD=1, cached name: %v", m)
	}
	for _, rd := range []bool{false, true} {
		m := ask("LocalHost.", dns.TypeA, rd)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || !m.Authoritative {
			t.Errorf("localhost A, RD=%v: %v", rd, m)
		}
		m = ask("localhost.", dns.TypeMX, rd)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("localhost MX (NODATA), RD=%v: %v", rd, m)
		}
		m = ask("foo.test.", dns.TypeA, rd)
		if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Name != "test." || !m.Authoritative {
			t.Errorf("foo.test., RD=%v: %v", rd, m)
		}
		if soa, ok := m.Ns[0].(*dns.SOA); !ok || soa.Minttl != 10800 || soa.Hdr.Ttl != 10800 {
			t.Errorf("foo.test. SOA: %v", m.Ns[0])
		}
	}
}

// RFC 4343 §3: the answer's records for the query name carry the client's
// spelling of it (as Unbound's do); the cache keeps its own.
func TestAnswerSpelledAsAsked(t *testing.T) {
	srv := serverWithCache(t, "www.example.com. 3600 IN CNAME cdn.example.net.", "cdn.example.net. 3600 IN A 192.0.2.1")
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5}
	for _, asked := range []string{"WwW.ExAmPlE.CoM.", "www.example.com."} {
		q := new(dns.Msg)
		q.SetQuestion(asked, dns.TypeA)
		m := srv.answer(from, &net.UDPAddr{}, q)
		if len(m.Answer) != 2 || m.Question[0].Name != asked || m.Answer[0].Header().Name != asked || m.Answer[1].Header().Name != "cdn.example.net." {
			t.Fatalf("asked %s: %v", asked, m)
		}
	}
}
