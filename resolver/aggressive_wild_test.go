package resolver

import (
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// wildText is a kid zone with wildcards: *.wild (A and TXT, beside the
// existing h1.wild), *.cn a CNAME, and www.
const wildText = kidText + "*.wild 300 IN A 192.0.2.81\n*.wild 300 IN TXT \"wild\"\nh1.wild 300 IN A 192.0.2.82\n*.cn 300 IN CNAME www\n"

func wildKid(text string) resolvertest.SignedZoneFile {
	return resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: text}}
}

// askMsg sends req to srv as ask does and returns the reply.
func askMsg(srv *Server, req *dns.Msg) *dns.Msg {
	return srv.answer(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.TCPAddr{}, req)
}

// sameReply reports how a and b differ, record by record, the query ID
// left out ("" when they do not).
func sameReply(a, b *dns.Msg) string {
	a, b = a.Copy(), b.Copy()
	a.Id, b.Id = 0, 0
	if as, bs := a.String(), b.String(); as != bs {
		return "synthesised:\n" + as + "\nupstream:\n" + bs
	}
	return ""
}

// TestRFC8198_5_3_WildcardSynthesis: after one validated wildcard
// expansion, another name below the wildcard that the cached NSEC proves
// absent is answered from the cached wildcard RRset without asking
// upstream (RFC 8198 §5.3), with AD and, for a DO client, the RRSIGs as
// signed and the NSEC proof (RFC 4035 §5.3.4): record by record the
// reply the upstream path gives a fresh resolver for the same name at
// the same instant, for clients with DO, with AD only and with neither.
// A name that exists (no NSEC covers it), one outside the cached NSEC's
// range, a CD query and a DS question are asked.
func TestRFC8198_5_3_WildcardSynthesis(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	h, anchors := aggrZones(t, wildKid(wildText))
	r, srv := aggrResolver(t, h, anchors, clk.now, nil)
	_, freshSrv := aggrResolver(t, h, anchors, clk.now, nil) // the upstream path, for each name afresh
	m, up := askUpstream(r, srv, "a.wild.example.com.", dns.TypeA, true, false)
	if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || count(m.Answer, dns.TypeA) != 1 || up == 0 {
		t.Fatalf("priming wildcard answer (%d upstream):\n%v", up, m)
	}
	hits, misses := r.Stats().CacheHits, r.Stats().CacheMisses
	for i, name := range []string{"b.wild.example.com.", "c.wild.example.com.", "deep.d.wild.example.com."} {
		for _, flags := range []struct{ do, ad bool }{{true, false}, {false, true}, {false, false}} {
			req := new(dns.Msg)
			req.SetQuestion(name, dns.TypeA)
			req.SetEdns0(1232, flags.do)
			req.AuthenticatedData = flags.ad
			before := r.Stats().Upstream
			got := askMsg(srv, req)
			if up := r.Stats().Upstream - before; up != 0 {
				t.Fatalf("%s: %d upstream queries, want 0 (RFC 8198 §5.3):\n%v", name, up, got)
			}
			want := askMsg(freshSrv, req)
			if d := sameReply(got, want); d != "" {
				t.Fatalf("%s (DO %v, AD %v): the synthesised answer differs from the upstream one:\n%s", name, flags.do, flags.ad, d)
			}
			if got.AuthenticatedData != (flags.do || flags.ad) || got.Rcode != dns.RcodeSuccess || got.Answer[0].Header().Name != name {
				t.Fatalf("%s: %v", name, got)
			}
			if flags.do && (count(got.Ns, dns.TypeNSEC) != 1 || count(got.Answer, dns.TypeRRSIG) == 0) {
				t.Fatalf("%s: a DO client gets the RRSIGs and the NSEC proof (RFC 4035 §3.1.3.3):\n%v", name, got)
			}
		}
		if i == 0 && r.aggr.synthesised.Load() != 1 {
			t.Fatalf("%s: synthesised %d answers, want 1 (the others were cache hits)", name, r.aggr.synthesised.Load())
		}
	}
	if s := r.Stats(); s.CacheHits-hits != 9 || s.CacheMisses != misses {
		t.Fatalf("synthesised answers count as cache hits: hits +%d, misses +%d, want +9 and +0", s.CacheHits-hits, s.CacheMisses-misses)
	}
	// The TXT of the wildcard was never seen: asked, then synthesised.
	if m, up := askUpstream(r, srv, "g1.wild.example.com.", dns.TypeTXT, true, false); up == 0 || count(m.Answer, dns.TypeTXT) != 1 {
		t.Fatalf("TXT not asked (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "g2.wild.example.com.", dns.TypeTXT, true, false); up != 0 || count(m.Answer, dns.TypeTXT) != 1 || !m.AuthenticatedData {
		t.Fatalf("TXT not synthesised (%d upstream):\n%v", up, m)
	}
	for _, c := range []struct {
		name   string
		qtype  uint16
		cd     bool
		reason string
	}{
		{"h1.wild.example.com.", dns.TypeA, false, "a name that exists (the NSEC's next name, covered by none)"},
		{"zz.wild.example.com.", dns.TypeA, false, "a name past the cached NSEC's range"},
		{"e.wild.example.com.", dns.TypeA, true, "a query with CD"},
		{"f.wild.example.com.", dns.TypeDS, false, "a DS question"},
	} {
		m, up := askUpstream(r, srv, c.name, c.qtype, true, c.cd)
		if up == 0 {
			t.Fatalf("%s: %s was synthesised:\n%v", c.name, c.reason, m)
		}
		if c.name == "h1.wild.example.com." && (len(m.Answer) == 0 || m.Answer[0].(*dns.A).A.String() != "192.0.2.82") {
			t.Fatalf("h1.wild: %v", m)
		}
	}
}

// TestRFC8198_5_3_WildcardNoData: a name below a wildcard that lacks the
// type (RFC 4035 §3.1.3.4: the NSEC covering the name and the wildcard's
// NSEC without the type) is answered NODATA from the cached NSEC records
// (RFC 8198 §5.2, §5.3) once one such answer was validated.
func TestRFC8198_5_3_WildcardNoData(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, wildKid(wildText))
	if m, up := askUpstream(r, srv, "a.wild.example.com.", dns.TypeAAAA, true, false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData || up == 0 {
		t.Fatalf("priming wildcard NODATA (%d upstream):\n%v", up, m)
	}
	for _, name := range []string{"b.wild.example.com.", "b.c.wild.example.com."} {
		m, up := askUpstream(r, srv, name, dns.TypeAAAA, true, false)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData || up != 0 || !slices.ContainsFunc(m.Ns, func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeNSEC && rr.Header().Name == "*.wild.example.com."
		}) {
			t.Fatalf("%s: want a synthesised wildcard NODATA with the wildcard's NSEC (%d upstream):\n%v", name, up, m)
		}
	}
	// The wildcard's NSEC lists A: no NODATA for it; with no cached A
	// RRset of the wildcard, it is asked, and then synthesised.
	if m, up := askUpstream(r, srv, "c.wild.example.com.", dns.TypeA, true, false); up == 0 || count(m.Answer, dns.TypeA) != 1 {
		t.Fatalf("A at the wildcard (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "d.wild.example.com.", dns.TypeA, true, false); up != 0 || count(m.Answer, dns.TypeA) != 1 || !m.AuthenticatedData {
		t.Fatalf("A not synthesised (%d upstream):\n%v", up, m)
	}
}

// TestRFC8198_5_3_WildcardCNAMEFallsBack: a CNAME at the wildcard answers
// CNAME questions from the cache; a question of another type below it is
// asked upstream (the target is not chased from the cached wildcard).
func TestRFC8198_5_3_WildcardCNAMEFallsBack(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, wildKid(wildText))
	if m, up := askUpstream(r, srv, "a.cn.example.com.", dns.TypeA, true, false); up == 0 || count(m.Answer, dns.TypeCNAME) != 1 || count(m.Answer, dns.TypeA) != 1 || !m.AuthenticatedData {
		t.Fatalf("priming CNAME expansion (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "b.cn.example.com.", dns.TypeA, true, false); up == 0 || count(m.Answer, dns.TypeA) != 1 || !m.AuthenticatedData {
		t.Fatalf("a name below a wildcard CNAME must be asked (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "c.cn.example.com.", dns.TypeCNAME, true, false); up != 0 || count(m.Answer, dns.TypeCNAME) != 1 || !m.AuthenticatedData {
		t.Fatalf("the wildcard CNAME itself is synthesised for CNAME questions (%d upstream):\n%v", up, m)
	}
}

// wildForger forges the A records of the wildcard expansions it serves
// for names starting with "f" (their RRSIGs no longer verify), and drops
// the NSEC proof of those starting with "p".
type wildForger struct{ h dns.Handler }

func (f wildForger) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	f.h.ServeDNS(wildForgeWriter{w, dns.CanonicalName(req.Question[0].Name)}, req)
}

type wildForgeWriter struct {
	dns.ResponseWriter
	qname string
}

func (w wildForgeWriter) WriteMsg(m *dns.Msg) error {
	switch {
	case strings.HasPrefix(w.qname, "f"):
		for _, rr := range m.Answer {
			if a, ok := rr.(*dns.A); ok {
				a.A = net.IPv4(203, 0, 113, 66)
			}
		}
	case strings.HasPrefix(w.qname, "p"):
		var ns []dns.RR
		for _, rr := range m.Ns {
			if rr.Header().Rrtype != dns.TypeNSEC && (rr.Header().Rrtype != dns.TypeRRSIG || rr.(*dns.RRSIG).TypeCovered != dns.TypeNSEC) {
				ns = append(ns, rr)
			}
		}
		m.Ns = ns
	}
	return w.ResponseWriter.WriteMsg(m)
}

// TestRFC8198_4_ForgedWildcardNeverCached: a wildcard expansion whose
// RRSIG does not verify, and one whose NSEC proof is missing (RFC 4035
// §5.3.4), are SERVFAIL and never become a source of synthesis (RFC 8198
// §4: validated data only); the valid expansion that follows is.
func TestRFC8198_4_ForgedWildcardNeverCached(t *testing.T) {
	kid := wildKid(wildText)
	kid.Wrap = func(h dns.Handler) dns.Handler { return wildForger{h} }
	r, srv := aggrHierarchy(t, nil, nil, kid)
	for _, name := range []string{"f1.wild.example.com.", "p1.wild.example.com."} {
		if m := ask(srv, name, dns.TypeA, true, false); m.Rcode != dns.RcodeServerFailure || edeOf(m) == nil {
			t.Fatalf("%s: want SERVFAIL with an Extended DNS Error:\n%v", name, m)
		}
		if _, ok := r.cache.Peek(wildKey("wild.example.com.", dns.TypeA, "example.com.")); ok {
			t.Fatalf("%s: a bogus wildcard answer was cached for synthesis", name)
		}
	}
	if m, up := askUpstream(r, srv, "a.wild.example.com.", dns.TypeA, true, false); up == 0 || !m.AuthenticatedData {
		t.Fatalf("a name below the wildcard after the bogus ones must be asked (%d upstream):\n%v", up, m)
	}
	m, up := askUpstream(r, srv, "b.wild.example.com.", dns.TypeA, true, false)
	if up != 0 || len(m.Answer) == 0 || m.Answer[0].(*dns.A).A.String() != "192.0.2.81" || !m.AuthenticatedData {
		t.Fatalf("not synthesised from the valid expansion (%d upstream):\n%v", up, m)
	}
}

// TestRFC8198_5_4_WildcardTTL: the synthesised answer's TTL is the least
// of what is left of the wildcard RRset's and the NSEC's (RFC 8198 §5.4);
// past the NSEC's (here shorter than the wildcard's) or past the
// signatures' expiry (RFC 4035 §5.3.3) the name is asked.
func TestRFC8198_5_4_WildcardTTL(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	long := strings.Replace(wildText, "*.wild 300 IN A", "*.wild 3600 IN A", 1) // the NSEC: 300 (the SOA MINIMUM)
	r, srv := aggrHierarchy(t, clk.now, nil, wildKid(long))
	askUpstream(r, srv, "a.wild.example.com.", dns.TypeA, true, false)
	clk.add(200 * time.Second)
	m, up := askUpstream(r, srv, "b.wild.example.com.", dns.TypeA, true, false)
	if up != 0 {
		t.Fatalf("within the TTLs: %d upstream:\n%v", up, m)
	}
	for _, rr := range append(m.Answer, m.Ns...) {
		if rr.Header().Ttl != 100 {
			t.Fatalf("TTL %d, want the NSEC's 100 left (RFC 8198 §5.4): %v", rr.Header().Ttl, rr)
		}
	}
	clk.add(101 * time.Second)
	if m, up := askUpstream(r, srv, "c.wild.example.com.", dns.TypeA, true, false); up == 0 {
		t.Fatalf("past the NSEC's TTL the name must be asked:\n%v", m)
	}

	clk2 := &fakeClock{t: time.Now()}
	soon := wildKid(wildText)
	soon.Signing = resolvertest.Signing{Inception: clk2.t.Add(-time.Hour), Expiration: clk2.t.Add(100 * time.Second)}
	r2, srv2 := aggrHierarchy(t, clk2.now, nil, soon)
	askUpstream(r2, srv2, "a.wild.example.com.", dns.TypeA, true, false)
	clk2.add(50 * time.Second)
	if m, up := askUpstream(r2, srv2, "b.wild.example.com.", dns.TypeA, true, false); up != 0 || m.Answer[0].Header().Ttl > 50 {
		t.Fatalf("before the signatures expire: %d upstream:\n%v", up, m)
	}
	clk2.add(51 * time.Second)
	if m, up := askUpstream(r2, srv2, "c.wild.example.com.", dns.TypeA, true, false); up == 0 {
		t.Fatalf("synthesised past the signatures' expiry:\n%v", m)
	}
}

// TestRFC8198_4_WildcardOnlySecureNSEC: an unsigned zone's wildcard and
// an NSEC3 zone's are never synthesised (insecure data; NSEC only), while
// the signed NSEC zone's is.
func TestRFC8198_4_WildcardOnlySecureNSEC(t *testing.T) {
	plain := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.5", Origin: "plain.com.", Text: wildText}, Unsigned: true}
	n3 := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.6", Origin: "n3.com.", Text: wildText}, Signing: resolvertest.Signing{NSEC3: true}}
	r, srv := aggrHierarchy(t, nil, nil, wildKid(wildText), plain, n3)
	for _, zone := range []string{"plain.com.", "n3.com.", "example.com."} {
		askUpstream(r, srv, "a.wild."+zone, dns.TypeA, true, false)
		m, up := askUpstream(r, srv, "b.wild."+zone, dns.TypeA, true, false)
		if count(m.Answer, dns.TypeA) != 1 || (up == 0) != (zone == "example.com.") {
			t.Fatalf("%s: %d upstream:\n%v", zone, up, m)
		}
	}
}

// TestRFC8198_WildcardEvictedByByteLimit: wildcard RRsets are cache
// entries counted in MaxBytes: many wildcards in a small cache evict one
// another, the cache stays within its limit, and an evicted wildcard is
// asked again.
func TestRFC8198_WildcardEvictedByByteLimit(t *testing.T) {
	var text strings.Builder
	text.WriteString(kidText)
	const n = 400
	for i := range n {
		fmt.Fprintf(&text, "*.w%04d 300 IN TXT \"%s\"\n", i, strings.Repeat("x", 200))
	}
	const limit = 256 << 10
	r, srv := aggrHierarchy(t, nil, func(c *Config) { c.MaxBytes = limit }, wildKid(text.String()))
	for i := range n {
		if m := ask(srv, fmt.Sprintf("a.w%04d.example.com.", i), dns.TypeTXT, true, false); count(m.Answer, dns.TypeTXT) != 1 {
			t.Fatalf("w%04d:\n%v", i, m)
		}
	}
	cached, evicted, usable := 0, -1, -1
	for i := range n {
		_, nsec := r.cache.Peek(aggrKey(fmt.Sprintf("*.w%04d.example.com.", i), "example.com."))
		if _, ok := r.cache.Peek(wildKey(fmt.Sprintf("w%04d.example.com.", i), dns.TypeTXT, "example.com.")); !ok {
			evicted = i
		} else if cached++; nsec {
			usable = i
		}
	}
	t.Logf("%d wildcards in a %d KiB cache: %d cached, %d bytes", n, limit>>10, cached, r.cache.Bytes())
	if cached == 0 || evicted < 0 || r.cache.Bytes() > limit {
		t.Fatalf("wildcards not bounded by the byte limit: %d of %d cached, %d bytes", cached, n, r.cache.Bytes())
	}
	// Which entries the cache's admission policy kept is up to its
	// hashing: when no wildcard has its NSEC left, learn one again.
	for i := n - 1; usable < 0 && i >= n-20; i-- {
		if i == evicted {
			continue // asked last, as evicted
		}
		askUpstream(r, srv, fmt.Sprintf("c.w%04d.example.com.", i), dns.TypeTXT, true, false)
		_, nsec := r.cache.Peek(aggrKey(fmt.Sprintf("*.w%04d.example.com.", i), "example.com."))
		if _, ok := r.cache.Peek(wildKey(fmt.Sprintf("w%04d.example.com.", i), dns.TypeTXT, "example.com.")); ok && nsec {
			usable = i
		}
	}
	if usable < 0 {
		t.Fatal("no wildcard kept with its NSEC")
	}
	// The usable wildcard is asked first: asking the evicted one caches
	// its answer, which may evict the usable one in turn.
	if m, up := askUpstream(r, srv, fmt.Sprintf("b.w%04d.example.com.", usable), dns.TypeTXT, true, false); up != 0 {
		t.Fatalf("a cached wildcard with its NSEC was not used (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, fmt.Sprintf("b.w%04d.example.com.", evicted), dns.TypeTXT, true, false); up == 0 {
		t.Fatalf("synthesised from an evicted wildcard:\n%v", m)
	}
}

// TestRFC8198_5_3_ConcurrentSynthesis: synthesis from one cached wildcard
// by many goroutines while its entries are flushed and learnt again
// (run with -race): every answer is the wildcard's, with AD.
func TestRFC8198_5_3_ConcurrentSynthesis(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, wildKid(wildText))
	ask(srv, "a.wild.example.com.", dns.TypeA, true, false)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if g == 0 && i%10 == 0 {
					r.Flush("*.wild.example.com.")
				}
				name := fmt.Sprintf("g%d-%d.wild.example.com.", g, i)
				m := ask(srv, name, dns.TypeA, true, false)
				if len(m.Answer) == 0 || m.Answer[0].(*dns.A).A.String() != "192.0.2.81" || !m.AuthenticatedData {
					errs <- fmt.Sprintf("%s: %v", name, m)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestRFC8198_5_3_UpstreamSaved measures the miss workload of
// scripts/bench-resolver.sh (a new name below a signed wildcard per
// query): upstream queries for 500 random names with and without
// aggressive use of the cache, in the same run.
func TestRFC8198_5_3_UpstreamSaved(t *testing.T) {
	const n = 500
	run := func(disable bool) (uint64, time.Duration) {
		r, srv := aggrHierarchy(t, nil, func(c *Config) { c.DisableAggressiveNSEC = disable }, wildKid(wildText))
		ask(srv, "www.example.com.", dns.TypeA, true, false) // the chain of trust
		before := r.Stats().Upstream
		start := time.Now()
		for i := range n {
			name := fmt.Sprintf("r%x-%d.wild.example.com.", rand.Uint64(), i)
			if m := ask(srv, name, dns.TypeA, true, false); len(m.Answer) == 0 || !m.AuthenticatedData {
				t.Fatalf("%s:\n%v", name, m)
			}
		}
		return r.Stats().Upstream - before, time.Since(start)
	}
	on, onTime := run(false)
	off, offTime := run(true)
	t.Logf("%d random names below a signed wildcard: upstream queries %d with aggressive use (%v), %d without (%v)", n, on, onTime, off, offTime)
	if on >= off/10 {
		t.Fatalf("wildcard synthesis saved too little: %d against %d", on, off)
	}
}
