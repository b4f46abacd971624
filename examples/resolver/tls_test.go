package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/miekg/dns"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTLSResolver runs the command over a loopback hierarchy with
// -listen-tls and -listen-https and the extra args; it returns the two
// addresses, the CA that signed the certificate (for dns.example.net) and
// what it printed. Cleanup stops it.
func startTLSResolver(t *testing.T, extra ...string) (dot, doh string, ca *testcert.CA, out *lockedBuffer) {
	t.Helper()
	port, stop, err := startHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	dir := t.TempDir()
	hints := filepath.Join(dir, "root.hints")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.2\n"), 0o644)
	ca = testcert.NewCA(t)
	cert, key := ca.Leaf(t, "dns.example.net").Write(t, dir, "dns")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out = &lockedBuffer{}
	args := append([]string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", strconv.Itoa(port), "-allow-loopback",
		"-listen-tls", "127.0.0.1:0", "-listen-https", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key}, extra...)
	go func() { done <- run(ctx, args, out, ready) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("not ready")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	m := regexp.MustCompile(`dns over tls on (\S+) `).FindStringSubmatch(out.String())
	h := regexp.MustCompile(`dns over https on https://(\S+)/dns-query `).FindStringSubmatch(out.String())
	if m == nil || h == nil || !strings.Contains(out.String(), "dns.crt (default) for dns.example.net") {
		t.Fatalf("output:\n%s", out)
	}
	return m[1], h[1], ca, out
}

// RFC 7858: DNS over TLS, TCP framing (§3.3), with miekg/dns's client
// (Net "tcp-tls"); the certificate verifies for the server's name, and
// a client offering ALPN "dot" is served.
func TestRFC7858_DNSOverTLS(t *testing.T) {
	dot, _, ca, _ := startTLSResolver(t)
	for _, alpn := range [][]string{nil, {"dot"}} {
		c := &dns.Client{Net: "tcp-tls", Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "dns.example.net", NextProtos: alpn}}
		q := new(dns.Msg)
		q.SetQuestion("www.shop.com.", dns.TypeA)
		resp, _, err := c.Exchange(q, dot)
		if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 3 || resp.Id != q.Id {
			t.Fatalf("ALPN %v: %v %v", alpn, resp, err)
		}
	}
	// A client that offers only h2 is refused (no_application_protocol).
	c, err := tls.Dial("tcp", dot, &tls.Config{RootCAs: ca.Pool, ServerName: "dns.example.net", NextProtos: []string{"h2"}})
	if err == nil {
		c.Close()
		t.Error("DoT handshake offering only h2 succeeded")
	}
}

