package resolver

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// aggrHierarchy serves a signed hierarchy with the kids (as
// signedHierarchy) and returns a validating resolver over it whose clock
// is clock (nil: the real one), with cfg's other fields applied by edit.
func aggrHierarchy(t testing.TB, now func() time.Time, edit func(*Config), kids ...resolvertest.SignedZoneFile) (*Recursive, *Server) {
	t.Helper()
	h, anchors := aggrZones(t, kids...)
	return aggrResolver(t, h, anchors, now, edit)
}

// aggrZones serves a signed hierarchy with the kids (as signedHierarchy)
// and returns it with its trust anchors.
func aggrZones(t testing.TB, kids ...resolvertest.SignedZoneFile) (*resolvertest.Hierarchy, []dns.RR) {
	t.Helper()
	for i := range kids {
		k := &kids[i]
		k.Text = strings.ReplaceAll("@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns.@ 300 IN A "+k.Addr+"\n", "@", k.Origin) + k.Text
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: kids})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, anchors
}

// aggrResolver returns a validating resolver over h whose clock is now
// (nil: the real one), with cfg's other fields applied by edit.
func aggrResolver(t testing.TB, h *resolvertest.Hierarchy, anchors []dns.RR, now func() time.Time, edit func(*Config)) (*Recursive, *Server) {
	t.Helper()
	cfg := Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, Now: now}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func signedKidZone(origin, addr string) resolvertest.SignedZoneFile {
	return resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: addr, Origin: origin, Text: kidText}}
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// askUpstream asks name/qtype through srv and returns the reply and how
// many queries the resolver sent upstream for it.
func askUpstream(r *Recursive, srv *Server, name string, qtype uint16, do, cd bool) (*dns.Msg, uint64) {
	before := r.Stats().Upstream
	m := ask(srv, name, qtype, do, cd)
	return m, r.Stats().Upstream - before
}

// TestRFC8198_5_1_NXDOMAINFromCachedNSEC: after one validated NXDOMAIN
// in a signed zone, another name covered by the same NSEC (and whose
// wildcard is covered too) is answered NXDOMAIN with AD and the NSEC
// proof for a DO client without asking upstream (RFC 8198 §5.1), with
// a TTL no longer than the NSEC's and the SOA MINIMUM (§5.4); a name the
// cached NSEC records do not cover is asked.
func TestRFC8198_5_1_NXDOMAINFromCachedNSEC(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, signedKidZone("example.com.", "127.0.0.4"))
	// example.com's chain: example.com. -> alias -> ns -> www -> apex.
	m, up := askUpstream(r, srv, "b.example.com.", dns.TypeA, true, false)
	if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || up == 0 {
		t.Fatalf("priming NXDOMAIN (%d upstream):\n%v", up, m)
	}
	for _, name := range []string{"c.example.com.", "b2.example.com.", "deep.below.bb.example.com."} {
		m, up = askUpstream(r, srv, name, dns.TypeA, true, false)
		if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || up != 0 {
			t.Fatalf("%s: want a synthesised NXDOMAIN with AD and 0 upstream queries, got %d:\n%v", name, up, m)
		}
		if count(m.Ns, dns.TypeNSEC) == 0 || count(m.Ns, dns.TypeSOA) != 1 || count(m.Ns, dns.TypeRRSIG) < 2 {
			t.Fatalf("%s: a DO client gets the NSEC proof and SOA with signatures (RFC 4035 §3.1.3):\n%v", name, m)
		}
		for _, rr := range m.Ns {
			if rr.Header().Ttl > 300 {
				t.Fatalf("%s: TTL above the SOA MINIMUM (RFC 8198 §5.4): %v", name, rr)
			}
		}
	}
	if m := ask(srv, "e.example.com.", dns.TypeA, false, false); m.Rcode != dns.RcodeNameError || m.AuthenticatedData || len(m.Ns) != 1 {
		t.Fatalf("a client without DO gets a plain NXDOMAIN:\n%v", m)
	}
	// After www: the NSEC www -> apex was never seen.
	if m, up := askUpstream(r, srv, "zzz.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("a name outside the cached NSEC ranges was not asked (%d upstream):\n%v", up, m)
	}
	if got := r.aggr.synthesised.Load(); got != 4 {
		t.Fatalf("synthesised %d answers, want 4", got)
	}
}

