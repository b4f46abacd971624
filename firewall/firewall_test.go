package firewall

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// decideAddr judges a source address alone, as the listener and the
// HTTP filter do.
func decideAddr(rs *RuleSet, a netip.Addr) Action {
	return rs.Decide(Flow{Src: netip.AddrPortFrom(a, 0)}).Action
}

func mustHTTPFilter(t testing.TB, cfg HTTPConfig) *HTTPFilter {
	t.Helper()
	h, err := NewHTTPFilter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

const sampleRules = `# edge rules
policy deny
order first
allow 0.0.0.0/0 ::/0
deny 10.0.0.0/8
allow 10.1.2.0/24      # an exception inside the denied range
deny 192.0.2.66
rule ssh-admin allow tcp from 198.51.100.0/24 port 22
rule no-ssh deny tcp port 22
rule dns deny udp to 203.0.113.53 port 53
`

func TestRuleFileAndVerdicts(t *testing.T) {
	rs, err := ParseRules(strings.NewReader(sampleRules))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		flow Flow
		want Action
	}{
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:5000"), Dst: netip.MustParseAddrPort("192.0.2.1:443"), Proto: TCP}, Allow},
		{Flow{Src: netip.MustParseAddrPort("10.9.9.9:5000"), Proto: TCP}, Deny},
		{Flow{Src: netip.MustParseAddrPort("10.1.2.3:5000"), Proto: TCP}, Allow}, // exception by longest prefix
		{Flow{Src: netip.MustParseAddrPort("192.0.2.66:1"), Proto: TCP}, Deny},
		{Flow{Src: netip.MustParseAddrPort("198.51.100.7:1"), Dst: netip.MustParseAddrPort("192.0.2.1:22"), Proto: TCP}, Allow},
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:1"), Dst: netip.MustParseAddrPort("192.0.2.1:22"), Proto: TCP}, Deny},
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:1"), Dst: netip.MustParseAddrPort("203.0.113.53:53"), Proto: UDP}, Deny},
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:1"), Dst: netip.MustParseAddrPort("203.0.113.53:53"), Proto: TCP}, Allow},
		{Flow{Src: netip.MustParseAddrPort("[2001:db8::1]:1"), Proto: TCP}, Allow},
	}
	for i, c := range cases {
		if got := rs.Decide(c.flow); got.Action != c.want {
			t.Errorf("case %d %v: %v by %s, want %v", i, c.flow.Src, got.Action, got.Rule, c.want)
		}
	}
	counts := rs.counts()
	if counts[0].Rule != "ssh-admin" || counts[0].Hits != 1 {
		t.Fatalf("per-rule counters %v", counts[:3])
	}
}

func TestRuleFileErrorsNameTheLine(t *testing.T) {
	for text, line := range map[string]int{
		"policy allow\nallow 10.0.0.0/33\n": 2,
		"\n\n# c\nfrobnicate\n":             4,
		"rule r allow tcp port 99999\n":     1,
		"rule r allow from\n":               1,
		"order sideways\n":                  1,
		"allow fe80::1%eth0\n":              1,
		"rule x maybe\n":                    1,
	} {
		_, err := ParseRules(strings.NewReader(text))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != line || !errors.Is(err, ErrBadRule) {
			t.Errorf("%q: err %v, want line %d", text, err, line)
		}
	}
	if _, err := ParseRules(strings.NewReader("allow 10.0.0.0/8\ndeny 10.0.0.0/8\n")); !errors.Is(err, ErrBadRule) {
		t.Errorf("a prefix both allowed and denied: %v", err)
	}
}

func TestFirstAndLastMatch(t *testing.T) {
	rules := []Rule{{Name: "a", Action: Allow, Src: []netip.Prefix{pfx("10.0.0.0/8")}}, {Name: "d", Action: Deny, Src: []netip.Prefix{pfx("10.1.0.0/16")}}}
	first, _ := NewRuleSet(RuleSetConfig{Rules: rules, Order: FirstMatch})
	last, _ := NewRuleSet(RuleSetConfig{Rules: rules, Order: LastMatch})
	f := Flow{Src: netip.AddrPortFrom(addr("10.1.2.3"), 1)}
	if first.Decide(f).Action != Allow || last.Decide(f).Action != Deny {
		t.Fatal("first-match / last-match semantics")
	}
}

// naive is the reference: a linear scan for the longest matching prefix.
func naive(lists []listEntry, def Action, a netip.Addr) Action {
	best := -1
	act := def
	for _, l := range lists {
		if l.prefix.Contains(a) && l.prefix.Bits() > best {
			best, act = l.prefix.Bits(), l.action
		}
	}
	return act
}

