package resolver

import (
	"testing"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestRFC8020_NXDOMAINCutKeepsAD: a name below a secure NXDOMAIN, and the
// same name asked for another type, are answered NXDOMAIN from the cache
// (RFC 8020 §2) with AD for a client asking with DO or AD, and the
// NXDOMAIN's NSEC proof for a DO client (it proves the names below too,
// RFC 4035 §3.1.3.2), whether or not aggressive NSEC is on; below an
// insecure NXDOMAIN (an unsigned zone) they carry no AD.
func TestRFC8020_NXDOMAINCutKeepsAD(t *testing.T) {
	plain := signedKidZone("plain.com.", "127.0.0.5")
	plain.Unsigned = true
	for _, disable := range []bool{false, true} {
		r, srv := aggrHierarchy(t, nil, func(c *Config) { c.DisableAggressiveNSEC = disable }, signedKidZone("example.com.", "127.0.0.4"), plain)
		if m := ask(srv, "b.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Fatalf("priming:\n%v", m)
		}
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"x.b.example.com.", dns.TypeA}, {"y.x.b.example.com.", dns.TypeTXT}, {"b.example.com.", dns.TypeAAAA}} {
			m, up := askUpstream(r, srv, q.name, q.qtype, true, false)
			if m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || up != 0 || count(m.Ns, dns.TypeNSEC) == 0 || count(m.Ns, dns.TypeRRSIG) == 0 {
				t.Fatalf("aggressive NSEC off %v: %s %s: want NXDOMAIN from the cache with AD and the proof (%d upstream):\n%v", disable, q.name, dns.TypeToString[q.qtype], up, m)
			}
			req := new(dns.Msg)
			req.SetQuestion(q.name, q.qtype)
			req.AuthenticatedData = true
			if m := askMsg(srv, req); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData || len(m.Ns) != 1 {
				t.Fatalf("%s: a client with AD and without DO gets AD and no DNSSEC records:\n%v", q.name, m)
			}
			if m := ask(srv, q.name, q.qtype, false, false); m.AuthenticatedData {
				t.Fatalf("%s: AD for a client that set neither DO nor AD:\n%v", q.name, m)
			}
		}
		if m := ask(srv, "b.plain.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || m.AuthenticatedData {
			t.Fatalf("insecure priming:\n%v", m)
		}
		for _, name := range []string{"x.b.plain.com.", "b.plain.com."} {
			m, up := askUpstream(r, srv, name, dns.TypeTXT, true, false)
			if m.Rcode != dns.RcodeNameError || m.AuthenticatedData || up != 0 {
				t.Fatalf("%s below an insecure NXDOMAIN: want no AD (%d upstream):\n%v", name, up, m)
			}
		}
	}
}

// TestRFC8198_5_2_EmptyNonTerminalIsNoData: a cached NSEC whose next name
// is below an empty non-terminal proves that name has no data, not that
// it does not exist: it is answered NODATA (RFC 8198 §5.2, RFC 4035
// §3.1.3.1), never NXDOMAIN, which would deny the names below it too
// (RFC 8020).
func TestRFC8198_5_2_EmptyNonTerminalIsNoData(t *testing.T) {
	r, srv := aggrHierarchy(t, nil, nil, resolvertest.SignedZoneFile{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: kidText + "a.b.ent 300 IN A 192.0.2.3\n"}})
	// b0 lies between alias and a.b.ent: the NSEC alias -> a.b.ent.
	if m := ask(srv, "b0.example.com.", dns.TypeA, true, false); m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
		t.Fatalf("priming:\n%v", m)
	}
	for _, name := range []string{"ent.example.com.", "b.ent.example.com."} {
		m, up := askUpstream(r, srv, name, dns.TypeA, true, false)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !m.AuthenticatedData || up != 0 {
			t.Fatalf("%s, an empty non-terminal: want a synthesised NODATA (%d upstream):\n%v", name, up, m)
		}
	}
	if m := ask(srv, "a.b.ent.example.com.", dns.TypeA, true, false); len(m.Answer) == 0 {
		t.Fatalf("the name below the empty non-terminal is gone:\n%v", m)
	}
}
