package resolver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newResolver(t testing.TB, cfg Config) *Recursive {
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func resolve(t testing.TB, r *Recursive, name string, qtype uint16) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.Resolve(ctx, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return m
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+v.Target)
		case *dns.MX:
			out = append(out, "MX "+v.Mx)
		case *dns.TXT:
			out = append(out, "TXT")
		}
	}
	return out
}

func TestRFC1034_IterativeResolutionWithGlue(t *testing.T) {
	h := newHierarchy(t)
	var steps []Step
	cfg := h.config()
	cfg.Trace = func(s Step) { steps = append(steps, s) }
	r := newResolver(t, cfg)
	m := resolve(t, r, "mx.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || strings.Join(answers(m), ",") != "192.0.2.25" {
		t.Fatalf("%v", m)
	}
	// root -> com -> example.com: three zones asked.
	zones := map[string]bool{}
	for _, s := range steps {
		zones[s.Zone] = true
	}
	if !zones["."] || !zones["com."] || !zones["example.com."] {
		t.Fatalf("referral path %v", zones)
	}
}

func TestRFC1034_CNAMEChainAcrossZones(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	m := resolve(t, r, "www.example.com.", dns.TypeA)
	got := answers(m)
	if m.Rcode != 0 || len(got) != 3 || got[0] != "CNAME cdn.example.net." {
		t.Fatalf("%v", got)
	}
}

// RFC 1034 §4.3.2 step 3a: the server puts the in-zone target's records
// after the CNAME; the resolver must not chase the target again and repeat
// them.
func TestRFC1034_CNAMEChainInsideOneZone(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	for i := 0; i < 2; i++ { // resolved, then from the cache
		m := resolve(t, r, "alias.example.com.", dns.TypeA)
		if got := strings.Join(answers(m), ","); m.Rcode != 0 || got != "CNAME mx.example.com.,192.0.2.25" {
			t.Fatalf("pass %d: %s", i, got)
		}
	}
}

func TestRFC2308_NXDOMAINAndNODATAWithSOA(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	m := resolve(t, r, "nope.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Fatalf("NXDOMAIN: %v", m)
	}
	if soa := m.Ns[0].(*dns.SOA); soa.Hdr.Ttl != 300 {
		t.Fatalf("negative TTL %d, want min(SOA TTL, MINIMUM) = 300", soa.Hdr.Ttl)
	}
	m = resolve(t, r, "mx.example.com.", dns.TypeAAAA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Fatalf("NODATA: %v", m)
	}
	m = resolve(t, r, "dangling.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || len(m.Answer) != 1 {
		t.Fatalf("CNAME to NXDOMAIN: %v", m)
	}
	// RFC 8020: nothing exists below an NXDOMAIN, answered from cache.
	before := r.Stats().Upstream
	m = resolve(t, r, "below.nope.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || r.Stats().Upstream != before {
		t.Fatalf("RFC 8020: rcode %d, %d upstream queries", m.Rcode, r.Stats().Upstream-before)
	}
}