func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(4) == 0 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		b[0] = 0x20
		return netip.PrefixFrom(netip.AddrFrom16(b), 16+r.IntN(113)).Masked()
	}
	var b [4]byte
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	b[0] = byte(r.IntN(8)) // cluster so prefixes nest
	return netip.PrefixFrom(netip.AddrFrom4(b), 4+r.IntN(29)).Masked()
}

func differential(t testing.TB, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	cfg := RuleSetConfig{Default: Action(r.IntN(2))}
	seen := map[netip.Prefix]bool{}
	for i := 0; i < 300; i++ {
		p := randomPrefix(r)
		if seen[p] {
			continue
		}
		seen[p] = true
		if r.IntN(2) == 0 {
			cfg.Allow = append(cfg.Allow, p)
		} else {
			cfg.Deny = append(cfg.Deny, p)
		}
	}
	rs, err := NewRuleSet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		p := randomPrefix(r)
		a := p.Addr()
		if r.IntN(3) == 0 && len(rs.lists) > 0 {
			a = rs.lists[r.IntN(len(rs.lists))].prefix.Addr()
		}
		if got, want := decideAddr(rs, a), naive(rs.lists, cfg.Default, a); got != want {
			t.Fatalf("seed %d: %v: bart says %v, linear scan %v", seed, a, got, want)
		}
	}
}

func TestDifferentialBartVersusLinearScan(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		differential(t, seed)
	}
}

func FuzzDifferential(f *testing.F) {
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, seed uint64) { differential(t, seed) })
}

func TestNormalizationMatrix(t *testing.T) {
	rs, _ := NewRuleSet(RuleSetConfig{Default: Deny, Allow: []netip.Prefix{pfx("192.0.2.0/24"), pfx("2001:db8::/32"), pfx("64:ff9b::/96")}})
	cases := []struct {
		name string
		a    netip.Addr
		want Action
	}{
		{"IPv4", addr("192.0.2.1"), Allow},
		{"IPv4-mapped IPv6 is unmapped", addr("::ffff:192.0.2.1"), Allow},
		{"IPv4-mapped outside", addr("::ffff:198.51.100.1"), Deny},
		{"zoned IPv6: zone dropped", addr("2001:db8::1%eth0"), Allow},
		{"zoned link-local", addr("fe80::1%lo"), Deny},
		{"NAT64 form matches its IPv6 prefix, not the embedded IPv4", addr("64:ff9b::c000:201"), Allow},
		{"NAT64 of a denied IPv4", addr("64:ff9b::c633:6401"), Allow},
		{"invalid address: default policy", netip.Addr{}, Deny},
	}
	for _, c := range cases {
		if got := decideAddr(rs, c.a); got != c.want {
			t.Errorf("%s (%v): %v, want %v", c.name, c.a, got, c.want)
		}
	}
	// A mapped prefix in a rule is unmapped too.
	rs2, _ := NewRuleSet(RuleSetConfig{Default: Deny, Allow: []netip.Prefix{pfx("::ffff:10.0.0.0/104")}})
	if decideAddr(rs2, addr("10.1.1.1")) != Allow {
		t.Error("IPv4-mapped prefix not unmapped")
	}
}

func TestHotSwapUnderLoad(t *testing.T) {
	allowAll, _ := NewRuleSet(RuleSetConfig{Default: Allow})
	denyAll, _ := NewRuleSet(RuleSetConfig{Default: Deny, Allow: []netip.Prefix{pfx("10.0.0.0/8")}})
	fw, _ := New(Config{Rules: allowAll})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// 10.x is allowed by both sets: any other answer would
				// mean a half-loaded set.
				if fw.Decide(Flow{Src: netip.MustParseAddrPort("10.2.3.4:1")}).Action != Allow {
					t.Error("inconsistent verdict during reload")
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			fw.Reload(denyAll)
		} else {
			fw.Reload(allowAll)
		}
	}
	close(stop)
	wg.Wait()
	if fw.Stats().Reloads != 200 {
		t.Fatalf("reloads %d", fw.Stats().Reloads)
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(sampleRules)
	f.Add("rule a allow tcp from ::/0 to 10.0.0.0/8 port 1-65535,80\n")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := ParseRules(strings.NewReader(text))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !errors.Is(err, ErrBadRule) {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		rs.Decide(Flow{Src: netip.MustParseAddrPort("10.1.2.3:4"), Dst: netip.MustParseAddrPort("[::1]:22"), Proto: TCP})
	})
}

