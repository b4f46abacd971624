package firewall_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/edgekit/edgekit/firewall"
	"github.com/miekg/dns"
)

// nginx on 10.0.0.1 appends X-Forwarded-For ($proxy_add_x_forwarded_for);
// nothing else the client sends is read.
func ExampleRealIP() {
	ri, err := firewall.NewRealIP([]firewall.TrustedProxy{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Header: "X-Forwarded-For"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(ri)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	r.Header.Set("Forwarded", "for=192.0.2.10")                 // the client's own: never read
	r.Header.Set("X-Forwarded-For", "192.0.2.10, 198.51.100.7") // nginx appended 198.51.100.7
	fmt.Println(ri.ClientAddr(r))
	r.Header.Set("X-Forwarded-For", "198.51.100.7, unknown") // unreadable: judged as nginx
	fmt.Println(ri.ClientAddr(r))
	// Output:
	// trusted proxies: 10.0.0.0/8 maintains X-Forwarded-For
	// 198.51.100.7 true
	// 10.0.0.1 false
}

// A rule set judges flows: ordered rules first, then the source lists
// (longest prefix wins, so an exception inside a range works), then the
// default policy. Matched tells a rule's verdict from the default's.
func ExampleParseRules() {
	rs, err := firewall.ParseRules(strings.NewReader(`
policy deny
allow 0.0.0.0/0
deny 10.0.0.0/8
allow 10.1.2.0/24              # an exception inside the denied range
rule no-ssh deny tcp port 22
`))
	if err != nil {
		panic(err)
	}
	for _, f := range []firewall.Flow{
		{Src: netip.MustParseAddrPort("203.0.113.9:5000"), Dst: netip.MustParseAddrPort("192.0.2.1:443"), Proto: firewall.TCP},
		{Src: netip.MustParseAddrPort("203.0.113.9:5000"), Dst: netip.MustParseAddrPort("192.0.2.1:22"), Proto: firewall.TCP},
		{Src: netip.MustParseAddrPort("10.9.9.9:5000"), Proto: firewall.TCP},
		{Src: netip.MustParseAddrPort("10.1.2.3:5000"), Proto: firewall.TCP},
		{Src: netip.MustParseAddrPort("[2001:db8::1]:5000"), Proto: firewall.TCP},
	} {
		v := rs.Decide(f)
		fmt.Printf("%-20s -> %-5d %s by %s (matched %v)\n", f.Src, f.Dst.Port(), v.Action, v.Rule, v.Matched)
	}
	// Output:
	// 203.0.113.9:5000     -> 443   allow by allow list (matched true)
	// 203.0.113.9:5000     -> 22    deny by no-ssh (matched true)
	// 10.9.9.9:5000        -> 0     deny by deny list (matched true)
	// 10.1.2.3:5000        -> 0     allow by allow list (matched true)
	// [2001:db8::1]:5000   -> 0     deny by default (matched false)
}

// A Firewall holds the rule set in force; Reload swaps it atomically
// while other goroutines decide.
func ExampleFirewall() {
	deny66, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.66\n"))
	fw, err := firewall.New(firewall.Config{Rules: deny66})
	if err != nil {
		panic(err)
	}
	from := func(a string) firewall.Flow {
		return firewall.Flow{Src: netip.AddrPortFrom(netip.MustParseAddr(a), 0), Proto: firewall.TCP}
	}
	fmt.Println(fw.Decide(from("192.0.2.66")).Action, fw.Decide(from("192.0.2.7")).Action)
	deny7, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.7\n"))
	fw.Reload(deny7)
	fmt.Println(fw.Decide(from("192.0.2.66")).Action, fw.Decide(from("192.0.2.7")).Action)
	st := fw.Stats()
	fmt.Printf("%d allowed, %d denied, %d reload; deny list hits in force: %d\n", st.Allowed, st.Denied, st.Reloads, st.Rules[1].Hits)
	// Output:
	// deny allow
	// allow deny
	// 2 allowed, 2 denied, 1 reload; deny list hits in force: 1
}

// The HTTP filter behind a trusted proxy: here the proxy is the loopback
// peer, trusted (by the rule file) to maintain X-Forwarded-For. Only
// what it appended is read; what the client wrote itself is not.
func ExampleHTTPFilter() {
	rs, err := firewall.ParseRules(strings.NewReader(`
policy allow
deny 192.0.2.66
trust 127.0.0.1 header X-Forwarded-For
`))
	if err != nil {
		panic(err)
	}
	fw, _ := firewall.New(firewall.Config{Rules: rs})
	filter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Filter: fw, MaxBodyBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	srv := httptest.NewServer(filter.Wrap(app))
	defer srv.Close()
	get := func(header, value string) {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Header.Set(header, value)
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %-28q %d\n", header, value, resp.StatusCode)
	}
	get("X-Forwarded-For", "192.0.2.66")               // the proxy says: client 192.0.2.66
	get("X-Forwarded-For", "192.0.2.66, 198.51.100.7") // the client forged the left part
	get("Forwarded", "for=192.0.2.66")                 // a header the proxy does not maintain
	st := filter.Stats()
	fmt.Printf("%d passed, %d denied\n", st.Allowed, st.Denied)
	// Output:
	// X-Forwarded-For: "192.0.2.66"                 403
	// X-Forwarded-For: "192.0.2.66, 198.51.100.7"   200
	// Forwarded: "for=192.0.2.66"             200
	// 2 passed, 1 denied
}

// A Listener closes denied peers right after accept. A reload keeps open
// connections; Flush closes those the new rules deny.
func ExampleListener() {
	rs, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.66\n"))
	fw, _ := firewall.New(firewall.Config{Rules: rs})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ln, err := firewall.NewListener(inner, firewall.ListenerConfig{Filter: fw})
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })}
	go srv.Serve(ln)
	defer srv.Close()
	client := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	get := func(c *http.Client, src string) {
		resp, err := c.Get("http://" + inner.Addr().String() + "/")
		if err != nil {
			fmt.Println(src, "refused")
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(src, string(b))
	}
	one, sixtySix := client("127.0.0.1"), client("127.0.0.66")
	defer one.CloseIdleConnections()
	defer sixtySix.CloseIdleConnections()
	get(one, "127.0.0.1") // its connection stays open (keep-alive)
	get(sixtySix, "127.0.0.66")
	deny1, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.1\n"))
	fw.Reload(deny1)
	fmt.Println("flushed", ln.Flush())
	fmt.Println("refused so far", ln.Refused())
	// Output:
	// 127.0.0.1 hello
	// 127.0.0.66 refused
	// flushed 1
	// refused so far 1
}

