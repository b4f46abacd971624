package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
