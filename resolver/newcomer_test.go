package resolver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// nxRoot answers every query as a DNS-rewriting middlebox or a false
// "root" does: NXDOMAIN, not authoritative, no SOA.
type nxRoot struct{}

func (nxRoot) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeNameError)
	w.WriteMsg(m)
}

// RFC 2308 §2.1 describes an NXDOMAIN as the authority's answer, with its
// SOA: a non-authoritative NXDOMAIN without an SOA is no answer, and is
// not passed to clients as one.
func TestRFC2308_NonAuthoritativeNXDOMAINWithoutSOAIsNoAnswer(t *testing.T) {
	l, err := resolvertest.New(resolvertest.Config{
		Zones: map[string][]*authority.Zone{"127.0.0.2": {mustZone(t, rootZone, ".")}},
		Wrap:  func(string, *authority.Server) dns.Handler { return nxRoot{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	r := newResolver(t, Config{Roots: l.Roots(), AllowLoopback: true, Port: l.Port})
	if m := resolve(t, r, "www.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
	}
}

// With no root server answering (no Internet), a question fails within a
// few timeouts, not one per root server, and the log says why.
func TestNoRootServerAnsweredFailsFastAndSaysSo(t *testing.T) {
	var roots []netip.AddrPort
	for range 13 {
		sink, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sink.Close() })
		roots = append(roots, netip.MustParseAddrPort(sink.LocalAddr().String()))
	}
	core, logs := observer.New(zapcore.DebugLevel)
	r := newResolver(t, Config{Roots: roots, AllowLoopback: true, Timeout: 100 * time.Millisecond, Logger: zap.New(core)})
	upstream := r.Stats().Upstream
	if m := resolve(t, r, "www.example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %d", m.Rcode)
	}
	// Three timeouts, and the full name is not asked again of servers
	// that did not answer the minimised probe.
	if n := r.Stats().Upstream - upstream; n > maxTimeoutsPerAsk {
		t.Errorf("%d queries sent to silent roots, want at most %d", n, maxTimeoutsPerAsk)
	}
	if logs.FilterMessageSnippet("no root server answered").Len() == 0 {
		t.Error("nothing logged about the silent roots")
	}
}

// Root hints on loopback addresses without AllowLoopback: New warns, and
// each refused server is logged once at debug level, however many
// questions fail on it.
func TestLoopbackRootsWithoutAllowLoopbackAreExplained(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	roots := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.2:53"), netip.MustParseAddrPort("10.0.0.1:53")}
	r := newResolver(t, Config{Roots: roots, Logger: zap.New(core)})
	if logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("AllowLoopback is off").Len() != 1 {
		t.Fatalf("no warning at start: %v", logs.All())
	}
	for _, name := range []string{"a.example.", "b.example.", "c.example."} {
		if m := resolve(t, r, name, dns.TypeA); m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s: rcode %d", name, m.Rcode)
		}
	}
	if n := logs.FilterLevelExact(zapcore.DebugLevel).FilterMessageSnippet("not asked").Len(); n != len(roots) {
		t.Fatalf("%d refusals logged, want one per server (%d)", n, len(roots))
	}
}

// Trace steps say what each question was for: minimised probes (RFC 9156)
// and the lookups of a glueless name server's address are marked.
func TestTraceMarksMinimisedProbesAndNameServerLookups(t *testing.T) {
	h := newHierarchy(t)
	var steps []Step
	cfg := h.config()
	cfg.Trace = func(s Step) { steps = append(steps, s) }
	r := newResolver(t, cfg)
	resolve(t, r, "site.org.", dns.TypeA) // served by ns1.example.com., no glue
	var probes, nsLookups, final int
	for _, s := range steps {
		switch {
		case s.NameServer == "ns1.example.com.":
			nsLookups++
		case s.Minimised:
			probes++
			if s.Question.Name == "site.org." && s.Question.Qtype == dns.TypeA && s.Zone == "org." {
				t.Errorf("the full question marked as a probe: %+v", s)
			}
		case s.Question.Name == "site.org.":
			final++
		}
	}
	if probes == 0 || nsLookups == 0 || final == 0 {
		t.Fatalf("probes %d, name-server lookups %d, full questions %d: %+v", probes, nsLookups, final, steps)
	}
}