// TestRFC8198_5_2_NODATAFromCachedNSEC: the NSEC of an existing name
// proves it has no other types (RFC 8198 §5.2): a second type is
// answered NODATA without upstream; a type the NSEC lists is asked.
func TestRFC8198_5_2_NODATAFromCachedNSEC(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, signedKidZone("example.com.", "127.0.0.4"))
	if m, up := askUpstream(r, srv, "www.example.com.", dns.TypeTXT, true, false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData || up == 0 {
		t.Fatalf("priming NODATA (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "www.example.com.", dns.TypeMX, true, false); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData || up != 0 {
		t.Fatalf("NODATA not synthesised (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "www.example.com.", dns.TypeA, true, false); len(m.Answer) == 0 || up == 0 {
		t.Fatalf("a type the NSEC lists must be asked (%d upstream):\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "www.example.com.", dns.TypeDS, true, false); up == 0 {
		t.Fatalf("DS is never synthesised from the child's NSEC (RFC 6840 §4.4):\n%v", m)
	}
}

// TestRFC8198_5_4_ExpiredNSECAsksAgain: past the NSEC's TTL (and the SOA
// MINIMUM, 300 s) the cached NSEC proves nothing: the next name is asked.
func TestRFC8198_5_4_ExpiredNSECAsksAgain(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	r, srv := aggrHierarchy(t, clk.now, nil, signedKidZone("example.com.", "127.0.0.4"))
	if m, _ := askUpstream(r, srv, "b.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError {
		t.Fatalf("priming:\n%v", m)
	}
	clk.add(299 * time.Second)
	if m, up := askUpstream(r, srv, "c.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up != 0 {
		t.Fatalf("within the TTL: %d upstream:\n%v", up, m)
	}
	if m, up := askUpstream(r, srv, "c2.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || m.Ns[0].Header().Ttl > 1 || up != 0 {
		t.Fatalf("the synthesised TTL is what is left of the NSEC's (RFC 8198 §5.4): %d upstream:\n%v", up, m)
	}
	clk.add(2 * time.Second)
	if m, up := askUpstream(r, srv, "d.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("past the NSEC's TTL the name must be asked: %d upstream:\n%v", up, m)
	}
}

// TestRFC8198_4_OnlySecureNotCD: an unsigned zone's NXDOMAIN (Insecure)
// and an NSEC3 zone (NSEC only, as Unbound) are never synthesised; a
// query with CD is always asked; DisableAggressiveNSEC turns it off.
func TestRFC8198_4_OnlySecureNotCD(t *testing.T) {
	plain := signedKidZone("plain.com.", "127.0.0.5")
	plain.Unsigned = true
	n3 := signedKidZone("n3.com.", "127.0.0.6")
	n3.Signing = resolvertest.Signing{NSEC3: true, Algorithm: 15}
	r, srv := aggrHierarchy(t, nil, nil, signedKidZone("example.com.", "127.0.0.4"), plain, n3)
	for _, zone := range []string{"plain.com.", "n3.com."} {
		askUpstream(r, srv, "b."+zone, dns.TypeA, true, false)
		if m, up := askUpstream(r, srv, "c."+zone, dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
			t.Fatalf("%s: synthesised (%d upstream):\n%v", zone, up, m)
		}
	}
	askUpstream(r, srv, "b.example.com.", dns.TypeA, true, false)
	if m, up := askUpstream(r, srv, "c.example.com.", dns.TypeA, true, true); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("CD query synthesised (%d upstream):\n%v", up, m)
	}
	if _, ok := r.aggr.closestZone("x.plain.com."); ok {
		t.Fatal("an insecure zone's records entered the NSEC index")
	}

	off, offSrv := aggrHierarchy(t, nil, func(c *Config) { c.DisableAggressiveNSEC = true }, signedKidZone("example.com.", "127.0.0.4"))
	askUpstream(off, offSrv, "b.example.com.", dns.TypeA, true, false)
	if m, up := askUpstream(off, offSrv, "c.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("DisableAggressiveNSEC: synthesised (%d upstream):\n%v", up, m)
	}
}

// nsecForger adds to every negative answer a forged NSEC claiming that
// nothing exists between the apex and zzzz (a signature copied from a
// real NSEC, which does not verify over it).
type nsecForger struct{ h dns.Handler }

func (f nsecForger) ServeDNS(w dns.ResponseWriter, req *dns.Msg) { f.h.ServeDNS(forgeWriter{w}, req) }

type forgeWriter struct{ dns.ResponseWriter }

func (w forgeWriter) WriteMsg(m *dns.Msg) error {
	var sig *dns.RRSIG
	for _, rr := range m.Ns {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeNSEC {
			sig = dns.Copy(s).(*dns.RRSIG)
		}
	}
	if sig != nil {
		n := &dns.NSEC{Hdr: dns.RR_Header{Name: "a0.example.com.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300}, NextDomain: "zzzz.example.com.", TypeBitMap: []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}}
		sig.Hdr.Name = n.Hdr.Name
		m.Ns = append(m.Ns, n, sig)
	}
	return w.ResponseWriter.WriteMsg(m)
}

// TestRFC8198_4_ForgedNSECNeverIndexed: an NSEC whose signature does not
// verify, added to an otherwise valid NXDOMAIN, never enters the index
// (RFC 8198 §4: only validated NSEC records are used): names it claims
// absent are asked.
func TestRFC8198_4_ForgedNSECNeverIndexed(t *testing.T) {
	kid := signedKidZone("example.com.", "127.0.0.4")
	kid.Wrap = func(h dns.Handler) dns.Handler { return nsecForger{h} }
	r, srv := aggrHierarchy(t, nil, nil, kid)
	if m, up := askUpstream(r, srv, "b.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("priming:\n%v", m)
	}
	r.aggr.mu.Lock()
	owners := r.aggr.zones["example.com."]
	r.aggr.mu.Unlock()
	for _, o := range owners {
		if o == "a0.example.com." {
			t.Fatalf("the forged NSEC entered the index: %v", owners)
		}
	}
	if m, up := askUpstream(r, srv, "yyy.example.com.", dns.TypeA, true, false); up == 0 {
		t.Fatalf("a name only the forged NSEC covers was not asked:\n%v", m)
	}
}

// TestRFC8198_Bounded: the indexed NSEC records live in the cache, so
// Flush (like eviction and expiry) takes them out of the index too.
func TestRFC8198_Bounded(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, signedKidZone("example.com.", "127.0.0.4"))
	askUpstream(r, srv, "b.example.com.", dns.TypeA, true, false)
	if _, ok := r.aggr.closestZone("example.com."); !ok {
		t.Fatal("nothing indexed")
	}
	r.Flush("alias.example.com.")
	r.Flush("example.com.")
	if _, ok := r.aggr.closestZone("example.com."); ok {
		t.Fatal("flushed NSEC records are still indexed")
	}
	if m, up := askUpstream(r, srv, "c.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || up == 0 {
		t.Fatalf("synthesised from flushed records (%d upstream)", up)
	}
}

// TestRFC8198_UpstreamSaved measures a workload of 500 random
// non-existent names in one signed zone (a random-subdomain flood):
// upstream queries with and without aggressive NSEC, in the same run.
func TestRFC8198_UpstreamSaved(t *testing.T) {
	const n = 500
	run := func(disable bool) (uint64, time.Duration) {
		r, srv := aggrHierarchy(t, nil, func(c *Config) { c.DisableAggressiveNSEC = disable }, signedKidZone("example.com.", "127.0.0.4"))
		ask(srv, "www.example.com.", dns.TypeA, true, false) // the chain of trust
		before := r.Stats().Upstream
		start := time.Now()
		for i := range n {
			name := fmt.Sprintf("r%x-%d.example.com.", rand.Uint64(), i)
			if m := ask(srv, name, dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
				t.Fatalf("%s:\n%v", name, m)
			}
		}
		return r.Stats().Upstream - before, time.Since(start)
	}
	on, onTime := run(false)
	off, offTime := run(true)
	t.Logf("%d random NXDOMAIN names: upstream queries %d with aggressive NSEC (%v), %d without (%v)", n, on, onTime, off, offTime)
	if on >= off/10 {
		t.Fatalf("aggressive NSEC saved too little: %d against %d", on, off)
	}
}

// TestRFC8198_IndexEvictedWithCache: with a small cache, NSEC records of
// a large signed zone are evicted like other records and leave the index
// with them: every indexed owner has its entry in the cache.
func TestRFC8198_IndexEvictedWithCache(t *testing.T) {
	var text strings.Builder
	for i := range 600 {
		fmt.Fprintf(&text, "h%04d 300 IN A 192.0.2.1\n", i)
	}
	kid := resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: text.String()}}
	r, srv := aggrHierarchy(t, nil, func(c *Config) { c.MaxBytes = 256 << 10 }, kid)
	for i := range 600 {
		ask(srv, fmt.Sprintf("h%04da.example.com.", i), dns.TypeA, true, false)
	}
	r.aggr.mu.Lock()
	owners := slices.Clone(r.aggr.zones["example.com."])
	r.aggr.mu.Unlock()
	present := 0
	for _, o := range owners {
		if _, ok := r.cache.Peek(aggrKey(o, "example.com.")); ok {
			present++
		}
	}
	t.Logf("600 NXDOMAINs in a 256 KiB cache: %d owners indexed, %d of them cached", len(owners), present)
	if len(owners) == 0 || len(owners) >= 600 || present != len(owners) {
		t.Fatalf("index out of step with the cache: %d owners, %d cached", len(owners), present)
	}
}