func TestHTTPFilterLimitsAndBuiltins(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "ok")
	})
	rs, _ := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.66\n"))
	fw, _ := New(Config{Rules: rs})
	h := mustHTTPFilter(t, HTTPConfig{Filter: fw, MaxBodyBytes: 10, MaxHeaderBytes: 200,
		Rules: []HTTPRule{{Name: "no-admin", Action: Deny, PathPrefix: "/admin"}, {Name: "no-trace", Action: Deny, Methods: []string{"TRACE"}}}}).Wrap(ok)
	do := func(method, target, body string, hdr ...string) int {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.RemoteAddr = "203.0.113.1:5"
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if c := do("POST", "/", strings.Repeat("x", 10)); c != 200 {
		t.Fatalf("body at the limit: %d", c)
	}
	if c := do("POST", "/", strings.Repeat("x", 11)); c != http.StatusRequestEntityTooLarge {
		t.Fatalf("body one over: %d", c)
	}
	base := headerBytes(httptest.NewRequest("GET", "/", nil))
	pad := 200 - base - len("X-Pad") - 4
	if c := do("GET", "/", "", "X-Pad", strings.Repeat("p", pad)); c != 200 {
		t.Fatalf("headers at the limit: %d", c)
	}
	if c := do("GET", "/", "", "X-Pad", strings.Repeat("p", pad+1)); c != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("headers one over: %d", c)
	}
	for _, target := range []string{"/a/%2e%2e/etc/passwd", "/x/..%2fsecret", "/%00", "/a?x=%00"} {
		if c := do("GET", target, ""); c != http.StatusBadRequest {
			t.Errorf("%s: %d", target, c)
		}
	}
	if c := do("GET", "/admin/x", ""); c != http.StatusForbidden {
		t.Fatalf("path rule: %d", c)
	}
	if c := do("TRACE", "/", ""); c != http.StatusForbidden {
		t.Fatalf("method rule: %d", c)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.66:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("denied address: %d", w.Code)
	}
	smuggle := httptest.NewRequest("POST", "/", strings.NewReader("0\r\n\r\n"))
	smuggle.TransferEncoding = []string{"chunked"}
	smuggle.Header.Set("Content-Length", "5")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, smuggle)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("CL+TE: %d", w.Code)
	}
}

