package firewall

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// TestVerdictSaysWhetherAnythingMatched: a verdict by the default policy
// is told apart from one by a rule or a list entry, whatever the action.
func TestVerdictSaysWhetherAnythingMatched(t *testing.T) {
	rs := mustRules(t, "policy deny\ndeny 192.0.2.0/24\nallow 198.51.100.0/24\nrule web allow tcp to 203.0.113.1 port 443\n")
	for _, c := range []struct {
		flow    Flow
		action  Action
		matched bool
		rule    string
	}{
		{Flow{Src: netip.MustParseAddrPort("192.0.2.1:1"), Proto: TCP}, Deny, true, "deny list"},
		{Flow{Src: netip.MustParseAddrPort("198.51.100.1:1"), Proto: TCP}, Allow, true, "allow list"},
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:1"), Dst: netip.MustParseAddrPort("203.0.113.1:443"), Proto: TCP}, Allow, true, "web"},
		{Flow{Src: netip.MustParseAddrPort("203.0.113.9:1"), Proto: TCP}, Deny, false, "default"},
		{Flow{}, Deny, false, "default"}, // a peer that is no IP address
	} {
		if v := rs.Decide(c.flow); v.Action != c.action || v.Matched != c.matched || v.Rule != c.rule {
			t.Errorf("%v: %+v, want %v matched=%v by %q", c.flow.Src, v, c.action, c.matched, c.rule)
		}
	}
	// The address-only fast path (no ordered rules) says so too.
	lists := mustRules(t, "policy allow\ndeny 192.0.2.0/24\n")
	if v := lists.Decide(Flow{Src: netip.MustParseAddrPort("203.0.113.9:1")}); v.Matched || v.Action != Allow {
		t.Errorf("default on the fast path: %+v", v)
	}
	if v := lists.Decide(Flow{Src: netip.MustParseAddrPort("192.0.2.9:1")}); !v.Matched || v.Action != Deny {
		t.Errorf("list on the fast path: %+v", v)
	}
}

// denyList is a Filter written as a user would: no firewall types inside.
type denyList struct {
	deny  netip.Addr
	calls atomic.Int64
}

func (d *denyList) Decide(f Flow) Verdict {
	d.calls.Add(1)
	if f.Src.Addr() == d.deny {
		return Verdict{Action: Deny, Matched: true, Rule: "mine"}
	}
	return Verdict{Action: Allow, Matched: true, Rule: "mine"}
}

// TestBlocksTakeAnyFilter: the listener, the HTTP filter and the DNS
// guard judge with a Filter that is not a *Firewall.
func TestBlocksTakeAnyFilter(t *testing.T) {
	f := &denyList{deny: addr("127.0.0.66")}

	pl := &pipeListener{conns: make(chan net.Conn, 1)}
	ln, err := NewListener(pl, ListenerConfig{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer b.Close()
	pl.conns <- a
	close(pl.conns)
	if c, err := ln.Accept(); err != nil {
		t.Fatalf("listener: %v", err)
	} else {
		c.Close()
	}

	hf := mustHTTPFilter(t, HTTPConfig{Filter: f})
	h := hf.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for peer, want := range map[string]int{"127.0.0.66:1": http.StatusForbidden, "127.0.0.1:1": http.StatusOK} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("HTTP from %s: %d, want %d", peer, w.Code, want)
		}
	}

	g, err := NewDNSGuard(dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	}), DNSGuardConfig{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	w := &dnsRecorder{remote: &net.UDPAddr{IP: net.ParseIP("127.0.0.66"), Port: 53}}
	g.ServeDNS(w, q)
	if len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeRefused {
		t.Errorf("DNS from a denied source: %v", w.msgs)
	}
	if n := f.calls.Load(); n != 4 {
		t.Errorf("Decide called %d times, want 4", n)
	}
}

// TestHTTPFilterReadsProxiesFromAnyFilter: a Filter with a RealIP method
// names the trusted proxies, as a *Firewall does.
func TestHTTPFilterReadsProxiesFromAnyFilter(t *testing.T) {
	rs := mustRules(t, "policy allow\ndeny 192.0.2.10\ntrust 10.0.0.0/8 header X-Forwarded-For\n")
	h := mustHTTPFilter(t, HTTPConfig{Filter: rs}).Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "192.0.2.10")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("client behind a proxy the *RuleSet trusts: %d, want 403", w.Code)
	}
}

