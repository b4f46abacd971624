package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// The hostile hierarchy holds the shapes real authoritative servers get
// wrong or that a resolver must not trust, each under com. or net.:
//   - follow.com. (127.0.0.10) also serves target.net. and, as BIND does,
//     follows a CNAME or DNAME into it, so its NXDOMAIN for the target
//     carries target.net.'s SOA, not follow.com.'s;
//   - ent.com. (127.0.0.11) answers NXDOMAIN for its empty non-terminals;
//   - glue.com.'s delegation in com. still has glue for ns.glue.com., a
//     name the child zone no longer has;
//   - edns.com. (127.0.0.13) answers any query with an OPT record with a
//     bare FORMERR (no question, no OPT), as EDNS-intolerant servers do.
const (
	hostileRoot = `. 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400
. 518400 IN NS a.root-servers.net.
a.root-servers.net. 518400 IN A 127.0.0.2
com. 172800 IN NS a.gtld.net.
net. 172800 IN NS a.gtld.net.
a.gtld.net. 172800 IN A 127.0.0.3
`
	hostileCom = `com. 900 IN SOA a.gtld.net. hostmaster.com. 1 1800 900 604800 900
com. 172800 IN NS a.gtld.net.
follow.com. 172800 IN NS ns.follow.com.
ns.follow.com. 172800 IN A 127.0.0.10
ent.com. 172800 IN NS ns.ent.com.
ns.ent.com. 172800 IN A 127.0.0.11
glue.com. 172800 IN NS ns.glue.com.
glue.com. 172800 IN NS ns2.glue.com.
ns.glue.com. 172800 IN A 127.0.0.12
ns2.glue.com. 172800 IN A 127.0.0.12
edns.com. 172800 IN NS ns.edns.com.
ns.edns.com. 172800 IN A 127.0.0.13
`
	hostileNet = `net. 900 IN SOA a.gtld.net. hostmaster.net. 1 1800 900 604800 900
net. 172800 IN NS a.gtld.net.
a.gtld.net. 172800 IN A 127.0.0.3
target.net. 172800 IN NS ns.target.net.
ns.target.net. 172800 IN A 127.0.0.10
`
	followCom = `$TTL 3600
follow.com. IN SOA ns.follow.com. admin.follow.com. 1 7200 3600 1209600 300
follow.com. IN NS ns.follow.com.
ns IN A 127.0.0.10
cx IN CNAME gone.target.net.
old IN DNAME target.net.
`
	targetNet = `$TTL 3600
target.net. IN SOA ns.target.net. admin.target.net. 1 7200 3600 1209600 120
target.net. IN NS ns.target.net.
ns IN A 127.0.0.10
here IN A 192.0.2.10
`
	entCom = `$TTL 3600
ent.com. IN SOA ns.ent.com. admin.ent.com. 1 7200 3600 1209600 300
ent.com. IN NS ns.ent.com.
ns IN A 127.0.0.11
a.b.c IN A 192.0.2.11
`
	glueCom = `$TTL 3600
glue.com. IN SOA ns2.glue.com. admin.glue.com. 1 7200 3600 1209600 300
glue.com. IN NS ns2.glue.com.
ns2 IN A 127.0.0.12
www IN A 192.0.2.12
`
	ednsCom = `$TTL 3600
edns.com. IN SOA ns.edns.com. admin.edns.com. 1 7200 3600 1209600 300
edns.com. IN NS ns.edns.com.
ns IN A 127.0.0.13
www IN A 192.0.2.13
mail IN A 192.0.2.14
`
)

type hostileHierarchy struct {
	*hierarchy
	withEDNS atomic.Int32 // queries with EDNS that reached edns.com.'s server
}