func TestRateLimitByPrefix(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	l, _ := NewLimiter(LimiterConfig{Rate: 1, Burst: 2, IPv6Bits: 64, Now: fc.Now})
	a, b := addr("2001:db8:1:2::1"), addr("2001:db8:1:2::ffff") // same /64
	if !l.Allow(a) || !l.Allow(b) || l.Allow(a) {
		t.Fatal("a /64 must share one bucket")
	}
	if !l.Allow(addr("2001:db8:1:3::1")) {
		t.Fatal("another /64 has its own bucket")
	}
	fc.Advance(time.Second)
	if !l.Allow(a) {
		t.Fatal("bucket did not refill with the clock")
	}
	small, _ := NewLimiter(LimiterConfig{Rate: 1, MaxSources: 10})
	for i := 0; i < 1000; i++ {
		small.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if small.buckets.Len() > 10 {
		t.Fatalf("table grew to %d", small.buckets.Len())
	}
}

func TestListenerRefusesDeniedPeersAndCaps(t *testing.T) {
	rs, _ := ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.66\n"))
	fw, _ := New(Config{Rules: rs})
	inner, _ := net.Listen("tcp", "127.0.0.1:0")
	ln, _ := NewListener(inner, ListenerConfig{Filter: fw, MaxConnsPerSource: 1})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })}
	go srv.Serve(ln)
	defer srv.Close()
	dial := func(src string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "hi") {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	if err := dial("127.0.0.1"); err != nil {
		t.Fatalf("allowed peer: %v", err)
	}
	if err := dial("127.0.0.66"); err == nil {
		t.Fatal("denied peer was served")
	}
	// The cap: a second connection from one source while one is open.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
	held, err := d.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// One keep-alive exchange proves Accept admitted it; it stays open.
	held.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(held, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatalf("held connection: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hi" || resp.Close {
		t.Fatalf("held connection: %q, close %v", b, resp.Close)
	}
	if err := dial("127.0.0.5"); err == nil {
		t.Fatal("per-source cap not enforced")
	}
	held.Close()
	if ln.Refused() < 2 {
		t.Fatalf("refused %d", ln.Refused())
	}
}

type dnsRecorder struct {
	msgs   []*dns.Msg
	remote net.Addr
}

func (w *dnsRecorder) LocalAddr() net.Addr         { return &net.UDPAddr{} }
func (w *dnsRecorder) RemoteAddr() net.Addr        { return w.remote }
func (w *dnsRecorder) Network() string             { return "udp" }
func (w *dnsRecorder) WriteMsg(m *dns.Msg) error   { w.msgs = append(w.msgs, m); return nil }
func (w *dnsRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (w *dnsRecorder) Close() error                { return nil }
func (w *dnsRecorder) TsigStatus() error           { return nil }
func (w *dnsRecorder) TsigTimersOnly(bool)         {}
func (w *dnsRecorder) Hijack()                     {}

func TestDNSGuard(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	answered := 0
	next := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		answered++
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})
	rs, _ := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.66\n"))
	fw, _ := New(Config{Rules: rs})
	rrl, _ := NewLimiter(LimiterConfig{Rate: 1, Burst: 2, IPv4Bits: 24, Now: fc.Now})
	g, err := NewDNSGuard(next, DNSGuardConfig{Filter: fw, RRL: rrl, Slip: 2})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(src string, qtype uint16) *dnsRecorder {
		w := &dnsRecorder{remote: &net.UDPAddr{IP: net.ParseIP(src), Port: 5353}}
		q := new(dns.Msg)
		q.SetQuestion("example.com.", qtype)
		g.ServeDNS(w, q)
		return w
	}
	if w := ask("192.0.2.66", dns.TypeA); len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeRefused {
		t.Fatal("denied source not refused")
	}
	if w := ask("198.51.100.1", dns.TypeANY); w.msgs[0].Rcode != dns.RcodeRefused {
		t.Fatal("ANY not refused")
	}
	w := &dnsRecorder{remote: &net.UDPAddr{IP: net.ParseIP("198.51.100.1")}}
	g.ServeDNS(w, &dns.Msg{})
	if w.msgs[0].Rcode != dns.RcodeFormatError {
		t.Fatal("malformed query not FORMERR")
	}
	// RRL: burst 2 answered, then slip: every second over-limit reply is
	// truncated, the rest dropped.
	got := []string{}
	for i := 0; i < 6; i++ {
		w := ask("203.0.113.7", dns.TypeA)
		switch {
		case len(w.msgs) == 0:
			got = append(got, "drop")
		case w.msgs[0].Truncated:
			got = append(got, "TC")
		default:
			got = append(got, "ok")
		}
	}
	if strings.Join(got, ",") != "ok,ok,drop,TC,drop,TC" {
		t.Fatalf("RRL sequence %v", got)
	}
}

// TestReloadThenFlushClosesDeniedConnections: a plain reload keeps open
// connections (pf keeps its states); Listener.Flush closes those the
// rules now in force deny, and only those.
func TestReloadThenFlushClosesDeniedConnections(t *testing.T) {
	fw, _ := New(Config{})
	inner, _ := net.Listen("tcp", "127.0.0.1:0")
	ln, _ := NewListener(inner, ListenerConfig{Filter: fw})
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	keep, drop := dial("127.0.0.8"), dial("127.0.0.9")
	defer keep.Close()
	defer drop.Close()
	server := map[string]net.Conn{} // by client address
	for range 2 {
		c := <-accepted
		defer c.Close()
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		server[host] = c
	}
	// open reports whether a byte written on the server's end reaches the
	// client: a closed connection fails the write or ends the read.
	open := func(client net.Conn, ip string) bool {
		t.Helper()
		client.SetReadDeadline(time.Now().Add(5 * time.Second)) // a failure bound only
		if _, err := server[ip].Write([]byte("x")); err != nil {
			return false
		}
		_, err := client.Read(make([]byte, 1))
		return err == nil
	}
	rs, _ := ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.9\n"))
	fw.Reload(rs) // a plain reload keeps established connections
	if !open(drop, "127.0.0.9") || !open(keep, "127.0.0.8") {
		t.Fatal("plain reload dropped a connection")
	}
	if n := ln.Flush(); n != 1 {
		t.Fatalf("Flush closed %d connections, want 1", n)
	}
	if open(drop, "127.0.0.9") {
		t.Fatal("flush did not close the denied connection")
	}
	if !open(keep, "127.0.0.8") {
		t.Fatal("flush closed an allowed connection")
	}
}

// A nil rule set is refused and the rules in force stay (before, the next
// Decide dereferenced nil).
func TestReloadNilKeepsTheRules(t *testing.T) {
	rs, err := ParseRules(strings.NewReader("policy deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	fw, err := New(Config{Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Reload(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Reload(nil) = %v, want ErrInvalidConfig", err)
	}
	if v := fw.Decide(Flow{Src: netip.MustParseAddrPort("192.0.2.1:1000")}); v.Action != Deny {
		t.Fatalf("after Reload(nil): %v, want the deny rules still in force", v)
	}
}