func TestMXAAAAWildcardDeepAndTCP(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	if got := answers(resolve(t, r, "mail.example.com.", dns.TypeMX)); len(got) != 1 || got[0] != "MX mx.example.com." {
		t.Fatalf("MX %v", got)
	}
	if got := answers(resolve(t, r, "v6.example.com.", dns.TypeAAAA)); len(got) != 1 || got[0] != "2001:db8::6" {
		t.Fatalf("AAAA %v", got)
	}
	if got := answers(resolve(t, r, "anything.wild.example.com.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.7" {
		t.Fatalf("wildcard %v", got)
	}
	if got := answers(resolve(t, r, "a.b.c.d.e.deep.example.com.", dns.TypeA)); len(got) != 1 {
		t.Fatalf("deep name %v", got)
	}
	m := resolve(t, r, "big.example.com.", dns.TypeTXT)
	if len(m.Answer) != 20 {
		t.Fatalf("answer over 512 bytes (needs TCP): %d records", len(m.Answer))
	}
}

// site.org is delegated glueless (ns1.example.com, resolved on the way),
// and its own NS set differs from the parent's (it adds ns9.site.org, which
// does not answer): a parent/child NS mismatch must not break resolution.
func TestGluelessDelegation(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	if got := answers(resolve(t, r, "site.org.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.80" {
		t.Fatalf("%v", got)
	}
}

func TestUnreachableServerAmongSeveral(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	// ns2.example.com (127.0.0.5) never answers; every name must still
	// resolve, and the dead server sinks in the RTT order.
	for _, n := range []string{"mx.example.com.", "v6.example.com.", "mail.example.com."} {
		if m := resolve(t, r, n, dns.TypeA); m.Rcode == dns.RcodeServerFailure {
			t.Fatalf("%s: SERVFAIL", n)
		}
	}
}

func TestRFC5452_OutOfBailiwickDataIgnored(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	if got := answers(resolve(t, r, "evil.com.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.66" {
		t.Fatalf("evil.com %v", got)
	}
	got := answers(resolve(t, r, "www.example.com.", dns.TypeA))
	for _, a := range got {
		if a == "6.6.6.6" {
			t.Fatalf("poisoned record accepted: %v", got)
		}
	}
}

func TestCNAMELoopIsSERVFAILInBoundedTime(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	start := time.Now()
	if m := resolve(t, r, "loop1.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %d", m.Rcode)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("loop took too long")
	}
}

func TestAllServersLameIsSERVFAIL(t *testing.T) {
	h := newHierarchy(t)
	cfg := h.config()
	cfg.Roots = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.5:" + strconv.Itoa(h.port))} // nobody home
	r := newResolver(t, cfg)
	start := time.Now()
	if m := resolve(t, r, "example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %d", m.Rcode)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("took too long")
	}
}

func TestLoopbackNameServersRefusedByDefault(t *testing.T) {
	h := newHierarchy(t)
	cfg := h.config()
	cfg.AllowLoopback = false
	r := newResolver(t, cfg)
	if m := resolve(t, r, "mx.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("loopback name servers used without AllowLoopback: %v", m)
	}
}

// clockedResolver returns the loopback hierarchy and a resolver over it
// that reads time from the returned fake clock.
func clockedResolver(t *testing.T) (*hierarchy, *clock.Fake, *Recursive) {
	t.Helper()
	h := newHierarchy(t)
	fc := clock.NewFake(time.Time{})
	cfg := h.config()
	cfg.Now = fc.Now
	return h, fc, newResolver(t, cfg)
}

func TestCacheTTLNegativeAndServeStale(t *testing.T) {
	h, fc, r := clockedResolver(t)
	resolve(t, r, "cdn.example.net.", dns.TypeA)
	up := r.Stats().Upstream
	fc.Advance(100 * time.Second)
	m := resolve(t, r, "cdn.example.net.", dns.TypeA)
	if r.Stats().Upstream != up || m.Answer[0].Header().Ttl != 200 {
		t.Fatalf("cache hit: %d new queries, TTL %d (want 300-100)", r.Stats().Upstream-up, m.Answer[0].Header().Ttl)
	}
	resolve(t, r, "gone.example.net.", dns.TypeA)
	up = r.Stats().Upstream
	if m := resolve(t, r, "gone.example.net.", dns.TypeA); m.Rcode != dns.RcodeNameError || r.Stats().Upstream != up {
		t.Fatal("negative answer not cached")
	}
	// Expire, stop every server: serve-stale answers with TTL 30 (RFC 8767).
	h.stop()
	fc.Advance(10 * time.Minute)
	m = resolve(t, r, "cdn.example.net.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2 || m.Answer[0].Header().Ttl != 30 {
		t.Fatalf("serve-stale: %v", m)
	}
	if r.Stats().StaleServed != 1 {
		t.Fatalf("stats %+v", r.Stats())
	}
	// Flush removes the stale answer and the memory of the failed
	// refresh (RFC 9520), so the next question is resolved afresh.
	if n := r.Flush("cdn.example.net"); n != 2 {
		t.Fatalf("Flush removed %d", n)
	}
}

func TestTTLClamp(t *testing.T) {
	h := newHierarchy(t)
	fc := clock.NewFake(time.Time{})
	cfg := h.config()
	cfg.Now, cfg.MaxTTL = fc.Now, 60*time.Second
	r := newResolver(t, cfg)
	resolve(t, r, "mx.example.com.", dns.TypeA) // TTL 3600 in the zone
	up := r.Stats().Upstream
	fc.Advance(61 * time.Second)
	resolve(t, r, "mx.example.com.", dns.TypeA)
	if r.Stats().Upstream == up {
		t.Fatal("MaxTTL did not clamp the cached TTL")
	}
}

func TestRFC6761SpecialNamesAndHosts(t *testing.T) {
	r := newResolver(t, Config{Roots: []netip.AddrPort{}, Hosts: map[string][]netip.Addr{"intranet": {netip.MustParseAddr("10.1.2.3")}}})
	if got := answers(resolve(t, r, "localhost.", dns.TypeA)); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("localhost %v", got)
	}
	if m := resolve(t, r, "foo.invalid.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("invalid. rcode %d", m.Rcode)
	}
	if got := answers(resolve(t, r, "intranet.", dns.TypeA)); len(got) != 1 || got[0] != "10.1.2.3" {
		t.Fatalf("hosts %v", got)
	}
}

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

func TestForwarder(t *testing.T) {
	h := newHierarchy(t)
	upstream := newResolver(t, h.config())
	srv, _ := NewServer(ServerConfig{Resolver: upstream})
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	ds := &dns.Server{PacketConn: pc, Handler: srv}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	defer ds.Shutdown()
	fwd := newResolver(t, Config{Forward: []string{"127.0.0.1:1", pc.LocalAddr().String()}, Timeout: 200 * time.Millisecond})
	if got := answers(resolve(t, fwd, "www.example.com.", dns.TypeA)); len(got) != 3 {
		t.Fatalf("forwarded answer %v", got)
	}
	if m := resolve(t, fwd, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Fatalf("forwarded NXDOMAIN %v", m)
	}
}

func FuzzClassify(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	rr, _ := dns.NewRR("www.example.com. 60 IN CNAME x.example.net.")
	m.Answer = append(m.Answer, rr)
	ns, _ := dns.NewRR("example.com. 60 IN NS ns.example.com.")
	m.Ns = append(m.Ns, ns)
	b, _ := m.Pack()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := new(dns.Msg)
		if err := msg.Unpack(data); err != nil {
			return
		}
		for _, zone := range []string{".", "com.", "example.com."} {
			kind, c := classify(msg, zone, "www.example.com.", dns.TypeA)
			for _, rr := range append(c.answer, c.glue...) {
				if !dns.IsSubDomain(zone, dns.CanonicalName(rr.Header().Name)) {
					t.Fatalf("kind %d accepted out-of-bailiwick %v for zone %s", kind, rr, zone)
				}
			}
		}
	})
}

func TestRFC9156_QNAMEMinimisation(t *testing.T) {
	h := newHierarchy(t)
	var steps []Step
	cfg := h.config()
	cfg.Trace = func(s Step) { steps = append(steps, s) }
	r := newResolver(t, cfg)
	m := resolve(t, r, "a.b.c.d.e.deep.example.com.", dns.TypeA)
	if m.Rcode != 0 || len(m.Answer) != 1 {
		t.Fatalf("%v", m)
	}
	// The root saw only "com.", the com servers only "example.com.".
	for _, s := range steps {
		if s.Zone == "." && s.Question.Name != "com." {
			t.Errorf("root asked for %s", s.Question.Name)
		}
		if s.Zone == "com." && s.Question.Name != "example.com." {
			t.Errorf("com asked for %s", s.Question.Name)
		}
	}
	// An NXDOMAIN for an intermediate label is checked with one query for
	// the full name (RFC 9156 §2.3; some servers answer NXDOMAIN for empty
	// non-terminals), and the walk ends there.
	steps = nil
	m = resolve(t, r, "x.y.nope.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %d", m.Rcode)
	}
	full := 0
	for _, s := range steps {
		if s.Question.Name == "x.y.nope.example.com." {
			full++
		}
	}
	if full != 1 || len(steps) != 2 {
		t.Errorf("below an NXDOMAIN probe: %d queries, %d for the full name", len(steps), full)
	}
	// What a minimised walk learnt about cuts is reused (RFC 9156 §2):
	// once wild.example.com. is known to be no cut, a second name below
	// it costs one query, for the full name.
	resolve(t, r, "one.wild.example.com.", dns.TypeA)
	steps = nil
	if m := resolve(t, r, "two.wild.example.com.", dns.TypeA); m.Rcode != 0 || len(m.Answer) != 1 {
		t.Fatalf("two.wild: %v", m)
	}
	if len(steps) != 1 || steps[0].Question.Name != "two.wild.example.com." {
		t.Errorf("second name below a known non-cut took %d queries: %v", len(steps), steps)
	}
	// Disabled: the full name goes to the root.
	cfg.DisableQNAMEMinimisation = true
	steps = nil
	r2 := newResolver(t, cfg)
	resolve(t, r2, "mx.example.com.", dns.TypeA)
	if len(steps) == 0 || steps[0].Question.Name != "mx.example.com." {
		t.Errorf("first query %v", steps)
	}
}