func newHostileHierarchy(t testing.TB) *hostileHierarchy {
	t.Helper()
	hh := &hostileHierarchy{}
	zones := map[string][]*authority.Zone{
		"127.0.0.2":  {mustZone(t, hostileRoot, ".")},
		"127.0.0.3":  {mustZone(t, hostileCom, "com."), mustZone(t, hostileNet, "net.")},
		"127.0.0.10": {mustZone(t, followCom, "follow.com."), mustZone(t, targetNet, "target.net.")},
		"127.0.0.11": {mustZone(t, entCom, "ent.com.")},
		"127.0.0.12": {mustZone(t, glueCom, "glue.com.")},
		"127.0.0.13": {mustZone(t, ednsCom, "edns.com.")},
	}
	l, err := resolvertest.New(resolvertest.Config{Zones: zones, Wrap: func(addr string, zs *authority.Server) dns.Handler {
		switch addr {
		case "127.0.0.10": // follow.com.
			return resolvertest.CNAMEFollower{Server: zs}
		case "127.0.0.11": // ent.com.
			return resolvertest.ENTBreaker{Server: zs}
		case "127.0.0.13": // edns.com.
			return resolvertest.EDNSIntolerant{Server: zs, OnEDNS: func() { hh.withEDNS.Add(1) }}
		}
		return zs
	}})
	if err != nil {
		t.Fatal(err)
	}
	hh.hierarchy = &hierarchy{port: l.Port, loop: l, roots: l.Roots()}
	t.Cleanup(hh.stop)
	return hh
}

// soaOwner returns the owner of the SOA in m's authority section, or "".
func soaOwner(m *dns.Msg) string {
	for _, rr := range m.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Hdr.Name
		}
	}
	return ""
}

// RFC 2308 §2.1 and §5: a negative answer at the end of a CNAME or DNAME
// chain carries the SOA of the zone that said the target does not exist,
// cold and from the cache, also when the server of the chain's first zone
// followed it into the target's zone itself.
func TestRFC2308_NegativeAfterChainCarriesTargetZoneSOA(t *testing.T) {
	r := newResolver(t, newHostileHierarchy(t).config())
	for _, name := range []string{"cx.follow.com.", "gone.old.follow.com."} {
		for _, from := range []string{"servers", "cache"} {
			m := resolve(t, r, name, dns.TypeA)
			if m.Rcode != dns.RcodeNameError || soaOwner(m) != "target.net." || len(m.Answer) == 0 {
				t.Errorf("%s from the %s: rcode %d, SOA %q, answer %v", name, from, m.Rcode, soaOwner(m), m.Answer)
			}
		}
	}
}

