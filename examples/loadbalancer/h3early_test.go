package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/rawbackend"
	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/quic-go/http3"
)

// A backend may answer before it has read the request body and close
// (RFC 9112 §9.5: here 501 with the body unread, as Python's http.server
// answers a POST it has no handler for); the load balancer passes that
// answer on to an HTTP/3 client posting 100 KB every time, as over
// HTTP/1.1 and HTTP/2, not a 502 for the body it could not finish writing.
func TestHTTP3EarlyBackendAnswerReachesClient(t *testing.T) {
	backend := rawbackend.Serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
	})
	ca := testcert.NewCA(t)
	cert, key := ca.Leaf(t, "lb.example.com").Write(t, t.TempDir(), "lb")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-backend", backend,
			"-tls-listen", "127.0.0.1:0", "-tls-cert", cert, "-tls-key", key, "-http3"}, out, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "lb.example.com"}}
	defer func() {
		tr.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := regexp.MustCompile(`https on (\S+) `).FindStringSubmatch(out.String())[1]
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := bytes.Repeat([]byte("x"), 100<<10)
	for i := range 30 {
		resp, err := cl.Post("https://"+addr+"/upload", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || string(b) != "nope" {
			t.Fatalf("try %d: %d %q, want the backend's 501", i, resp.StatusCode, b)
		}
	}
}
