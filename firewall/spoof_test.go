package firewall

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// forged is the address the attacker claims, real the client it is.
const forged, real = "192.0.2.10", "198.51.100.7"

// spoofCase is one request reaching us, with the address it must be
// judged by.
type spoofCase struct {
	name    string
	proxies []spoofProxy // prefix=header
	peer    string
	headers [][2]string // field lines in order
	want    string
}

var nginxXFF = []spoofProxy{{"10.0.0.0/8", "X-Forwarded-For"}}
var proxyFwd = []spoofProxy{{"10.0.0.0/8", "Forwarded"}}

func h(kv ...string) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

var spoofCases = []spoofCase{
	// The first case: the proxy maintains XFF, the client adds
	// a Forwarded field of its own; only XFF may be read.
	{"RFC7239§4/forged Forwarded when the proxy maintains XFF", nginxXFF, "10.0.0.1:4711",
		h("Forwarded", "for="+forged, "X-Forwarded-For", real), real},
	{"RFC7239§4/forged Forwarded, proto only in XFF-proxy chain", nginxXFF, "10.0.0.1:4711",
		h("Forwarded", `for="`+forged+`";proto=https`, "X-Forwarded-For", forged+", "+real), real},
	{"XFF/forged entries prepended by the client", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", forged+", 203.0.113.99, "+real), real},
	{"XFF/forged trusted-looking entry prepended", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", "10.0.0.9, "+real), real},
	{"RFC9110§5.3/multiple XFF field lines, client's line first", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", forged, "X-Forwarded-For", real), real},
	{"RFC9110§5.6.1/XFF whitespace, empty elements and a port", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", " "+forged+" ,, \t"+real+":4711 \t"), real},
	// A client cannot pad XFF to push the address its proxy appended out
	// of reach: the field is read from the right, so padding on the left
	// is never reached (judging the client as the proxy instead bypassed
	// a deny list behind nginx with a 5 KiB XFF).
	{"XFF/client padding over 4 KiB: still the address appended", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", strings.Repeat(forged+", ", 400)+real), real},
	{"XFF/client padding as one 8 KiB element: still the address appended", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", strings.Repeat("a", 8<<10)+", "+real), real},
	{"XFF/client padding in its own field lines: still the address appended", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", strings.Repeat(forged+",", 500), "X-Forwarded-For", real), real},
	{"XFF/client padding with more elements than maxHops: still the address appended", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", strings.Repeat(forged+", ", maxHops+10)+real), real},
	{"XFF/more trusted elements than maxHops: the last hop read", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", real+", "+strings.Repeat("10.0.0.3, ", maxHops)+"10.0.0.3"), "10.0.0.3"},
	{"XFF/the chain goes on past 4 KiB: the last hop read", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", real+", "+strings.Repeat("10.0.0.3,", 500)+"10.0.0.3"), "10.0.0.3"},
	{"XFF/junk element where the client must be: the peer", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", forged+", not-an-ip"), "10.0.0.1"},
	{"XFF/junk to the left of the client is never read", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", "not-an-ip, "+real), real},
	{"XFF/quoted comma: the peer", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", `"`+forged+`, `+real+`"`), "10.0.0.1"},
	{"XFF/unknown: the peer", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", "unknown"), "10.0.0.1"},
	{"XFF/absent behind a trusted peer: the peer", nginxXFF, "10.0.0.1:4711",
		h("Forwarded", "for="+forged), "10.0.0.1"},
	{"RFC7239§5.2/Forwarded proto=http without for: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", "proto=http"), "10.0.0.1"},
	{"RFC7239§5.2/Forwarded proto=http beside an XFF proxy: XFF read", nginxXFF, "10.0.0.1:4711",
		h("Forwarded", "proto=http", "X-Forwarded-For", real), real},
	{"RFC7239§4/forged element prepended in the proxy's line", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", "for="+forged+", for="+real+";proto=https;by=10.0.0.1"), real},
	{"RFC7239§4/forged field line before the proxy's", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", "for="+forged, "Forwarded", "For="+real), real},
	{"RFC7239§4/quoted comma: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="`+forged+`, `+real+`"`), "10.0.0.1"},
	// Read from the right: a quoted-string the client leaves open does
	// not swallow the element its proxy appended on the same line (it
	// judged the client as the proxy, bypassing a deny list).
	{"RFC7239§4/unterminated quote does not swallow the proxy's element", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="`+forged+`, for=`+real), real},
	{"RFC7239§4/client padding over 4 KiB: still the element appended", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", strings.Repeat("for="+forged+", ", 400)+"for="+real), real},
	{"RFC7239§4/client padding with quoted commas over 4 KiB: still the element appended", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", strings.Repeat(`for="`+forged+`, x", `, 300)+`for="`+real+`:4711"`), real},
	{"RFC7239§4/quoted-pair left of the proxy's element", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="a\"b", for=`+real), real},
	{"RFC7239§4/quoted-pair where the client must be: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="`+forged+`\"", for=10.0.0.2`), "10.0.0.2"},
	{"RFC7239§4/unterminated quote in the client's own line", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="`+forged, "Forwarded", "for="+real), real},
	{"RFC7239§4/for twice in one element: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", "for="+real+";for="+forged), "10.0.0.1"},
	{"RFC7239§4/junk element: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", forged), "10.0.0.1"},
	{"RFC7239§6/IPv6 in quotes and brackets with a port", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for=`+forged+`, for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
	{"RFC7239§6/unquoted IPv6 is malformed: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for=[2001:db8:cafe::17]`), "10.0.0.1"},
	{"RFC7239§6/IPv6 in XFF, bracketed with a port", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", forged+", [2001:db8:cafe::17]:4711"), "2001:db8:cafe::17"},
	{"RFC7239§6/IPv6 proxy and client", []spoofProxy{{"2001:db8::/64", "X-Forwarded-For"}}, "[2001:db8::1]:4711",
		h("X-Forwarded-For", forged+", 2001:db8:cafe::17"), "2001:db8:cafe::17"},
	{"RFC7239§6.3/obfuscated identifier: the peer", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="_gazonk"`), "10.0.0.1"},
	{"RFC7239§6.3/unknown behind a second proxy: the nearest identified hop", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", "for="+forged+", for=unknown, for=10.0.0.2"), "10.0.0.2"},
	{"RFC7239§6.3/obfuscated port keeps the address", proxyFwd, "10.0.0.1:4711",
		h("Forwarded", `for="`+real+`:_port1"`), real},
	{"trusted proxy chain of two hops", nginxXFF, "10.0.0.1:4711",
		h("X-Forwarded-For", forged+", "+real+", 10.0.0.2"), real},
	{"trusted proxy chain of two hops, two headers (CDN Forwarded, nginx XFF)",
		[]spoofProxy{{"10.0.0.0/8", "X-Forwarded-For"}, {"172.16.0.0/12", "Forwarded"}}, "10.0.0.1:4711",
		h("X-Forwarded-For", forged+", 172.16.0.5", "Forwarded", "for="+forged+", for="+real), real},
	{"mapped IPv4 peer", nginxXFF, "[::ffff:10.0.0.1]:4711",
		h("X-Forwarded-For", real), real},
	{"peer not trusted: headers ignored entirely", nginxXFF, "203.0.113.5:4711",
		h("X-Forwarded-For", forged, "Forwarded", "for="+forged), "203.0.113.5"},
	{"no trusted proxy: headers ignored entirely", nil, "10.0.0.1:4711",
		h("X-Forwarded-For", forged, "Forwarded", "for="+forged), "10.0.0.1"},
}

func (c *spoofCase) request() *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = c.peer
	for _, kv := range c.headers {
		r.Header.Add(kv[0], kv[1])
	}
	return r
}

// TestSpoofedClientAddress judges every case against a deny list, an
// allow list and the rate limiter, each naming the address the request
// must be judged by, and the forged one.
func TestSpoofedClientAddress(t *testing.T) {
	status := func(c *spoofCase, rules string, lim *Limiter) int {
		w := httptest.NewRecorder()
		spoofHandler(t, c.proxies, rules, lim).ServeHTTP(w, c.request())
		return w.Code
	}
	for _, c := range spoofCases {
		t.Run(c.name, func(t *testing.T) {
			if got := status(&c, "policy allow\ndeny "+c.want+"\n", nil); got != http.StatusForbidden {
				t.Errorf("deny list holding %s: status %d, want 403", c.want, got)
			}
			if got := status(&c, "policy deny\nallow "+c.want+"\n", nil); got != http.StatusOK {
				t.Errorf("allow list holding %s: status %d, want 200", c.want, got)
			}
			if c.want != forged {
				if got := status(&c, "policy allow\ndeny "+forged+"\n", nil); got != http.StatusOK {
					t.Errorf("deny list holding the forged %s: status %d, want 200", forged, got)
				}
				if got := status(&c, "policy deny\nallow "+forged+"\n", nil); got != http.StatusForbidden {
					t.Errorf("allow list holding only the forged %s: status %d, want 403", forged, got)
				}
			}
			fc := clock.NewFake(time.Time{})
			lim, err := NewLimiter(LimiterConfig{Rate: 1, Burst: 2, Now: fc.Now})
			if err != nil {
				t.Fatal(err)
			}
			passed := 0
			for range 50 {
				if status(&c, "policy allow\n", lim) == http.StatusOK {
					passed++
				}
			}
			if passed != 2 {
				t.Errorf("rate limit burst 2: %d of 50 passed", passed)
			}
			if _, ok := lim.buckets.Peek(lim.source(addr(c.want))); !ok {
				t.Errorf("no bucket for %s", c.want)
			}
		})
	}
}
