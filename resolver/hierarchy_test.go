package resolver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// hierarchy is a root -> TLD -> authoritative DNS tree served in-process on
// 127.0.0.x addresses that all share one port.
type hierarchy struct {
	port  int
	roots []netip.AddrPort
	loop  *resolvertest.Hierarchy
}

const (
	rootZone = `. 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400
. 518400 IN NS a.root-servers.net.
a.root-servers.net. 518400 IN A 127.0.0.2
com. 172800 IN NS a.gtld.com.
a.gtld.com. 172800 IN A 127.0.0.3
net. 172800 IN NS a.gtld.net.
a.gtld.net. 172800 IN A 127.0.0.3
org. 172800 IN NS a.gtld.org.
a.gtld.org. 172800 IN A 127.0.0.3
`
	comZone = `com. 900 IN SOA a.gtld.com. hostmaster.com. 1 1800 900 604800 900
com. 172800 IN NS a.gtld.com.
a.gtld.com. 172800 IN A 127.0.0.3
example.com. 172800 IN NS ns1.example.com.
example.com. 172800 IN NS ns2.example.com.
ns1.example.com. 172800 IN A 127.0.0.4
ns2.example.com. 172800 IN A 127.0.0.5
evil.com. 172800 IN NS ns.evil.com.
ns.evil.com. 172800 IN A 127.0.0.7
`
	netZone = `net. 900 IN SOA a.gtld.net. hostmaster.net. 1 1800 900 604800 900
net. 172800 IN NS a.gtld.net.
a.gtld.net. 172800 IN A 127.0.0.3
example.net. 172800 IN NS ns.example.net.
ns.example.net. 172800 IN A 127.0.0.6
`
	orgZone = `org. 900 IN SOA a.gtld.org. hostmaster.org. 1 1800 900 604800 900
org. 172800 IN NS a.gtld.org.
a.gtld.org. 172800 IN A 127.0.0.3
site.org. 172800 IN NS ns1.example.com.
`
	exampleCom = `$TTL 3600
example.com. IN SOA ns1.example.com. admin.example.com. 1 7200 3600 1209600 300
example.com. IN NS ns1.example.com.
example.com. IN NS ns2.example.com.
ns1 IN A 127.0.0.4
ns2 IN A 127.0.0.5
www IN CNAME cdn.example.net.
mail IN MX 10 mx.example.com.
mx IN A 192.0.2.25
alias IN CNAME mx.example.com.
v6 IN AAAA 2001:db8::6
*.wild IN A 192.0.2.7
dangling IN CNAME nothere.example.com.
loop1 IN CNAME loop2.example.com.
loop2 IN CNAME loop1.example.com.
a.b.c.d.e.deep IN A 192.0.2.99
legacy IN DNAME example.net.
`
	exampleNet = `$TTL 300
example.net. IN SOA ns.example.net. admin.example.net. 1 7200 3600 1209600 60
example.net. IN NS ns.example.net.
ns IN A 127.0.0.6
cdn IN A 192.0.2.1
cdn IN A 192.0.2.2
`
	siteOrg = `$TTL 600
site.org. IN SOA ns1.example.com. admin.site.org. 1 7200 3600 1209600 60
site.org. IN NS ns1.example.com.
site.org. IN NS ns9.site.org.
ns9.site.org. IN A 127.0.0.9
site.org. IN A 192.0.2.80
`
	evilCom = `$TTL 600
evil.com. IN SOA ns.evil.com. admin.evil.com. 1 7200 3600 1209600 60
evil.com. IN NS ns.evil.com.
ns IN A 127.0.0.7
evil.com. IN A 192.0.2.66
`
)

func bigZone() string {
	var b strings.Builder
	b.WriteString(exampleCom)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "big IN TXT \"record %02d padding padding padding padding padding\"\n", i)
	}
	return b.String()
}

func mustZone(t testing.TB, text, origin string) *authority.Zone {
	z, err := authority.ParseZone(strings.NewReader(text), origin, origin)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// poisoner adds an out-of-bailiwick record to every response, as a
// cache-poisoning server would.
type poisoner struct{ zs *authority.Server }

func (p poisoner) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := p.zs.Answer(r)
	bogus, _ := dns.NewRR("www.example.com. 86400 IN A 6.6.6.6")
	bogusNS, _ := dns.NewRR("example.com. 86400 IN NS ns.evil.com.")
	m.Extra = append(m.Extra, bogus)
	m.Ns = append(m.Ns, bogusNS)
	w.WriteMsg(m)
}

func newHierarchy(t testing.TB) *hierarchy {
	t.Helper()
	zones := map[string][]*authority.Zone{
		"127.0.0.2": {mustZone(t, rootZone, ".")},
		"127.0.0.3": {mustZone(t, comZone, "com."), mustZone(t, netZone, "net."), mustZone(t, orgZone, "org.")},
		"127.0.0.4": {mustZone(t, bigZone(), "example.com."), mustZone(t, siteOrg, "site.org.")},
		// 127.0.0.5 (ns2.example.com) is deliberately not served: unreachable.
		"127.0.0.6": {mustZone(t, exampleNet, "example.net.")},
		"127.0.0.7": {mustZone(t, evilCom, "evil.com.")},
	}
	l, err := resolvertest.New(resolvertest.Config{Zones: zones, Rotate: true, Wrap: func(addr string, zs *authority.Server) dns.Handler {
		if addr == "127.0.0.7" { // evil.com.
			return poisoner{zs}
		}
		return zs
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := &hierarchy{port: l.Port, loop: l, roots: l.Roots()}
	t.Cleanup(h.stop)
	return h
}

func (h *hierarchy) stop() { h.loop.Close() }

// config returns a resolver config pointed at the hierarchy, with short
// timeouts so the unreachable server costs little.
func (h *hierarchy) config() Config {
	return Config{Roots: h.roots, Port: h.port, AllowLoopback: true, Timeout: 300 * time.Millisecond, StaleWindow: time.Hour}
}
