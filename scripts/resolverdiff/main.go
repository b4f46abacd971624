// Command resolverdiff compares two resolvers' answers, as respdiff does
// for resolver fleets: "serve" runs a loopback DNS hierarchy on port 53 of
// 127.0.0.2-11 (root, com/net, example.com with CNAME chains, a DNAME, a
// wildcard, a delegation, a lame delegation, a glueless one that works and
// one whose server does not serve it; and servers that misbehave: one that
// follows CNAMEs and DNAMEs into another zone it serves and answers
// NXDOMAIN with that zone's SOA, one that answers NXDOMAIN for empty
// non-terminals, a delegation whose glue names a server the child zone no
// longer has, and an EDNS-intolerant one answering a bare FORMERR); "ask A B"
// puts the same questions to the resolvers at A and B and prints each pair
// of answers (rcode, flags, answer and authority sections, TTLs zeroed)
// marked same or DIFF. NET=udp asks over UDP, NOEDNS=1 without EDNS.
// PORT=N makes "serve" use port N instead of 53 (for resolvers that can
// be told the port, such as examples/resolver -port N).
// scripts/compare-resolver.sh runs it with examples/resolver and Unbound.
package main

import (
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

var zones = map[string]map[string]string{
	"127.0.0.2": {".": `$TTL 86400
. IN SOA a.root. admin.root. 1 7200 3600 1209600 3600
. IN NS a.root.
a.root. IN A 127.0.0.2
com. IN NS ns.com.
ns.com. IN A 127.0.0.3
net. IN NS ns.net.
ns.net. IN A 127.0.0.3
`},
	"127.0.0.3": {"com.": `$TTL 86400
com. IN SOA ns.com. admin.com. 1 7200 3600 1209600 900
com. IN NS ns.com.
ns.com. IN A 127.0.0.3
example.com. IN NS ns1.example.com.
ns1.example.com. IN A 127.0.0.4
lame.com. IN NS ns.lame.com.
ns.lame.com. IN A 127.0.0.9
glueless.com. IN NS ns1.example.net.
served.com. IN NS ns1.example.net.
follow.com. IN NS ns.follow.com.
ns.follow.com. IN A 127.0.0.7
ent.com. IN NS ns.ent.com.
ns.ent.com. IN A 127.0.0.8
glue.com. IN NS ns.glue.com.
glue.com. IN NS ns2.glue.com.
ns.glue.com. IN A 127.0.0.10
ns2.glue.com. IN A 127.0.0.10
edns.com. IN NS ns.edns.com.
ns.edns.com. IN A 127.0.0.11
`, "net.": `$TTL 86400
net. IN SOA ns.net. admin.net. 1 7200 3600 1209600 900
net. IN NS ns.net.
ns.net. IN A 127.0.0.3
example.net. IN NS ns.example.net.
ns.example.net. IN A 127.0.0.5
target.net. IN NS ns.target.net.
ns.target.net. IN A 127.0.0.7
`},
	"127.0.0.4": {"example.com.": `$TTL 300
example.com. IN SOA ns1.example.com. admin.example.com. 1 7200 3600 1209600 60
example.com. IN NS ns1.example.com.
ns1 IN A 127.0.0.4
@ IN A 192.0.2.10
@ IN MX 10 mail.example.com.
mail IN A 192.0.2.25
www IN CNAME cdn.example.net.
chain IN CNAME www.example.com.
dangling IN CNAME nope.example.net.
loop1 IN CNAME loop2.example.com.
loop2 IN CNAME loop1.example.com.
*.wild IN A 192.0.2.77
onlya IN A 192.0.2.11
txt IN TXT "a"
big IN TXT "record 01 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 02 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 03 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 04 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 05 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 06 padding padding padding padding padding padding padding padding padding"
big IN TXT "record 07 padding padding padding padding padding padding padding padding padding"
sub IN NS ns.sub.example.com.
ns.sub IN A 127.0.0.6
d IN DNAME example.net.
`},
	"127.0.0.5": {"example.net.": `$TTL 300
example.net. IN SOA ns.example.net. admin.example.net. 1 7200 3600 1209600 60
example.net. IN NS ns.example.net.
ns IN A 127.0.0.5
ns1 IN A 127.0.0.5
cdn IN A 192.0.2.1
cdn IN A 192.0.2.2
cdn IN AAAA 2001:db8::1
`, "served.com.": `$TTL 300
served.com. IN SOA ns1.example.net. admin.served.com. 1 7200 3600 1209600 60
served.com. IN NS ns1.example.net.
served.com. IN A 192.0.2.44
www IN CNAME host.sub.example.com.
gone IN CNAME nope.sub.example.com.
`},
	"127.0.0.6": {"sub.example.com.": `$TTL 300
sub.example.com. IN SOA ns.sub.example.com. admin.example.com. 1 7200 3600 1209600 60
sub.example.com. IN NS ns.sub.example.com.
ns IN A 127.0.0.6
host IN A 192.0.2.99
`},
	"127.0.0.7": {"follow.com.": `$TTL 300
follow.com. IN SOA ns.follow.com. admin.follow.com. 1 7200 3600 1209600 60
follow.com. IN NS ns.follow.com.
ns IN A 127.0.0.7
cx IN CNAME gone.target.net.
cy IN CNAME here.target.net.
old IN DNAME target.net.
`, "target.net.": `$TTL 300
target.net. IN SOA ns.target.net. admin.target.net. 1 7200 3600 1209600 120
target.net. IN NS ns.target.net.
ns IN A 127.0.0.7
here IN A 192.0.2.70
`},
	"127.0.0.8": {"ent.com.": `$TTL 300
ent.com. IN SOA ns.ent.com. admin.ent.com. 1 7200 3600 1209600 60
ent.com. IN NS ns.ent.com.
ns IN A 127.0.0.8
a.b.c IN A 192.0.2.80
`},
	"127.0.0.10": {"glue.com.": `$TTL 300
glue.com. IN SOA ns2.glue.com. admin.glue.com. 1 7200 3600 1209600 60
glue.com. IN NS ns2.glue.com.
ns2 IN A 127.0.0.10
www IN A 192.0.2.100
`},
	"127.0.0.11": {"edns.com.": `$TTL 300
edns.com. IN SOA ns.edns.com. admin.edns.com. 1 7200 3600 1209600 60
edns.com. IN NS ns.edns.com.
ns IN A 127.0.0.11
www IN A 192.0.2.110
mail IN A 192.0.2.111
`},
}

// misbehaving wraps the servers of the hostile shapes by address: one
// follows a CNAME into another zone it serves (BIND does so), one answers
// NXDOMAIN for empty non-terminals, one predates EDNS.
var misbehaving = map[string]func(*authority.Server) dns.Handler{
	"127.0.0.7":  func(zs *authority.Server) dns.Handler { return resolvertest.CNAMEFollower{Server: zs} },
	"127.0.0.8":  func(zs *authority.Server) dns.Handler { return resolvertest.ENTBreaker{Server: zs} },
	"127.0.0.11": func(zs *authority.Server) dns.Handler { return resolvertest.EDNSIntolerant{Server: zs} },
}

// serve runs the hierarchy until killed.
func serve() {
	byAddr := map[string][]*authority.Zone{}
	for addr, zs := range zones {
		for origin, text := range zs {
			z, err := authority.ParseZone(strings.NewReader(text), origin, origin)
			if err != nil {
				log.Fatal(err)
			}
			byAddr[addr] = append(byAddr[addr], z)
		}
	}
	port := 53 // Unbound sends referred queries to port 53 only
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			log.Fatal("PORT: ", err)
		}
		port = n
	}
	h, err := resolvertest.New(resolvertest.Config{Zones: byAddr, Port: port, Wrap: func(addr string, zs *authority.Server) dns.Handler {
		if wrap, ok := misbehaving[addr]; ok {
			return wrap(zs)
		}
		return zs
	}})
	if err != nil {
		log.Fatal(err)
	}
	_ = h // serves until the process is killed
	select {}
}

