package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/pebbletest"
)

// -acme without -redirect-listen: the certificate is obtained over
// TLS-ALPN-01 alone (RFC 8737), answered by the HTTPS listener.
func TestACMETLSALPN(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	dir := t.TempDir()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") }))
	defer backend.Close()
	out := &pebbletest.Output{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-mode", "http", "-listen", "127.0.0.1:0", "-backend", backend.URL,
			"-tls-listen", "127.0.0.1:0", "-acme", "lb.example.test",
			"-acme-ca", ca.URL, "-acme-ca-root", ca.WriteRoots(t, dir), "-acme-dir", dir}, out, ready)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil && err != http.ErrServerClosed {
			t.Errorf("shutdown: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("load balancer did not start")
	}
	m := regexp.MustCompile(`https on (\S+) `).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "challenges: tls-alpn-01 on ") || strings.Contains(out.String(), "http-01") {
		t.Fatalf("output:\n%s", out.String())
	}
	ca.Forward("127.0.0.1:1", m[1])
	out.WaitFor(t, "acme: certificate for lb.example.test obtained", time.Minute)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", m[1], &tls.Config{ServerName: "lb.example.test", RootCAs: ca.Issuers()})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ca.Validations("tls-alpn-01") == 0 || ca.Validations("http-01") != 0 {
		t.Errorf("validations: http-01 %d, tls-alpn-01 %d", ca.Validations("http-01"), ca.Validations("tls-alpn-01"))
	}
}