// RFC 9156 §2.3: a server that answers a minimised probe for an empty
// non-terminal with NXDOMAIN does not hide the name below it; the
// resolver asks for the full name before concluding, as Unbound does.
func TestRFC9156_BrokenServerENTNXDOMAINAsksFullName(t *testing.T) {
	r := newResolver(t, newHostileHierarchy(t).config())
	for _, from := range []string{"servers", "cache"} {
		if got := answers(resolve(t, r, "a.b.c.ent.com.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.11" {
			t.Fatalf("from the %s: %v", from, got)
		}
	}
	// A name that does not exist is still NXDOMAIN, with the SOA.
	if m := resolve(t, r, "x.b.c.ent.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || soaOwner(m) != "ent.com." {
		t.Fatalf("x.b.c.ent.com.: %v", m)
	}
	// The broken NXDOMAIN for the probe was not cached: the real name
	// still resolves after it.
	if got := answers(resolve(t, r, "a.b.c.ent.com.", dns.TypeA)); len(got) != 1 {
		t.Fatalf("after the NXDOMAIN: %v", got)
	}
}

// RFC 2181 §5.4.1: data from a referral (the parent's NS set, the glue in
// its additional section) finds the child's servers but never answers a
// question; the child zone's servers are asked. Here com.'s glue for
// ns.glue.com. outlived the name in the child zone.
func TestRFC2181_ReferralDataNeverAnswers(t *testing.T) {
	r := newResolver(t, newHostileHierarchy(t).config())
	if got := answers(resolve(t, r, "www.glue.com.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.12" {
		t.Fatalf("www.glue.com.: %v", got) // the glue is cached now
	}
	for _, from := range []string{"servers", "cache"} {
		if m := resolve(t, r, "ns.glue.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 || soaOwner(m) != "glue.com." {
			t.Errorf("ns.glue.com. from the %s: glue served as an answer: %v", from, m)
		}
		m := resolve(t, r, "glue.com.", dns.TypeNS)
		if len(m.Answer) != 1 || m.Answer[0].(*dns.NS).Ns != "ns2.glue.com." {
			t.Errorf("glue.com. NS from the %s: the parent's NS set served: %v", from, m.Answer)
		}
	}
}

// RFC 6891 §7: a server that answers FORMERR without an OPT record does
// not speak EDNS. The query goes again without EDNS, and the server's
// capability is remembered, so the next query to it goes plain at once.
func TestRFC6891_FORMERRWithoutOPTRetriesWithoutEDNS(t *testing.T) {
	h := newHostileHierarchy(t)
	r := newResolver(t, h.config())
	for _, name := range []string{"www.edns.com.", "mail.edns.com.", "www.edns.com."} {
		if m := resolve(t, r, name, dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("%s: %v", name, m)
		}
	}
	if n := h.withEDNS.Load(); n != 1 {
		t.Fatalf("%d queries with EDNS reached the EDNS-intolerant server, want 1", n)
	}
}

// Close ends the resolutions in progress (as Config.Timeout does not have
// to elapse first): a question waiting on a server that never answers
// returns SERVFAIL at once.
func TestCloseEndsResolutionsInProgress(t *testing.T) {
	sink, err := net.ListenPacket("udp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	r, err := New(Config{Roots: []netip.AddrPort{netip.MustParseAddrPort(sink.LocalAddr().String())}, AllowLoopback: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *dns.Msg, 1)
	go func() {
		m, _ := r.Resolve(context.Background(), dns.Question{Name: "example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		done <- m
	}()
	sink.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := sink.ReadFrom(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	select {
	case m := <-done:
		if m == nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("after Close: %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve still waiting on the upstream after Close")
	}
}

// Cache hits share the records answered within one second (no copy per
// hit); what Resolve hands its caller is the caller's own, so changing it
// never changes what the cache answers next.
func TestCacheHitRecordsAreNotTheCallers(t *testing.T) {
	srv := serverWithCache(t, "host.example. 3600 IN A 192.0.2.1")
	r := srv.cfg.Resolver.(*Recursive)
	m := resolve(t, r, "host.example.", dns.TypeA)
	m.Answer[0].Header().Ttl = 1
	m.Answer[0].(*dns.A).A[0] = 10
	q := new(dns.Msg)
	q.SetQuestion("host.example.", dns.TypeA)
	reply := srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.UDPAddr{}, q)
	if a := reply.Answer[0].(*dns.A); a.Hdr.Ttl < 3000 || a.A.String() != "192.0.2.1" {
		t.Fatalf("a caller's change reached the cache: %v", a)
	}
}

// spoiler forwards to a Server and adds an unrelated record to every
// answer, as a poisoned or hostile upstream would.
type spoiler struct {
	next    dns.Handler
	queries *atomic.Int32
}

type captureWriter struct {
	dns.ResponseWriter
	m *dns.Msg
}

func (c *captureWriter) WriteMsg(m *dns.Msg) error { c.m = m; return nil }

func (s spoiler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	cw := &captureWriter{ResponseWriter: w}
	s.next.ServeDNS(cw, req)
	bogus, _ := dns.NewRR("bank.example. 86400 IN A 6.6.6.6")
	cw.m.Answer = append(cw.m.Answer, bogus)
	w.WriteMsg(cw.m)
}

// RFC 2181 §5.4.1 for a forwarder: records in an upstream's answer that
// are not on the chain from the question's name answer nothing, and are
// not cached to answer a later question.
func TestRFC2181_ForwarderCachesOnlyTheChain(t *testing.T) {
	h := newHierarchy(t)
	upstream := newResolver(t, h.config())
	srv, _ := NewServer(ServerConfig{Resolver: upstream})
	var queries atomic.Int32
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ds := &dns.Server{PacketConn: pc, Handler: spoiler{srv, &queries}}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	defer ds.Shutdown()
	fwd := newResolver(t, Config{Forward: []string{pc.LocalAddr().String()}, DisableDNSSEC: true}) // an unsigned private hierarchy
	m := resolve(t, fwd, "www.example.com.", dns.TypeA)
	if got := answers(m); len(got) != 3 {
		t.Fatalf("forwarded answer %v", got)
	}
	for _, rr := range m.Answer {
		if rr.Header().Name == "bank.example." {
			t.Fatalf("unrelated record passed on: %v", m.Answer)
		}
	}
	before := queries.Load()
	resolve(t, fwd, "bank.example.", dns.TypeA)
	if queries.Load() == before {
		t.Fatal("bank.example. answered from the record slipped into another answer")
	}
}
