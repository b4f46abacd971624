package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
)

// The edge serves HTTPS with two certificates by SNI, h2 by ALPN, HSTS
// on HTTPS only, a 308 redirect listener, and says at start what it
// serves; origins behind it are reached over verified TLS with mTLS.
func TestHTTPS(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) { testHTTPS(t, front) })
	}
}

func testHTTPS(t *testing.T, front string) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	c1, k1 := ca.Leaf(t, "www.example.com").Write(t, dir, "www")
	c2, k2 := ca.Leaf(t, "*.example.net").Write(t, dir, "wild")
	caFile := dir + "/ca.pem"
	testcert.WriteFile(t, caFile, ca.PEM)
	cc, ck := ca.Leaf(t, "edge.client").Write(t, dir, "client")

	// An https origin that requires a client certificate.
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello from "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1", "localhost").TLS(t)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	origin.StartTLS()
	defer origin.Close()
	originURL := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1)

	plain, out := startEdge(t, "-front", front, "-origin", originURL,
		"-origin-ca", caFile, "-origin-cert", cc, "-origin-key", ck,
		"-tls-listen", "127.0.0.1:0", "-tls-cert", c1, "-tls-key", k1, "-tls-cert", c2, "-tls-key", k2,
		"-redirect-listen", "127.0.0.1:0", "-hsts", "24h")
	printed := out.String()
	m := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(printed)
	r := regexp.MustCompile(`redirect to https on http://(\S+)`).FindStringSubmatch(printed)
	if m == nil || r == nil || !strings.Contains(printed, "www.crt (default) for www.example.com") || !strings.Contains(printed, "wild.crt for *.example.net") {
		t.Fatalf("output does not say what it serves:\n%s", printed)
	}
	httpsAddr, redirectAddr := m[1], r[1]

	for _, sni := range []string{"www.example.com", "img.example.net"} {
		cl := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: sni}}}
		var cache []string
		for range 2 {
			resp, err := cl.Get("https://" + httpsAddr + "/page")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || string(b) != "hello from edge.client" || resp.Header.Get("Strict-Transport-Security") != "max-age=86400" {
				t.Errorf("%s: %s %q HSTS %q", sni, resp.Proto, b, resp.Header.Get("Strict-Transport-Security"))
			}
			cache = append(cache, resp.Header.Get("X-Cache"))
		}
		if cache[1] != "HIT" {
			t.Errorf("%s: X-Cache %v, want a HIT second", sni, cache)
		}
		cl.CloseIdleConnections()
	}
	// No HSTS over plain HTTP (RFC 6797 §7.2).
	if _, _, h := send(t, "GET", "http://"+plain+"/page"); h.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	// The redirect listener: 308, path and query kept, the TLS port.
	_, port, _ := strings.Cut(httpsAddr, ":")
	req, _ := http.NewRequest("POST", "http://"+redirectAddr+"/a/b?x=1", nil)
	req.Host = "www.example.com:80"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://www.example.com:" + port + "/a/b?x=1"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func TestTLSFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-tls-listen", "127.0.0.1:0"},
		{"-tls-cert", "a.crt"},
		{"-tls-listen", "127.0.0.1:0", "-tls-cert", "a.crt", "-tls-key", "a.key", "-tls-cert", "b.crt"},
		{"-redirect-listen", "127.0.0.1:0"},
		{"-hsts", "1h"},
		{"-tls-listen", "127.0.0.1:0", "-tls-cert", "/nonexistent.crt", "-tls-key", "/nonexistent.key"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := run(ctx, append(args, "-admin", "", "-listen", "127.0.0.1:0"), &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
		cancel()
	}
}
