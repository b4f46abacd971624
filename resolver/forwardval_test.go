package resolver

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// Validation of forwarded answers (forwardval.go): a signed hierarchy
// (resolvertest.NewSigned) resolved by a validating edgekit resolver on
// loopback, the upstream; between it and the forwarder under test, a
// liar that may edit what the upstream says (a forwarder that forges,
// strips or speaks no EDNS: the normal case for a hostile upstream).

// liar serves what h answers, edited by edit, and records the queries.
type liar struct {
	h    dns.Handler
	edit func(req, m *dns.Msg) // nil: pass the answer unchanged
	mu   sync.Mutex
	seen []*dns.Msg
}

func (l *liar) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	l.mu.Lock()
	l.seen = append(l.seen, req.Copy())
	l.mu.Unlock()
	l.h.ServeDNS(editWriter{w, req, l.edit}, req)
}

func (l *liar) queries() []*dns.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*dns.Msg(nil), l.seen...)
}

type editWriter struct {
	dns.ResponseWriter
	req  *dns.Msg
	edit func(req, m *dns.Msg)
}

func (w editWriter) WriteMsg(m *dns.Msg) error {
	if w.edit != nil {
		w.edit(w.req, m)
	}
	return w.ResponseWriter.WriteMsg(m)
}

// Write edits a packed reply too (Server writes cache hits packed).
func (w editWriter) Write(b []byte) (int, error) {
	if w.edit == nil {
		return w.ResponseWriter.Write(b)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	return len(b), w.WriteMsg(m)
}

// serveHandler serves h on a UDP port of 127.0.0.1 (and TCP on the same
// port when it is free) until the test ends, and returns the address.
func serveHandler(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	servers := []*dns.Server{{PacketConn: pc, Handler: h}}
	if ln, err := net.Listen("tcp", pc.LocalAddr().String()); err == nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: h})
	}
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// forwardRig is a signed hierarchy behind a validating upstream resolver.
type forwardRig struct {
	anchors  []dns.RR
	upstream *Server // validating, honest
}

func newForwardRig(t testing.TB, kids ...signedKid) *forwardRig {
	t.Helper()
	var zones []resolvertest.SignedZoneFile
	for _, k := range kids {
		text := strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns.@ 300 IN A "+k.addr+"\n", "@", k.origin) + k.text
		zf := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: k.addr, Origin: k.origin, Text: text}, Signing: k.s, Unsigned: k.unsigned, NoDS: k.noDS}
		if k.tamper {
			zf.Wrap = func(h dns.Handler) dns.Handler { return tamperer{h} }
		}
		zones = append(zones, zf)
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: zones})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	up := newResolver(t, Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, Timeout: 2 * time.Second})
	srv, err := NewServer(ServerConfig{Resolver: up})
	if err != nil {
		t.Fatal(err)
	}
	return &forwardRig{anchors: anchors, upstream: srv}
}

// forwarder returns a liar over the rig's upstream with edit, and a
// validating forwarder to it (cfg's Forward and TrustAnchors set here)
// with a Server over it.
func (rig *forwardRig) forwarder(t testing.TB, edit func(req, m *dns.Msg), cfg Config) (*liar, *Recursive, *Server) {
	t.Helper()
	l := &liar{h: rig.upstream, edit: edit}
	cfg.Forward = append([]string{serveHandler(t, l)}, cfg.Forward...)
	cfg.TrustAnchors = rig.anchors
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	r := newResolver(t, cfg)
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	return l, r, srv
}

func fwdKids() []signedKid {
	return []signedKid{
		{origin: "example.com.", addr: "127.0.0.4", text: kidText + "*.wild 300 IN A 192.0.2.9\n"},
		{origin: "plain.com.", addr: "127.0.0.5", text: kidText, unsigned: true},
		{origin: "n3.com.", addr: "127.0.0.6", text: kidText, s: resolvertest.Signing{NSEC3: true, Algorithm: dns.ED25519}},
		{origin: "forged.com.", addr: "127.0.0.7", text: kidText, tamper: true},
	}
}