func TestChildToward(t *testing.T) {
	for _, c := range [][3]string{{".", "www.example.com.", "com."}, {"com.", "www.example.com.", "example.com."}, {"example.com.", "www.example.com.", "www.example.com."}} {
		if got := childToward(c[0], c[1]); got != c[2] {
			t.Errorf("childToward(%s, %s) = %s, want %s", c[0], c[1], got, c[2])
		}
	}
}

// RFC 6672 §3.4: the DNAME goes in the answer beside the CNAME synthesised
// from it, also when the answer comes from the cache.
func TestRFC6672_DNAMESubstitution(t *testing.T) {
	r := newResolver(t, newHierarchy(t).config())
	for _, from := range []string{"the servers", "the cache"} {
		m := resolve(t, r, "cdn.legacy.example.com.", dns.TypeA)
		var dname, cname, a int
		for _, rr := range m.Answer {
			switch v := rr.(type) {
			case *dns.DNAME:
				dname++
			case *dns.CNAME:
				cname++
				if v.Target != "cdn.example.net." {
					t.Fatalf("from %s: synthesised CNAME to %s", from, v.Target)
				}
			case *dns.A:
				a++
			}
		}
		if m.Rcode != 0 || dname != 1 || cname != 1 || a != 2 {
			t.Fatalf("from %s: %v", from, m)
		}
	}
	if st := r.Stats(); st.CacheHits != 1 {
		t.Fatalf("second answer not from the cache: %+v", st)
	}
}

