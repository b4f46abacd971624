package firewall

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// Seeds: header values as real proxies and the RFC write them.
var (
	xffSeeds = []string{
		"203.0.113.195, 70.41.3.18, 150.172.238.178", // MDN
		"203.0.113.195:41237, 198.51.100.100:38523",  // with ports (Azure Front Door)
		"2001:db8:85a3:8d3:1319:8a2e:370:7348",
		"[2001:db8::17]:4711, 10.0.0.2",
		"unknown, 10.0.0.1",
		" \t198.51.100.7 ,, ",
		`"192.0.2.10, 198.51.100.7"`,
		"::ffff:192.0.2.1, fe80::1%eth0",
	}
	forwardedSeeds = []string{
		`for="_gazonk"`, // RFC 7239 §4 examples
		`For="[2001:db8:cafe::17]:4711"`,
		`for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for=192.0.2.43, for=198.51.100.17`,
		`for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown`, // §7.4
		`for=_hidden, for=_SEVKISEK`,                           // §6.3
		`for="192.0.2.43:_abc";proto=https`,
		`proto=http`,
		`for="\"x", for="[::1]\`,
		`for="198.51.100.7, 10.0.0.1"`,
		`for=[2001:db8::1]`,
		`;;for=198.51.100.7;;`,
	}
)

func TestParseNodeRFC7239Section6(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.43":                 "192.0.2.43",
		"192.0.2.43:47011":           "192.0.2.43",
		"192.0.2.43:_abc":            "192.0.2.43", // §6.3 obfuscated port
		"[2001:db8:cafe::17]":        "2001:db8:cafe::17",
		"[2001:db8:cafe::17]:4711":   "2001:db8:cafe::17",
		"2001:db8:cafe::17":          "2001:db8:cafe::17", // bare, as X-Forwarded-For writes it
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",         // mapped: unmapped
		"fe80::1%eth0":               "fe80::1",           // zone dropped
		"unknown":                    "",                  // §6.2
		"_gazonk":                    "",                  // §6.3
		"192.0.2.43:":                "",
		"192.0.2.43:65536":           "",
		"192.0.2.43:_":               "",
		"[192.0.2.43]":               "",
		"[2001:db8::1":               "",
		"[2001:db8::1]80":            "",
		"2001:db8::1:80]":            "",
		"[2001:db8::1]:80:80":        "",
		"010.0.0.1":                  "", // no octal guessing
		"192.0.2.43 ":                "",
		"":                           "",
		"[2001:db8:cafe::17]:_port1": "2001:db8:cafe::17",
	} {
		got, ok := parseNode(in)
		if want == "" {
			if ok {
				t.Errorf("%q: %v, want no address", in, got)
			}
			continue
		}
		if !ok || got != addr(want) {
			t.Errorf("%q: %v %v, want %s", in, got, ok, want)
		}
	}
}

func TestForwardedElementRFC7239Section4(t *testing.T) {
	for in, want := range map[string]string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`: "192.0.2.60",
		`proto=http;FOR="[2001:db8::1]:80"`:         "2001:db8::1", // §5: names are case-insensitive
		`for=192.0.2.60; proto=http`:                "192.0.2.60",  // OWS around pairs tolerated
		`;;for=192.0.2.60;`:                         "192.0.2.60",  // empty pairs
		`for="\192.0.2.60"`:                         "192.0.2.60",  // a quoted-pair undone
		`for="192.0.2.60";proto="a;b=c"`:            "192.0.2.60",  // ";" inside a quoted value
		`proto=http`:                                "",            // §5.2 no for: hides the client
		`for=192.0.2.60;for=192.0.2.61`:             "",            // a parameter twice
		`for=unknown`:                               "",
		`for="_hidden"`:                             "",
		`for=`:                                      "",
		`for="192.0.2.60`:                           "",
		`for="192.0.2.60"x`:                         "",
		`for 192.0.2.60`:                            "",
		`f(r=192.0.2.60`:                            "",
		`for= 192.0.2.60`:                           "",
		`for=192.0.2.60:80`:                         "", // ":" is no tchar: must be quoted
		"for=\"192.0.2.60\x7f\"":                    "",
		`for="` + strings.Repeat(`\1`, 80) + `"`:    "",
	} {
		got, ok := forwardedFor(in)
		if want == "" {
			if ok {
				t.Errorf("%q: %v, want no address", in, got)
			}
			continue
		}
		if !ok || got != addr(want) {
			t.Errorf("%q: %v %v, want %s", in, got, ok, want)
		}
	}
}