// TestRFC4035_4_ForwardedAnswersValidated: through a forwarder, a secure
// answer carries AD for DO clients, fresh and cached, with its RRSIG
// (RFC 4035 §3.2.1, RFC 6840 §5.8); NXDOMAIN proven by NSEC (§5.4) or
// NSEC3 (RFC 5155 §8.4) carries AD and its proof, as do NODATA and a
// wildcard expansion (§5.3.4); an unsigned delegation
// proven insecure (§5.2) and a secure CNAME into it carry no AD.
func TestRFC4035_4_ForwardedAnswersValidated(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	_, r, srv := rig.forwarder(t, nil, Config{})
	if !r.validating() {
		t.Fatal("a forwarder with a trust anchor does not validate")
	}
	for i := range 2 { // fresh, then cached
		m := ask(srv, "www.example.com.", dns.TypeA, true, false)
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || count(m.Answer, dns.TypeRRSIG) != 1 {
			t.Fatalf("round %d: secure forwarded answer without AD and its RRSIG:\n%v", i, m)
		}
	}
	if m := ask(srv, "www.example.com.", dns.TypeA, false, false); m.AuthenticatedData || len(m.Answer) != 1 {
		t.Fatalf("a client without DO got AD or RRSIGs:\n%v", m)
	}
	for _, c := range []struct {
		name string
		t    uint16
	}{{"nope.example.com.", dns.TypeNSEC}, {"nope.n3.com.", dns.TypeNSEC3}} {
		for i := range 2 {
			m := ask(srv, c.name, dns.TypeA, true, false)
			if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || count(m.Ns, c.t) == 0 || count(m.Ns, dns.TypeRRSIG) == 0 {
				t.Fatalf("%s round %d: secure forwarded NXDOMAIN with its proof:\n%v", c.name, i, m)
			}
		}
	}
	for _, name := range []string{"www.example.com.", "www.n3.com."} {
		if m := ask(srv, name, dns.TypeAAAA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || len(m.Answer) != 0 {
			t.Fatalf("secure forwarded NODATA (§5.4, RFC 5155 §8.5):\n%v", m)
		}
	}
	// A wildcard expansion with its proof that the name does not exist
	// (§5.3.4), which the upstream passes in the authority section.
	if m := ask(srv, "x.wild.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || count(m.Ns, dns.TypeNSEC) == 0 {
		t.Fatalf("secure forwarded wildcard answer:\n%v", m)
	}
	if m := ask(srv, "www.plain.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("insecure delegation through a forwarder:\n%v", m)
	}
	if m := ask(srv, "alias.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || count(m.Answer, dns.TypeCNAME) != 1 || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("secure -> insecure CNAME chain through a forwarder:\n%v", m)
	}
}

// TestForwardQueryBitsAsUnbound: with validation on, every query to the
// upstream carries DO (RFC 3225, RFC 4035 §4.9.1); a client's question
// goes first without CD, the validator's DS and DNSKEY questions with CD,
// as Unbound sends them (iterator.c sends CD to a forwarder only on a
// retry; validator.c asks for keys with BIT_CD).
func TestForwardQueryBitsAsUnbound(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	l, _, srv := rig.forwarder(t, nil, Config{})
	if m := ask(srv, "www.example.com.", dns.TypeA, true, false); !m.AuthenticatedData {
		t.Fatalf("no AD:\n%v", m)
	}
	keys := 0
	for _, q := range l.queries() {
		opt := q.IsEdns0()
		if opt == nil || !opt.Do() {
			t.Fatalf("query without DO:\n%v", q)
		}
		switch q.Question[0].Qtype {
		case dns.TypeA:
			if q.CheckingDisabled {
				t.Fatalf("client question sent with CD on its first attempt:\n%v", q)
			}
		case dns.TypeDS, dns.TypeDNSKEY:
			keys++
			if !q.CheckingDisabled {
				t.Fatalf("validator's question sent without CD:\n%v", q)
			}
		}
	}
	if keys == 0 {
		t.Fatal("no DS or DNSKEY asked of the forwarder: the chain was not built")
	}
}

// rrsigless drops every RRSIG.
func rrsigless(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeRRSIG {
			out = append(out, rr)
		}
	}
	return out
}