func TestDNAMESynthesisedByTheResolver(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("www.old.example.", dns.TypeA)
	d, _ := dns.NewRR("old.example. 300 IN DNAME new.example.")
	m.Answer = []dns.RR{d}
	m.Authoritative = true
	kind, c := classify(m, "example.", "www.old.example.", dns.TypeA)
	if kind != kindAnswer || c.next != "www.new.example." || len(c.answer) != 2 {
		t.Fatalf("kind %d next %q answer %v", kind, c.next, c.answer)
	}
}

func TestForwarderOverTLSAndHTTPS(t *testing.T) {
	h := newHierarchy(t)
	upstream := newResolver(t, h.config())
	srv, _ := NewServer(ServerConfig{Resolver: upstream})
	// DNS over HTTPS (RFC 8484), with httptest's self-signed certificate.
	doh := httptest.NewTLSServer(DoHHandler(srv))
	defer doh.Close()
	roots := doh.Client().Transport.(*http.Transport).TLSClientConfig
	viaDoH := newResolver(t, Config{Forward: []string{doh.URL + "/dns-query"}, TLSConfig: roots, Timeout: 2 * time.Second})
	if got := answers(resolve(t, viaDoH, "www.example.com.", dns.TypeA)); len(got) != 3 {
		t.Fatalf("DoH answer %v", got)
	}
	// GET form of the DoH handler.
	q := new(dns.Msg)
	q.SetQuestion("mx.example.com.", dns.TypeA)
	wire, _ := q.Pack()
	resp, err := doh.Client().Get(doh.URL + "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(wire))
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dns-message" {
		t.Fatalf("DoH GET: %v %v", resp, err)
	}
	resp.Body.Close()
	// DNS over TLS (RFC 7858) with the same certificate.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: doh.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	dot := &dns.Server{Listener: ln, Net: "tcp-tls", Handler: srv}
	started := make(chan struct{})
	dot.NotifyStartedFunc = func() { close(started) }
	go dot.ActivateAndServe()
	<-started
	defer dot.Shutdown()
	tlsCfg := roots.Clone()
	tlsCfg.ServerName = "example.com" // httptest's certificate names example.com
	viaDoT := newResolver(t, Config{Forward: []string{"tls://" + ln.Addr().String()}, TLSConfig: tlsCfg, Timeout: 2 * time.Second})
	if m := resolve(t, viaDoT, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("DoT rcode %d", m.Rcode)
	}
	if _, err := New(Config{Forward: []string{"https://"}}); err == nil {
		t.Fatal("bad DoH URL accepted")
	}
}

