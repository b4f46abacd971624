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
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
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

// HTTPS in front (h2 by ALPN, HSTS), mTLS toward an https backend with
// its certificate verified against -backend-ca.
func TestHTTPSBothSides(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) { testHTTPSBothSides(t, front) })
	}
}

func testHTTPSBothSides(t *testing.T, front string) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	cert, key := ca.Leaf(t, "lb.example.com").Write(t, dir, "lb")
	cc, ck := ca.Leaf(t, "lb.client").Write(t, dir, "client")
	caFile := dir + "/ca.pem"
	testcert.WriteFile(t, caFile, ca.PEM)
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName+" "+r.Header.Get("X-Forwarded-Proto"))
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "localhost").TLS(t)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	backend.StartTLS()
	defer backend.Close()
	baddr := strings.Replace(strings.TrimPrefix(backend.URL, "https://"), "127.0.0.1", "localhost", 1)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-front", front, "-backend", baddr,
			"-backend-ca", caFile, "-backend-cert", cc, "-backend-key", ck,
			"-tls-listen", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-hsts", "1h"}, out, ready)
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
	if m == nil || !strings.Contains(out.String(), "lb.crt (default) for lb.example.com") {
		t.Fatalf("output:\n%s", out)
	}
	cl := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "lb.example.com"}}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("https://" + m[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "hello lb.client https" || resp.Header.Get("Strict-Transport-Security") != "max-age=3600" {
		t.Errorf("%s %d %q HSTS %q", resp.Proto, resp.StatusCode, b, resp.Header.Get("Strict-Transport-Security"))
	}
}
