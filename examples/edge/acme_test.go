package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/pebbletest"
	"github.com/edgekit/edgekit/internal/redistest"
)

// -acme: the edge obtains a certificate from a loopback ACME CA (Pebble),
// answering the challenges on its own listeners, says so, and serves
// cache hits over HTTPS with it; the chain leads to the CA's root.
func TestACME(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	dir := t.TempDir()
	root := ca.WriteRoots(t, dir)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	out := &pebbletest.Output{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-admin", "", "-origin", origin.URL,
			"-tls-listen", "127.0.0.1:0", "-redirect-listen", "127.0.0.1:0",
			"-acme", "www.example.test", "-acme", "img.example.test",
			"-acme-ca", ca.URL, "-acme-ca-root", root, "-acme-dir", dir + "/acme"}, out, ready)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("edge did not start")
	}
	printed := out.String()
	m := regexp.MustCompile(`https on (\S+) `).FindStringSubmatch(printed)
	r := regexp.MustCompile(`redirect to https on http://(\S+)`).FindStringSubmatch(printed)
	if m == nil || r == nil || !strings.Contains(printed, "certificate acme:www.example.test (default) for www.example.test: ordering from "+ca.URL) ||
		!strings.Contains(printed, "challenges: http-01 on "+r[1]) {
		t.Fatalf("output does not say what it serves:\n%s", printed)
	}
	ca.Forward(r[1], m[1])
	start := time.Now()
	out.WaitFor(t, "acme: certificate for www.example.test obtained", time.Minute)
	out.WaitFor(t, "acme: certificate for img.example.test obtained", time.Minute)
	t.Logf("two certificates in %v", time.Since(start))

	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Issuers()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", m[1])
		}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var cache []string
	for range 2 {
		resp, err := cl.Get("https://www.example.test/page")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" || resp.ProtoMajor != 2 {
			t.Fatalf("%s %q", resp.Proto, b)
		}
		if err := ca.VerifyChain(resp.TLS.PeerCertificates, "www.example.test"); err != nil {
			t.Fatal(err)
		}
		cache = append(cache, resp.Header.Get("X-Cache"))
	}
	if cache[1] != "HIT" {
		t.Errorf("X-Cache %v, want a HIT second", cache)
	}
	if got := ca.Orders(); got != 2 {
		t.Errorf("%d orders, want 2", got)
	}
}

func TestACMEFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-acme", "www.example.test"},
		{"-tls-listen", "127.0.0.1:0", "-acme-email", "a@example.test"},
		{"-tls-listen", "127.0.0.1:0", "-acme", "bad_name.example.test", "-acme-dir", t.TempDir()},
		{"-tls-listen", "127.0.0.1:0", "-acme", "*.example.test", "-acme-dir", t.TempDir()},
		{"-tls-listen", "127.0.0.1:0", "-acme", "www.example.test", "-acme-ca-root", "/nonexistent.pem"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := run(ctx, append(args, "-admin", "", "-listen", "127.0.0.1:0"), io.Discard, nil); err == nil {
			t.Errorf("%v accepted", args)
		}
		cancel()
	}
}

// A fleet on -redis shares the ACME storage: two edges with the same
// -acme name order it once (counted at the CA); the one the CA does not
// reach gets the certificate from Redis and serves it.
func TestACMEFleetRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ca := pebbletest.Start(t, pebbletest.Config{})
	root := ca.WriteRoots(t, t.TempDir())
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer origin.Close()
	type edgeRun struct {
		out       *pebbletest.Output
		https, rd string
	}
	var edges []edgeRun
	for i := range 2 {
		out := &pebbletest.Output{}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-admin", "", "-origin", origin.URL,
				"-redis", srv.Addr(), "-node-id", fmt.Sprint("n", i),
				"-tls-listen", "127.0.0.1:0", "-redirect-listen", "127.0.0.1:0",
				"-acme", "fleet.example.test", "-acme-ca", ca.URL, "-acme-ca-root", root}, out, ready)
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("edge did not start")
		}
		m := regexp.MustCompile(`https on (\S+) `).FindStringSubmatch(out.String())
		r := regexp.MustCompile(`redirect to https on http://(\S+)`).FindStringSubmatch(out.String())
		if m == nil || r == nil || !strings.Contains(out.String(), "storage: redis:") {
			t.Fatalf("output:\n%s", out.String())
		}
		edges = append(edges, edgeRun{out, m[1], r[1]})
	}
	ca.Forward(edges[0].rd, edges[0].https)
	for _, e := range edges {
		// In service, ordered here or by the other node: not "failed
		// (retried later)", which a loaded machine sees when a first
		// attempt times out.
		e.out.WaitForAny(t, time.Minute, "acme: certificate for fleet.example.test obtained", "acme: certificate for fleet.example.test loaded from storage")
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", e.https, &tls.Config{ServerName: "fleet.example.test", RootCAs: ca.Issuers()})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if got := ca.Orders(); got != 1 {
		t.Errorf("%d orders, want 1", got)
	}
}