func TestPrefetchBeforeExpiry(t *testing.T) {
	h := newHierarchy(t)
	fc := clock.NewFake(time.Time{})
	cfg := h.config()
	cfg.Now, cfg.Prefetch = fc.Now, true
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resolve(t, r, "cdn.example.net.", dns.TypeA) // TTL 300
	up := r.Stats().Upstream
	fc.Advance(285 * time.Second) // 95% of the TTL gone
	if m := resolve(t, r, "cdn.example.net.", dns.TypeA); len(m.Answer) != 2 {
		t.Fatalf("%v", m)
	}
	r.waitIdle()
	defer r.Close()
	if st := r.Stats(); st.Prefetches != 1 || st.Upstream == up || st.ServFails != 0 {
		t.Fatalf("no prefetch: %+v", st)
	}
	// The refreshed entry has a fresh TTL: well past the old expiry it is
	// still a cache hit.
	up = r.Stats().Upstream
	fc.Advance(60 * time.Second)
	if m := resolve(t, r, "cdn.example.net.", dns.TypeA); len(m.Answer) != 2 || r.Stats().Upstream != up {
		t.Fatalf("prefetched entry not used: %v", m)
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
// is a response, carries the query's ID and fits the UDP size asked for.
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

// A name remembered as no cut that has become one since: the parent's
// servers refer, and the walk follows the referral.
func TestNoCutMemoryFollowsNewCut(t *testing.T) {
	h := newHierarchy(t)
	r := newResolver(t, h.config())
	resolve(t, r, "org.", dns.TypeSOA) // learn the org. servers
	noData := new(dns.Msg)
	soa, _ := dns.NewRR("org. 900 IN SOA a.gtld.org. hostmaster.org. 1 1800 900 604800 900")
	noData.Ns = []dns.RR{soa}
	r.putNoCut("site.org.", "org.", noData) // stale knowledge: site.org. is delegated
	if got := r.knownNoCut("org.", "nope.site.org."); got != "site.org." {
		t.Fatalf("knownNoCut = %q", got)
	}
	m := resolve(t, r, "nope.site.org.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Name != "site.org." {
		t.Fatalf("%v", m)
	}
}

// RFC 9520: a failed resolution is remembered (the same question fails
// again at once for a while), and servers that stopped answering are held
// down (not asked, with a backoff) instead of costing every question a
// round of timeouts.
func TestRFC9520_FailureCachingAndHoldDown(t *testing.T) {
	h, fc, r := clockedResolver(t)
	resolve(t, r, "mx.example.com.", dns.TypeA) // example.com.'s servers known
	h.stop()

	if m := resolve(t, r, "a1.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("dead servers: %v", m)
	}
	up := r.Stats().Upstream
	// The same question again: failed recently, no query.
	if m := resolve(t, r, "a1.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure || r.Stats().Upstream != up {
		t.Fatalf("failure not remembered: %v, %d new queries", m.Rcode, r.Stats().Upstream-up)
	}
	// Other names in the zone: once their servers have failed
	// holdDownAfter times running they are held down, and the next name
	// sends no query.
	for i := 2; i <= holdDownAfter; i++ {
		resolve(t, r, fmt.Sprintf("a%d.example.com.", 10+i), dns.TypeA)
	}
	up = r.Stats().Upstream
	if m := resolve(t, r, "a3.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure || r.Stats().Upstream != up {
		t.Fatalf("held-down servers asked: %v, %d new queries", m.Rcode, r.Stats().Upstream-up)
	}
	// After the hold-down (1 s) and the failure memory (5 s): asked again.
	fc.Advance(failureTTL + time.Second)
	resolve(t, r, "a1.example.com.", dns.TypeA)
	if r.Stats().Upstream == up {
		t.Fatal("servers never retried after the hold-down")
	}
	// They failed again: the next hold-down is longer (2 s).
	up = r.Stats().Upstream
	fc.Advance(1500 * time.Millisecond)
	resolve(t, r, "a4.example.com.", dns.TypeA)
	if r.Stats().Upstream != up {
		t.Fatalf("hold-down did not back off: %d new queries", r.Stats().Upstream-up)
	}
}
