package main

import (
	"bufio"
	"bytes"
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

// earlyAnswerOrigin is an origin that answers 501 to every request as
// soon as it has its head, without reading the body, and closes the
// connection (with the body unread, a reset): as Python's http.server
// answers a POST it has no handler for.
func earlyAnswerOrigin(t *testing.T) string {
	return "http://" + rawbackend.Serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
	})
}

// An origin may answer before it has read the request body and close
// (RFC 9112 §9.5); the edge passes that answer on to an HTTP/3 client
// posting 100 KB every time, as it does over HTTP/1.1 and HTTP/2, not a
// 502 for the body it could not finish writing. The rest of the body is
// discarded: the edge stops the stream's receive side (RFC 9114 §4.1).
func TestHTTP3EarlyOriginAnswerReachesClient(t *testing.T) {
	ca := testcert.NewCA(t)
	c, k := ca.Leaf(t, "www.example.com").Write(t, t.TempDir(), "www")
	_, out := startEdge(t, "-origin", earlyAnswerOrigin(t), "-tls-listen", "127.0.0.1:0", "-tls-cert", c, "-tls-key", k, "-http3")
	addr := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(out.String())[1]
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com"}}
	t.Cleanup(func() { tr.Close() }) // before the edge stops
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
			t.Fatalf("try %d: %d %q, want the origin's 501", i, resp.StatusCode, b)
		}
	}
}