type q struct {
	name  string
	qtype uint16
}

var questions = []q{
	{"example.com.", dns.TypeA}, {"example.com.", dns.TypeMX}, {"example.com.", dns.TypeNS}, {"example.com.", dns.TypeSOA},
	{"www.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeAAAA}, {"chain.example.com.", dns.TypeA},
	{"dangling.example.com.", dns.TypeA}, {"loop1.example.com.", dns.TypeA}, {"x.wild.example.com.", dns.TypeA},
	{"x.wild.example.com.", dns.TypeTXT}, {"onlya.example.com.", dns.TypeAAAA}, {"nope.example.com.", dns.TypeA},
	{"deep.nope.example.com.", dns.TypeA}, {"big.example.com.", dns.TypeTXT}, {"host.sub.example.com.", dns.TypeA},
	{"nope.sub.example.com.", dns.TypeA}, {"cdn.d.example.com.", dns.TypeA}, {"www.lame.com.", dns.TypeA},
	{"glueless.com.", dns.TypeA}, {"nope.com.", dns.TypeA}, {"cdn.example.net.", dns.TypeAAAA}, {"cdn.example.net.", dns.TypeA},
	{"example.org.", dns.TypeA}, {"www.example.com.", dns.TypeMX}, {"example.com.", dns.TypeANY},
	{"ns1.example.com.", dns.TypeA}, {"wild.example.com.", dns.TypeA}, {"sub.example.com.", dns.TypeNS},
	{"sub.example.com.", dns.TypeA}, {"_x._tcp.example.com.", dns.TypeSRV}, {"WWW.example.com.", dns.TypeA},
	{"d.example.com.", dns.TypeDNAME}, {"d.example.com.", dns.TypeA}, {"nope.d.example.com.", dns.TypeA},
	{"com.", dns.TypeNS}, {"com.", dns.TypeSOA}, {".", dns.TypeNS}, {"net.", dns.TypeA},
	{"served.com.", dns.TypeA}, {"www.served.com.", dns.TypeA}, {"gone.served.com.", dns.TypeA},
	{"served.com.", dns.TypeNS}, {"nope.served.com.", dns.TypeMX}, {"www.example.com.", dns.TypeCNAME}, {"ExAmPlE.CoM.", dns.TypeA}, {"mail.example.com.", dns.TypeA},
	// The misbehaving servers' shapes.
	{"cx.follow.com.", dns.TypeA}, {"cy.follow.com.", dns.TypeA}, {"gone.old.follow.com.", dns.TypeA}, {"here.old.follow.com.", dns.TypeA},
	{"cx.follow.com.", dns.TypeAAAA}, {"a.b.c.ent.com.", dns.TypeA}, {"x.b.c.ent.com.", dns.TypeA}, {"a.b.c.ent.com.", dns.TypeAAAA},
	{"ns.glue.com.", dns.TypeA}, {"www.glue.com.", dns.TypeA}, {"ns.glue.com.", dns.TypeA}, {"glue.com.", dns.TypeNS},
	{"www.edns.com.", dns.TypeA}, {"mail.edns.com.", dns.TypeA}, {"nope.edns.com.", dns.TypeA}, {"www.edns.com.", dns.TypeAAAA},
}

func summary(m *dns.Msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s aa=%v tc=%v ra=%v", dns.RcodeToString[m.Rcode], m.Authoritative, m.Truncated, m.RecursionAvailable)
	sec := func(label string, rrs []dns.RR) {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			c := dns.Copy(rr)
			c.Header().Ttl = 0
			out = append(out, strings.ReplaceAll(c.String(), "\t", " "))
		}
		sort.Strings(out)
		fmt.Fprintf(&b, "\n    %s: %s", label, strings.Join(out, " | "))
	}
	sec("an", m.Answer)
	sec("ns", m.Ns)
	return b.String()
}

func ask(addrs []string) {
	c := &dns.Client{Timeout: 8 * time.Second, Net: os.Getenv("NET")}
	diffs := 0
	for _, qq := range questions {
		var res []string
		for _, a := range addrs {
			m := new(dns.Msg)
			m.SetQuestion(qq.name, qq.qtype)
			if os.Getenv("NOEDNS") == "" {
				m.SetEdns0(1232, false)
			}
			r, _, err := c.Exchange(m, a)
			if err != nil {
				res = append(res, "error "+err.Error())
				continue
			}
			res = append(res, summary(r))
		}
		mark := "same"
		if res[0] != res[1] {
			mark = "DIFF"
			diffs++
		}
		fmt.Printf("%s %s %s\n  %s: %s\n  %s: %s\n", mark, qq.name, dns.TypeToString[qq.qtype], addrs[0], res[0], addrs[1], res[1])
	}
	fmt.Printf("%d questions, %d answered alike, %d differently\n", len(questions), len(questions)-diffs, diffs)
}

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "serve":
		serve()
	case len(os.Args) == 4 && os.Args[1] == "ask":
		ask(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: resolverdiff serve | resolverdiff ask ADDR_A ADDR_B")
		os.Exit(2)
	}
}