// TestConstructorsRefuseBadConfig: every constructor says what is wrong
// instead of running with a config it cannot honour.
func TestConstructorsRefuseBadConfig(t *testing.T) {
	next := dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {})
	fw, _ := New(Config{})
	inner := &pipeListener{}
	for name, err := range map[string]error{
		"listener without filter":   second(NewListener(inner, ListenerConfig{})),
		"listener without inner":    second(NewListener(nil, ListenerConfig{Filter: fw})),
		"listener negative cap":     second(NewListener(inner, ListenerConfig{Filter: fw, MaxConnsPerSource: -1})),
		"HTTP negative body limit":  second(NewHTTPFilter(HTTPConfig{MaxBodyBytes: -1})),
		"HTTP deny status 200":      second(NewHTTPFilter(HTTPConfig{DenyStatus: 200})),
		"HTTP rule with bad action": second(NewHTTPFilter(HTTPConfig{Rules: []HTTPRule{{Action: 7}}})),
		"DNS guard without next":    second(NewDNSGuard(nil, DNSGuardConfig{})),
		"DNS guard negative slip":   second(NewDNSGuard(next, DNSGuardConfig{Slip: -1})),
		"listener nil *Firewall":    second(NewListener(inner, ListenerConfig{Filter: (*Firewall)(nil)})),
		"HTTP nil *RuleSet":         second(NewHTTPFilter(HTTPConfig{Filter: (*RuleSet)(nil)})),
		"DNS guard nil *Firewall":   second(NewDNSGuard(next, DNSGuardConfig{Filter: (*Firewall)(nil)})),
	} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "firewall: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestConfigSlicesAreCopied: a caller reusing its config slices after
// NewRuleSet or NewHTTPFilter changes nothing (and races with nothing).
func TestConfigSlicesAreCopied(t *testing.T) {
	rules := []Rule{{Name: "ssh", Action: Deny, Ports: []PortRange{{22, 22}}}}
	rs, err := NewRuleSet(RuleSetConfig{Default: Allow, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	rules[0].Ports[0] = PortRange{80, 80}
	if v := rs.Decide(Flow{Src: netip.MustParseAddrPort("192.0.2.1:1"), Dst: netip.MustParseAddrPort("192.0.2.2:22")}); v.Action != Deny {
		t.Errorf("rule changed under the rule set: %+v", v)
	}
	hr := []HTTPRule{{Name: "no-trace", Action: Deny, Methods: []string{"TRACE"}}}
	h := mustHTTPFilter(t, HTTPConfig{Rules: hr}).Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	hr[0].Methods[0], hr[0].Action = "GET", Allow
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("TRACE", "/", nil))
	if w.Code != http.StatusForbidden {
		t.Errorf("HTTP rule changed under the filter: %d", w.Code)
	}
}

// TestDNSGuardJudgesTheTransportUsed: a query over TCP is judged as TCP,
// so a rule for UDP (say, against reflection) leaves TCP clients alone.
func TestDNSGuardJudgesTheTransportUsed(t *testing.T) {
	rs := mustRules(t, "policy allow\nrule no-udp deny udp\n")
	g, err := NewDNSGuard(dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	}), DNSGuardConfig{Filter: rs})
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[net.Addr]int{
		&net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 53}: dns.RcodeRefused,
		&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 53}: dns.RcodeSuccess,
	} {
		q := new(dns.Msg)
		q.SetQuestion("example.com.", dns.TypeA)
		w := &dnsRecorder{remote: remote}
		g.ServeDNS(w, q)
		if len(w.msgs) != 1 || w.msgs[0].Rcode != want {
			t.Errorf("%s: %v, want %s", remote.Network(), w.msgs, dns.RcodeToString[want])
		}
	}
}

// TestHTTPFilterNoAllocs: an allowed request behind a trusted proxy,
// judged by a Firewall or by a Filter of the user's, rate-limited, costs
// the filter no allocation.
func TestHTTPFilterNoAllocs(t *testing.T) {
	rs := mustRules(t, "policy allow\ndeny 192.0.2.0/24\n")
	fw, _ := New(Config{Rules: rs})
	lim, _ := NewLimiter(LimiterConfig{Rate: 1e9, Burst: 1 << 30})
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for name, f := range map[string]Filter{"Firewall": fw, "RuleSet": rs, "own": &denyList{deny: addr("192.0.2.1")}} {
		h := mustHTTPFilter(t, HTTPConfig{Filter: f, Limiter: lim, RealIP: benchRealIP(t)}).Wrap(next)
		for _, c := range behindProxy {
			r := httptest.NewRequest("GET", "/assets/app.js?v=3", nil)
			r.RemoteAddr = c.peer
			r.Header.Set(c.hdr, c.val)
			w := httptest.NewRecorder()
			if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 || w.Code != http.StatusOK {
				t.Errorf("%s/%s: %v allocations, status %d", name, c.name, n, w.Code)
			}
		}
	}
}