// TestRFC4035_5_HostileForwarderIsBogus: whatever a forwarder does to
// the data of a signed zone, the answer is SERVFAIL with an Extended DNS
// Error (RFC 8914), never AD: a forged address (§5.3.3), RRSIGs stripped
// (§5.3.1, §4.3), a DNSKEY RRset that matches no DS (§5.2), a DS denied
// without proof (a downgrade to insecure, §5.2), data without EDNS (no
// DNSSEC records at all), a forged NXDOMAIN without proof (§5.4). A zone
// whose own server forges is bogus too: the validating upstream's
// SERVFAIL is asked again with CD and the data validated here. The
// verdict is kept for the bogus TTL (60 s) and not asked again before.
func TestRFC4035_5_HostileForwarderIsBogus(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	otherKey, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	forAnswer := func(f func(m *dns.Msg)) func(req, m *dns.Msg) {
		return func(req, m *dns.Msg) {
			if req.Question[0].Qtype == dns.TypeA {
				f(m)
			}
		}
	}
	for _, c := range []struct {
		name  string
		qname string
		ede   uint16
		edit  func(req, m *dns.Msg)
	}{
		{"forged address", "www.example.com.", dns.ExtendedErrorCodeDNSBogus, forAnswer(func(m *dns.Msg) {
			for _, rr := range m.Answer {
				if a, ok := rr.(*dns.A); ok {
					a.A = net.IPv4(203, 0, 113, 66)
				}
			}
		})},
		{"RRSIGs stripped", "www.example.com.", dns.ExtendedErrorCodeRRSIGsMissing, func(req, m *dns.Msg) {
			m.Answer, m.Ns = rrsigless(m.Answer), rrsigless(m.Ns)
		}},
		{"DNSKEY replaced", "www.example.com.", dns.ExtendedErrorCodeDNSKEYMissing, func(req, m *dns.Msg) {
			if req.Question[0].Qtype == dns.TypeDNSKEY && req.Question[0].Name == "example.com." {
				m.Answer = []dns.RR{otherKey.DNSKEY}
			}
		}},
		{"DS denied without proof", "www.example.com.", dns.ExtendedErrorCodeRRSIGsMissing, func(req, m *dns.Msg) {
			if req.Question[0].Qtype == dns.TypeDS && req.Question[0].Name == "example.com." {
				m.Answer, m.Ns = nil, nil
				m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "com.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300}, Ns: "ns.com.", Mbox: "h.com.", Serial: 1, Minttl: 300})
			}
		}},
		{"no EDNS", "www.example.com.", dns.ExtendedErrorCodeRRSIGsMissing, func(req, m *dns.Msg) {
			var extra []dns.RR
			for _, rr := range m.Extra {
				if rr.Header().Rrtype != dns.TypeOPT {
					extra = append(extra, rr)
				}
			}
			m.Answer, m.Ns, m.Extra = rrsigless(m.Answer), rrsigless(m.Ns), extra
			m.AuthenticatedData = true // and it claims AD
		}},
		{"forged NXDOMAIN", "www.example.com.", dns.ExtendedErrorCodeNSECMissing, forAnswer(func(m *dns.Msg) {
			m.Rcode, m.Answer = dns.RcodeNameError, nil
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300}, Ns: "ns.example.com.", Mbox: "h.example.com.", Serial: 1, Minttl: 300}}
		})},
		{"zone server forges", "www.forged.com.", dns.ExtendedErrorCodeDNSBogus, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var offset atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			l, _, srv := rig.forwarder(t, c.edit, Config{Now: now})
			m := ask(srv, c.qname, dns.TypeA, true, false)
			ede := edeOf(m)
			if m.Rcode != dns.RcodeServerFailure || m.AuthenticatedData || len(m.Answer) != 0 || ede == nil || ede.InfoCode != c.ede {
				t.Fatalf("want SERVFAIL with EDE %d:\n%v", c.ede, m)
			}
			asked := len(l.queries())
			m = ask(srv, c.qname, dns.TypeA, true, false)
			if ede := edeOf(m); m.Rcode != dns.RcodeServerFailure || ede == nil || ede.InfoCode != c.ede || len(l.queries()) != asked {
				t.Fatalf("within the bogus TTL: %d more queries upstream:\n%v", len(l.queries())-asked, m)
			}
			offset.Store(int64(bogusTTL + time.Second))
			if m := ask(srv, c.qname, dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure || len(l.queries()) == asked {
				t.Fatalf("after the bogus TTL: upstream not asked again, or:\n%v", m)
			}
		})
	}
}