// RFC 7858 §3.3 with RFC 7766 §6.2.1.1: several queries pipelined on one
// connection are all answered, each with its own ID, in whatever order
// they are ready.
func TestRFC7858_3_3_Pipelined(t *testing.T) {
	dot, _, ca, _ := startTLSResolver(t)
	tc, err := tls.Dial("tcp", dot, &tls.Config{RootCAs: ca.Pool, ServerName: "dns.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	conn := &dns.Conn{Conn: tc}
	names := []string{"www.shop.com.", "nope.shop.com.", "www.shop.com.", "shop.com."}
	want := map[uint16]string{}
	for i, n := range names {
		q := new(dns.Msg)
		q.SetQuestion(n, dns.TypeA)
		q.Id = uint16(100 + i)
		want[q.Id] = n
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range names {
		m, err := conn.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := want[m.Id]; !ok || m.Question[0].Name != n {
			t.Errorf("reply %d for %v: unexpected", m.Id, m.Question)
		}
		delete(want, m.Id)
	}
}

// dohClient speaks HTTP/2 only.
func dohClient(t *testing.T, ca *testcert.CA) *http.Client {
	var h2 http.Protocols
	h2.SetHTTP2(true)
	tr := &http.Transport{Protocols: &h2, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "dns.example.net"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func query(t *testing.T, name string, qtype uint16) []byte {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = 0 // RFC 8484 §4.1
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func dohAnswer(t *testing.T, do func() (*http.Response, error)) (*dns.Msg, *http.Response) {
	t.Helper()
	resp, err := do()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "application/dns-message" {
		t.Fatalf("%s %d %s %q", resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return m, resp
}

// RFC 8484 §4.1: GET with the query base64url-encoded, without padding, in
// "dns", and POST of application/dns-message, over HTTP/2 (§5.2); §5.1:
// the freshness lifetime is at most the smallest TTL of the answer, and a
// negative answer's at most its SOA's MINIMUM (the resolver caps the
// SOA's TTL at it, RFC 2308 §5).
func TestRFC8484_DNSOverHTTPS(t *testing.T) {
	_, doh, ca, _ := startTLSResolver(t)
	cl := dohClient(t, ca)
	url := "https://" + doh + "/dns-query"
	m, resp := dohAnswer(t, func() (*http.Response, error) {
		return cl.Get(url + "?dns=" + base64.RawURLEncoding.EncodeToString(query(t, "www.shop.com.", dns.TypeA)))
	})
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 3 || m.Id != 0 {
		t.Fatalf("GET: %v", m)
	}
	minTTL := m.Answer[0].Header().Ttl
	for _, rr := range m.Answer {
		minTTL = min(minTTL, rr.Header().Ttl)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age="+strconv.Itoa(int(minTTL)) {
		t.Errorf("GET: Cache-Control %q, smallest TTL %d", cc, minTTL)
	}
	m, resp = dohAnswer(t, func() (*http.Response, error) {
		return cl.Post(url, "application/dns-message", bytes.NewReader(query(t, "nope.shop.com.", dns.TypeA)))
	})
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Fatalf("POST: %v", m)
	}
	soa := m.Ns[0].(*dns.SOA)
	var maxAge int
	if _, err := fmt.Sscanf(resp.Header.Get("Cache-Control"), "max-age=%d", &maxAge); err != nil || maxAge > int(soa.Minttl) || maxAge > int(soa.Hdr.Ttl) {
		t.Errorf("POST NXDOMAIN: Cache-Control %q, SOA TTL %d MINIMUM %d", resp.Header.Get("Cache-Control"), soa.Hdr.Ttl, soa.Minttl)
	}
}

// RFC 8484 §4.1 and §6: what is not a DNS query in the right form gets a
// 4xx, never an answer: a dns parameter that is not base64url without
// padding, or not a DNS message; no parameter; a POST of another type.
func TestRFC8484_MalformedRequests(t *testing.T) {
	_, doh, ca, _ := startTLSResolver(t)
	cl := dohClient(t, ca)
	url := "https://" + doh + "/dns-query"
	good := base64.RawURLEncoding.EncodeToString(query(t, "www.shop.com.", dns.TypeA))
	for _, tc := range []struct {
		name string
		do   func() (*http.Response, error)
		want int
	}{
		{"not base64url", func() (*http.Response, error) { return cl.Get(url + "?dns=%2B%2F%2B%2F") }, 400},
		{"padded", func() (*http.Response, error) {
			padded := base64.URLEncoding.EncodeToString(query(t, "ww.shop.com.", dns.TypeA)) // 29 bytes: "=" at the end
			if !strings.HasSuffix(padded, "=") {
				t.Fatalf("%s is not padded", padded)
			}
			return cl.Get(url + "?dns=" + padded)
		}, 400},
		{"short", func() (*http.Response, error) { return cl.Get(url + "?dns=AAAA") }, 400},
		{"no parameter", func() (*http.Response, error) { return cl.Get(url) }, 400},
		{"truncated message", func() (*http.Response, error) { return cl.Get(url + "?dns=" + good[:len(good)-6]) }, 400},
		{"POST text/plain", func() (*http.Response, error) {
			return cl.Post(url, "text/plain", bytes.NewReader(query(t, "www.shop.com.", dns.TypeA)))
		}, 415},
		{"PUT", func() (*http.Response, error) {
			req, _ := http.NewRequest("PUT", url, nil)
			return cl.Do(req)
		}, 405},
		{"other path", func() (*http.Response, error) { return cl.Get("https://" + doh + "/?dns=" + good) }, 404},
	} {
		resp, err := tc.do()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") == "application/dns-message" {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want)
		}
	}
}

// The access list (-allow) applies to DNS over TLS and HTTPS as to UDP
// and TCP: a client it does not admit (here loopback, with -allow naming
// another network) gets REFUSED, without recursion available.
func TestTLSAndHTTPSRefuseClientsNotAllowed(t *testing.T) {
	dot, doh, ca, out := startTLSResolver(t, "-allow", "192.0.2.0/24")
	if !strings.Contains(out.String(), "clients answered: 192.0.2.0/24") {
		t.Fatalf("output:\n%s", out)
	}
	c := &dns.Client{Net: "tcp-tls", Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "dns.example.net"}}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	resp, _, err := c.Exchange(q, dot)
	if err != nil || resp.Rcode != dns.RcodeRefused || len(resp.Answer) != 0 {
		t.Errorf("DoT from a client not allowed: %v %v", resp, err)
	}
	m, _ := dohAnswer(t, func() (*http.Response, error) {
		return dohClient(t, ca).Post("https://"+doh+"/dns-query", "application/dns-message", bytes.NewReader(query(t, "www.shop.com.", dns.TypeA)))
	})
	if m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
		t.Errorf("DoH from a client not allowed: %v", m)
	}
}

func TestTLSFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-listen-tls", "127.0.0.1:0"},
		{"-listen-https", "127.0.0.1:0"},
		{"-tls-cert", "a.crt", "-tls-key", "a.key"},
		{"-listen-tls", "127.0.0.1:0", "-tls-cert", "a.crt"},
		{"-listen-tls", "127.0.0.1:0", "-tls-cert", "/nonexistent.crt", "-tls-key", "/nonexistent.key"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := run(ctx, append(args, "-listen", "127.0.0.1:0"), &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
		cancel()
	}
}
