package resolvertest_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestSignedServerOnHierarchy serves a signed zone from a Hierarchy
// (Config.Wrap): a DO query gets the RRSIG (RFC 4035 §3.1.1), a query
// without DO does not (RFC 3225 §3), and a negative answer carries its
// NSEC proof (RFC 4035 §3.1.3).
func TestSignedServerOnHierarchy(t *testing.T) {
	text := "@ 300 IN SOA ns.@ h.@ 1 7200 3600 1209600 300\n@ 300 IN NS ns.@\nns 300 IN A 127.0.0.4\nwww 300 IN A 192.0.2.1\n"
	text = strings.ReplaceAll(text, "@", "signed.test.")
	z, err := resolvertest.SignZone("signed.test.", text, resolvertest.Signing{Algorithm: dns.ED25519})
	if err != nil {
		t.Fatal(err)
	}
	srv := resolvertest.NewSignedServer([]*resolvertest.SignedZone{z}, nil)
	h, err := resolvertest.New(resolvertest.Config{
		Files: []resolvertest.ZoneFile{{Addr: "127.0.0.4", Origin: z.Origin(), Text: z.Text()}},
		Wrap:  func(string, *authority.Server) dns.Handler { return srv },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ask := func(name string, do bool) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, do)
		r, _, err := new(dns.Client).Exchange(q, net.JoinHostPort("127.0.0.4", strconv.Itoa(h.Port)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	count := func(rrs []dns.RR, t uint16) int {
		n := 0
		for _, rr := range rrs {
			if rr.Header().Rrtype == t {
				n++
			}
		}
		return n
	}
	if r := ask("www.signed.test.", true); count(r.Answer, dns.TypeRRSIG) != 1 {
		t.Fatalf("DO answer without its RRSIG:\n%v", r)
	}
	if r := ask("www.signed.test.", false); count(r.Answer, dns.TypeRRSIG) != 0 {
		t.Fatalf("answer without DO carries RRSIGs:\n%v", r)
	}
	if r := ask("nope.signed.test.", true); r.Rcode != dns.RcodeNameError || count(r.Ns, dns.TypeNSEC) == 0 {
		t.Fatalf("NXDOMAIN without NSEC:\n%v", r)
	}
}
