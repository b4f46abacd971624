package main

import (
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
	"github.com/quic-go/quic-go/http3"
)

// With -http3 the load balancer proxies HTTP/3 requests as it proxies
// HTTPS ones (X-Forwarded-Proto https), and its HTTPS responses over TCP
// advertise HTTP/3 on the same port (RFC 7838 §3).
func TestHTTP3(t *testing.T) {
	ca := testcert.NewCA(t)
	cert, key := ca.Leaf(t, "lb.example.com").Write(t, t.TempDir(), "lb")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Forwarded-Proto")+" "+r.URL.Path)
	}))
	defer backend.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-backend", strings.TrimPrefix(backend.URL, "http://"),
			"-tls-listen", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-http3"}, out, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	m := regexp.MustCompile(`https on (\S+) `).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "http3 on udp "+m[1]) {
		t.Fatalf("output:\n%s", out)
	}
	_, port, _ := strings.Cut(m[1], ":")
	cl := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "lb.example.com"}}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("https://" + m[1] + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Alt-Svc"); resp.ProtoMajor != 2 || got != `h3=":`+port+`"; ma=86400` {
		t.Errorf("%s: Alt-Svc %q", resp.Proto, got)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "lb.example.com"}}
	defer tr.Close()
	resp, err = (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + m[1] + "/b")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 || string(b) != "hello https /b" || resp.Header.Get("Alt-Svc") != "" {
		t.Errorf("h3: %s %d %q Alt-Svc %q", resp.Proto, resp.StatusCode, b, resp.Header.Get("Alt-Svc"))
	}
}
