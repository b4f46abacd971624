//go:build unix

package main

import (
	"crypto/tls"
	"os"
	"regexp"
	"syscall"
	"testing"

	"github.com/edgekit/edgekit/internal/testcert"
)

// SIGHUP reloads the certificates: new handshakes get the new one.
func TestSIGHUPReloads(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	c, k := ca.Leaf(t, "www.example.com").Write(t, dir, "www")
	_, out := startEdge(t, "-tls-listen", "127.0.0.1:0", "-tls-cert", c, "-tls-key", k)
	m := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	next := ca.Leaf(t, "www.example.com", "new.example.com")
	next.Write(t, dir, "www")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reload runs on the example's goroutine: dial until it shows,
	// a bounded number of times.
	for i := 0; ; i++ {
		conn, err := tls.Dial("tcp", m[1], &tls.Config{RootCAs: ca.Pool, ServerName: "new.example.com"})
		if err == nil {
			served := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if served.Equal(next.Cert) {
				break
			}
		}
		if i == 2000 {
			t.Fatalf("the new certificate is not served after SIGHUP; output:\n%s", out)
		}
	}
}