// TestRFC4035_3_2_2_ForwardedCheckingDisabled: a client that sets CD and
// DO gets a forwarder's forged data, unvalidated and without AD, with its
// RRSIG (to validate it itself), its query sent upstream with CD; the
// data is not cached for validating clients.
func TestRFC4035_3_2_2_ForwardedCheckingDisabled(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	l, _, srv := rig.forwarder(t, nil, Config{})
	m := ask(srv, "www.forged.com.", dns.TypeA, true, true)
	if m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || len(answers(m)) != 1 || answers(m)[0] != "203.0.113.66" || count(m.Answer, dns.TypeRRSIG) != 1 {
		t.Fatalf("CD: want the unvalidated data with its RRSIG (RFC 4035 §3.2.1):\n%v", m)
	}
	last := l.queries()[len(l.queries())-1]
	if !last.CheckingDisabled || last.Question[0].Name != "www.forged.com." {
		t.Fatalf("CD query sent upstream without CD:\n%v", last)
	}
	if m := ask(srv, "www.forged.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after CD, a validating query got:\n%v", m)
	}
}

// TestForwardValidationRestart: when the first forwarder forges, the
// next one is asked (with CD) and its secure answer given with AD, as
// Unbound restarts validation with another server (val-max-restart).
func TestForwardValidationRestart(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	honest := serveHandler(t, rig.upstream)
	l, _, srv := rig.forwarder(t, func(req, m *dns.Msg) {
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				a.A = net.IPv4(203, 0, 113, 66)
			}
		}
	}, Config{Forward: []string{honest}})
	m := ask(srv, "www.example.com.", dns.TypeA, true, false)
	if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || answers(m)[0] != "192.0.2.1" {
		t.Fatalf("want the honest forwarder's secure answer:\n%v", m)
	}
	if len(l.queries()) == 0 {
		t.Fatal("the lying forwarder was not asked first")
	}
}

// TestRFC7646_ForwardedInsecureDomain: a private unsigned name that a
// forwarder serves below a signed zone is bogus, unless it is listed in
// InsecureDomains (Unbound's domain-insecure, a negative trust anchor):
// then it is answered without AD, and the signed zone's other names
// still validate.
func TestRFC7646_ForwardedInsecureDomain(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	private := func(req, m *dns.Msg) {
		if q := req.Question[0]; strings.HasSuffix(q.Name, "intranet.example.com.") && q.Qtype == dns.TypeA {
			m.Rcode, m.Ns = dns.RcodeSuccess, nil
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(10, 0, 0, 1)}}
		}
	}
	_, _, strict := rig.forwarder(t, private, Config{})
	if m := ask(strict, "db.intranet.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("an unsigned name in a signed zone was not bogus:\n%v", m)
	}
	_, _, srv := rig.forwarder(t, private, Config{InsecureDomains: []string{"Intranet.Example.COM"}})
	if m := ask(srv, "db.intranet.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || len(answers(m)) != 1 {
		t.Fatalf("InsecureDomains: want the private answer without AD:\n%v", m)
	}
	if m := ask(srv, "www.example.com.", dns.TypeA, true, false); !m.AuthenticatedData {
		t.Fatalf("a sibling of the insecure domain lost AD:\n%v", m)
	}
	if _, err := New(Config{InsecureDomains: []string{"bad..name"}}); err == nil {
		t.Fatal("a bad insecure domain was accepted")
	}
}