// The DNS guard in front of a dns.Handler: denied sources and ANY
// queries are refused (RFC 8482), the rest reach the handler.
func ExampleDNSGuard() {
	rs, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.66\n"))
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		w.WriteMsg(m)
	})
	guard, err := firewall.NewDNSGuard(answer, firewall.DNSGuardConfig{Filter: rs})
	if err != nil {
		panic(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: guard, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	defer srv.Shutdown()
	ask := func(src string, qtype uint16) {
		c := &dns.Client{Net: "udp", Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
		q := new(dns.Msg)
		q.SetQuestion("example.com.", qtype)
		r, _, err := c.Exchange(q, pc.LocalAddr().String())
		if err != nil {
			panic(err)
		}
		fmt.Println(src, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	ask("127.0.0.1", dns.TypeA)
	ask("127.0.0.1", dns.TypeANY)
	ask("127.0.0.66", dns.TypeA)
	// Output:
	// 127.0.0.1 A NOERROR 1
	// 127.0.0.1 ANY REFUSED 0
	// 127.0.0.66 A REFUSED 0
}

// withFeed is a Filter written outside the package: the operator's rules
// decide when one of them matches, and a reputation feed decides what
// they leave open. Its map is never written after construction, so
// Decide is safe for concurrent use.
type withFeed struct {
	rules firewall.Filter
	bad   map[netip.Addr]bool
}

func (w withFeed) Decide(f firewall.Flow) firewall.Verdict {
	if v := w.rules.Decide(f); v.Matched {
		return v
	}
	if w.bad[f.Src.Addr()] {
		return firewall.Verdict{Action: firewall.Deny, Matched: true, Rule: "reputation feed"}
	}
	return firewall.Verdict{Action: firewall.Allow, Rule: "default"}
}

// A Filter of your own plugs into the HTTP filter (and the Listener and
// the DNS guard) where a Firewall would.
func ExampleFilter() {
	rs, _ := firewall.ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.0/24\nallow 203.0.113.0/28\n"))
	fw, _ := firewall.New(firewall.Config{Rules: rs})
	feed := withFeed{rules: fw, bad: map[netip.Addr]bool{
		netip.MustParseAddr("203.0.113.7"):  true, // but the operator allows 203.0.113.0/28
		netip.MustParseAddr("203.0.113.99"): true,
	}}
	filter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Filter: feed})
	if err != nil {
		panic(err)
	}
	h := filter.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, peer := range []string{"192.0.2.1", "203.0.113.7", "203.0.113.99", "198.51.100.1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer + ":4711"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(peer, w.Code)
	}
	// Output:
	// 192.0.2.1 403
	// 203.0.113.7 200
	// 203.0.113.99 403
	// 198.51.100.1 200
}

// A Limiter is a token bucket per source prefix: an IPv6 client rotating
// through the addresses of its /64 draws from one bucket. Its clock is
// injected (here advanced by hand).
func ExampleLimiter() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := firewall.NewLimiter(firewall.LimiterConfig{Rate: 1, Burst: 2, Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3", "2001:db8:9::1"} {
		fmt.Println(a, l.Allow(netip.MustParseAddr(a)))
	}
	now = now.Add(time.Second) // one token back
	fmt.Println("a second later:", l.Allow(netip.MustParseAddr("2001:db8:1:2::4")))
	fmt.Println("limited", l.Limited(), "sources", l.Sources())
	// Output:
	// 2001:db8:1:2::1 true
	// 2001:db8:1:2::2 true
	// 2001:db8:1:2::3 false
	// 2001:db8:9::1 true
	// a second later: true
	// limited 1 sources 2
}
