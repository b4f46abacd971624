package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// hierarchy is a root -> TLD -> authoritative DNS tree served in-process on
// 127.0.0.x addresses that all share one port.
type hierarchy struct {
	port    int
	roots   []netip.AddrPort
	servers []*dns.Server
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
v6 IN AAAA 2001:db8::6
*.wild IN A 192.0.2.7
dangling IN CNAME nothere.example.com.
loop1 IN CNAME loop2.example.com.
loop2 IN CNAME loop1.example.com.
a.b.c.d.e.deep IN A 192.0.2.99
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

func mustZone(t testing.TB, text, origin string) *Zone {
	z, err := ParseZone(strings.NewReader(text), origin, origin)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// poisoner adds an out-of-bailiwick record to every response, as a
// cache-poisoning server would.
type poisoner struct{ next dns.Handler }

func (p poisoner) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z := p.next.(*ZoneServer)
	m := z.Answer(r)
	bogus, _ := dns.NewRR("www.example.com. 86400 IN A 6.6.6.6")
	bogusNS, _ := dns.NewRR("example.com. 86400 IN NS ns.evil.com.")
	m.Extra = append(m.Extra, bogus)
	m.Ns = append(m.Ns, bogusNS)
	w.WriteMsg(m)
}

func newHierarchy(t testing.TB) *hierarchy {
	t.Helper()
	handlers := map[string]dns.Handler{}
	zs := func(rotate bool, zones ...*Zone) *ZoneServer {
		s, err := NewZoneServer(ZoneServerConfig{Zones: zones, Rotate: rotate})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	handlers["127.0.0.2"] = zs(false, mustZone(t, rootZone, "."))
	handlers["127.0.0.3"] = zs(false, mustZone(t, comZone, "com."), mustZone(t, netZone, "net."), mustZone(t, orgZone, "org."))
	handlers["127.0.0.4"] = zs(false, mustZone(t, bigZone(), "example.com."), mustZone(t, siteOrg, "site.org."))
	// 127.0.0.5 (ns2.example.com) is deliberately not served: unreachable.
	handlers["127.0.0.6"] = zs(true, mustZone(t, exampleNet, "example.net."))
	handlers["127.0.0.7"] = poisoner{zs(false, mustZone(t, evilCom, "evil.com."))}

	for attempt := 0; attempt < 20; attempt++ {
		h := &hierarchy{}
		pc, err := net.ListenPacket("udp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		h.port = pc.LocalAddr().(*net.UDPAddr).Port
		ok := true
		var servers []*dns.Server
		for addr, handler := range handlers {
			var p net.PacketConn
			if addr == "127.0.0.2" {
				p = pc
			} else if p, err = net.ListenPacket("udp", fmt.Sprintf("%s:%d", addr, h.port)); err != nil {
				ok = false
				break
			}
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, h.port))
			if err != nil {
				p.Close()
				ok = false
				break
			}
			servers = append(servers, &dns.Server{PacketConn: p, Handler: handler}, &dns.Server{Listener: l, Handler: handler})
		}
		if !ok {
			for _, s := range servers {
				if s.PacketConn != nil {
					s.PacketConn.Close()
				}
				if s.Listener != nil {
					s.Listener.Close()
				}
			}
			pc.Close()
			continue
		}
		for _, s := range servers {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			<-started
		}
		h.servers = servers
		h.roots = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(h.port))}
		t.Cleanup(h.stop)
		return h
	}
	t.Fatal("no common free port on 127.0.0.2-7")
	return nil
}

func (h *hierarchy) stop() {
	for _, s := range h.servers {
		s.Shutdown()
	}
	h.servers = nil
}

// config returns a resolver config pointed at the hierarchy, with short
// timeouts so the unreachable server costs little.
func (h *hierarchy) config() Config {
	return Config{Roots: h.roots, Port: h.port, AllowLoopback: true, Timeout: 300 * time.Millisecond, StaleWindow: time.Hour}
}