// TestForwardValidationRestartRefetchesKeys: when the forwarder asked
// first forges a zone's DNSKEY RRset, the restart asks the other
// forwarder for the answer and the keys again (Unbound blacklists the
// server and fetches again), rather than keeping the lie's bogus verdict.
func TestForwardValidationRestartRefetchesKeys(t *testing.T) {
	rig := newForwardRig(t, fwdKids()...)
	honest := serveHandler(t, rig.upstream)
	otherKey, err := resolvertest.NewKey("example.com.", dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	l, r, srv := rig.forwarder(t, func(req, m *dns.Msg) {
		if req.Question[0].Qtype == dns.TypeDNSKEY && req.Question[0].Name == "example.com." {
			m.Answer = []dns.RR{otherKey.DNSKEY}
		}
	}, Config{Forward: []string{honest}})
	// The honest forwarder looks slow: the liar is asked first, for the
	// keys too.
	r.observe(netip.MustParseAddrPort(honest), 500*time.Millisecond, false)
	m := ask(srv, "www.example.com.", dns.TypeA, true, false)
	if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
		t.Fatalf("want the secure answer through the honest forwarder:\n%v", m)
	}
	lied := false
	for _, q := range l.queries() {
		lied = lied || q.Question[0].Qtype == dns.TypeDNSKEY && q.Question[0].Name == "example.com."
	}
	if !lied {
		t.Fatal("the liar was not asked for the keys: the test proves nothing")
	}
}

// FuzzForwardedChain: whatever an upstream answers, picking the chain
// and the records to validate does not panic, keeps every chain record
// for the validator, and gives it only RRSIGs over the chain's RRsets.
func FuzzForwardedChain(f *testing.F) {
	seed := new(dns.Msg)
	seed.SetQuestion("alias.example.com.", dns.TypeA)
	seed.Response = true
	for _, s := range []string{
		"alias.example.com. 300 IN CNAME www.example.com.",
		"www.example.com. 300 IN A 192.0.2.1",
		"www.example.com. 300 IN RRSIG A 13 3 300 20270101000000 20260101000000 1 example.com. AAAA",
		"bank.example. 300 IN A 192.0.2.66",
		"bank.example. 300 IN RRSIG A 13 2 300 20270101000000 20260101000000 1 example. AAAA",
		"example.com. 300 IN DNAME example.net.",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		seed.Answer = append(seed.Answer, rr)
	}
	nsec, _ := dns.NewRR("a.example.com. 300 IN NSEC z.example.com. A RRSIG NSEC")
	seed.Ns = append(seed.Ns, nsec)
	wire, err := seed.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wire)
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := new(dns.Msg)
		if resp.Unpack(b) != nil || len(resp.Question) != 1 {
			return
		}
		q := resp.Question[0]
		q.Name = dns.CanonicalName(q.Name)
		out, _, _, vmsg := forwardedChain(q, resp, 12)
		for _, rr := range out.Answer {
			if !containsRR(vmsg.Answer, rr) {
				t.Fatalf("chain record %v not given to the validator", rr)
			}
		}
		for _, rr := range vmsg.Answer {
			if sig, ok := rr.(*dns.RRSIG); ok && !covers(out.Answer, sig) {
				t.Fatalf("RRSIG %v over no chain RRset", sig)
			}
		}
	})
}