func TestRealIPConfig(t *testing.T) {
	for _, proxies := range [][]TrustedProxy{
		{{Prefix: pfx("10.0.0.0/8")}},
		{{Prefix: pfx("10.0.0.0/8"), Header: "X Forwarded"}},
		{{Header: "X-Forwarded-For"}},
		{{pfx("10.0.0.0/8"), "X-Forwarded-For"}, {pfx("10.0.0.0/8"), "Forwarded"}},
		{{pfx("10.0.0.0/8"), "A"}, {pfx("10.1.0.0/16"), "B"}, {pfx("10.2.0.0/16"), "C"}, {pfx("10.3.0.0/16"), "D"}, {pfx("10.4.0.0/16"), "E"}},
	} {
		if _, err := NewRealIP(proxies); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", proxies, err)
		}
	}
	ri, err := NewRealIP(nil)
	if ri != nil || err != nil {
		t.Fatalf("no proxies: %v %v", ri, err)
	}
	if s := ri.String(); !strings.Contains(s, "peer") {
		t.Errorf("nil RealIP says %q", s)
	}
	ps, err := ParseTrustedProxy("10.0.0.0/8, 192.0.2.7=x-forwarded-for")
	if err != nil || len(ps) != 2 || ps[1].Prefix != pfx("192.0.2.7/32") {
		t.Fatalf("ParseTrustedProxy: %v %v", ps, err)
	}
	ri, _ = NewRealIP(ps)
	if s := ri.String(); !strings.Contains(s, "192.0.2.7/32 maintains X-Forwarded-For") {
		t.Errorf("String: %q", s)
	}
	for _, bad := range []string{"10.0.0.0/8", "10.0.0.0/8=", "=X-Forwarded-For", "10.0.0.0/33=X-Forwarded-For", "fe80::1%eth0=Forwarded"} {
		if _, err := ParseTrustedProxy(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestRuleFileTrust: "trust" statements put the proxies in the rule set,
// and a filter without its own RealIP follows the rule set in force.
func TestRuleFileTrust(t *testing.T) {
	rs, err := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.10\ntrust 10.0.0.0/8,::1 header X-Forwarded-For\ntrust 172.16.0.0/12 header Forwarded\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.RealIP().proxies; len(got) != 3 || got[2].Header != "Forwarded" {
		t.Fatalf("proxies %v", got)
	}
	fw, _ := New(Config{Rules: rs})
	filter := mustHTTPFilter(t, HTTPConfig{Filter: fw})
	h := filter.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	send := func(xff string) int {
		r := (&spoofCase{peer: "10.0.0.1:1", headers: [][2]string{{"X-Forwarded-For", xff}}}).request()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	status := func() int { return send("192.0.2.10") }
	if c := status(); c != http.StatusForbidden {
		t.Fatalf("client behind a trusted proxy of the rule file: %d", c)
	}
	if filter.Stats().Unidentified != 0 {
		t.Fatal("a readable chain counted as unidentified")
	}
	if c := send("192.0.2.10, _junk"); c != http.StatusOK || filter.Stats().Unidentified != 1 {
		t.Fatalf("unreadable chain: %d, %+v", c, filter.Stats())
	}
	fw.Reload(mustRules(t, "policy allow\ndeny 192.0.2.10\n"))
	if c := status(); c != http.StatusOK {
		t.Fatalf("after a reload without trust the peer is the client: %d", c)
	}
	for text, line := range map[string]int{
		"trust 10.0.0.0/8 X-Forwarded-For\n":                                           1,
		"trust 10.0.0.0/8 header\n":                                                    1,
		"trust 10.0.0.0/33 header Forwarded\n":                                         1,
		"trust 10.0.0.0/8 header X-Forwarded-For\ntrust 10.0.0.0/8 header Forwarded\n": 2,
		"policy allow\ntrust 10.0.0.0/8 header X-Forwarded-For extra\n":                2,
		"trust 10.0.0.0/8 header X(Forwarded)\n":                                       1,
	} {
		_, err := ParseRules(strings.NewReader(text))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != line || strings.Contains(pe.Msg, "firewall:") {
			t.Errorf("%q: %v, want an error on line %d", text, err, line)
		}
	}
}

func mustRules(t *testing.T, s string) *RuleSet {
	t.Helper()
	rs, err := ParseRules(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// fuzzRealIP trusts 10/8 to maintain X-Forwarded-For and 172.16/12 to
// maintain Forwarded.
func fuzzRealIP(t testing.TB) *RealIP {
	ri, err := NewRealIP([]TrustedProxy{{pfx("10.0.0.0/8"), "X-Forwarded-For"}, {pfx("172.16.0.0/12"), "Forwarded"}})
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

func elements(lines []string, quoted bool) []string {
	var spans [maxHops]span
	n := splitList(lines, quoted, 1<<30, &spans)
	var out []string
	for _, s := range spans[:max(n, 0)] {
		out = append(out, lines[s.line][s.lo:s.hi])
	}
	return out
}

// checkAddr: an address a parser returns is valid and normalised.
func checkAddr(t *testing.T, a netip.Addr, ok bool) {
	if !ok {
		return
	}
	if n, _ := normalize(a); !a.IsValid() || n != a {
		t.Fatalf("parser returned %v, not a normalised address", a)
	}
}

// FuzzForwarded: whatever a client sends in Forwarded, the element the
// trusted proxy appends decides (RFC 7239 §4), unless the field is over
// the bounds (then the proxy); elements split, joined and split again are
// the same; an address the parser reads reads back the same.
func FuzzForwarded(f *testing.F) {
	for _, s := range forwardedSeeds {
		f.Add(s)
	}
	ri := fuzzRealIP(f)
	f.Fuzz(func(t *testing.T, client string) {
		const real = "198.51.100.7"
		lines := []string{client, "for=" + real}
		got, complete := ri.walk(addr("172.16.0.1"), http.Header{"Forwarded": lines})
		// Read from the right: no client line hides the proxy's.
		if got != addr(real) || !complete {
			t.Fatalf("client line %q moved the client to %v %v", client, got, complete)
		}
		if strings.ContainsAny(client, "\r\n") {
			return
		}
		elems := elements([]string{client}, true)
		if again := elements([]string{strings.Join(elems, ", ")}, true); strings.Join(again, "\x00") != strings.Join(elems, "\x00") {
			t.Fatalf("split %q: %q, joined and split again: %q", client, elems, again)
		}
		for _, e := range elems {
			a, ok := forwardedFor(e)
			checkAddr(t, a, ok)
			if ok {
				node := a.String()
				if a.Is6() {
					node = "[" + node + "]"
				}
				if b, ok := forwardedFor(`for="` + node + `"`); !ok || b != a {
					t.Fatalf("%v read back as %v %v", a, b, ok)
				}
			}
		}
	})
}

// FuzzXForwardedFor: whatever a client sends in X-Forwarded-For, the
// address nginx appends ($proxy_add_x_forwarded_for: same line, after a
// comma) decides unless over the bounds; one field line or one line per
// element read the same; addresses read back with and without a port.
func FuzzXForwardedFor(f *testing.F) {
	for _, s := range xffSeeds {
		f.Add(s)
	}
	ri := fuzzRealIP(f)
	f.Fuzz(func(t *testing.T, client string) {
		const real = "198.51.100.7"
		lines := []string{client + ", " + real}
		got, complete := ri.walk(addr("10.0.0.1"), http.Header{"X-Forwarded-For": lines})
		// Read from the right: no client padding hides what nginx appends.
		if got != addr(real) || !complete {
			t.Fatalf("client %q moved the client to %v %v", client, got, complete)
		}
		one := []string{client}
		many := strings.Split(client, ",")
		if len(many) <= maxHops {
			a1, c1 := ri.walk(addr("10.0.0.1"), http.Header{"X-Forwarded-For": one})
			a2, c2 := ri.walk(addr("10.0.0.1"), http.Header{"X-Forwarded-For": many})
			if a1 != a2 || c1 != c2 {
				t.Fatalf("%q: one line %v %v, a line per element %v %v", client, a1, c1, a2, c2)
			}
		}
		for _, e := range elements(one, false) {
			a, ok := parseNode(e)
			checkAddr(t, a, ok)
			if ok {
				if b, ok := parseNode(a.String()); !ok || b != a {
					t.Fatalf("%v read back as %v", a, b)
				}
				if b, ok := parseNode(netip.AddrPortFrom(a, 4711).String()); !ok || b != a {
					t.Fatalf("%v with a port read back as %v", a, b)
				}
			}
		}
	})
}

// FuzzClientAddr: an untrusted peer is the client whatever the headers; a
// complete walk ends at an untrusted address; a readable peer always
// gives an address.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 172.16.0.2", `for="[::1]:80"`)
	f.Add("203.0.113.5:1", "192.0.2.10", "for=192.0.2.10")
	f.Add("[::ffff:172.16.0.1]:1", "", "proto=http")
	for i, s := range xffSeeds {
		f.Add("10.0.0.1:1", s, forwardedSeeds[i])
	}
	ri := fuzzRealIP(f)
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		r.Header["Forwarded"] = strings.Split(fwd, "\n")
		a, complete := ri.ClientAddr(r)
		p, peerOK := remoteAddr(peer)
		if peerOK != a.IsValid() {
			t.Fatalf("peer %q readable %v, address %v", peer, peerOK, a)
		}
		checkAddr(t, a, a.IsValid())
		if _, trusted := ri.table.Lookup(p); peerOK && !trusted && (a != p || !complete) {
			t.Fatalf("headers overrode an untrusted peer: %v", a)
		}
		if _, trusted := ri.table.Lookup(a); complete && trusted {
			t.Fatalf("complete walk ended at a trusted proxy %v", a)
		}
	})
}
