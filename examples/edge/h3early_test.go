package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/rawbackend"
	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
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

// Shutdown does not wait for an HTTP/3 client that is connected but
// silent: its connection is closed at once, as the TCP front closes idle
// keep-alive connections, and the edge stops well within -grace (one
// minute here; before, HTTP/3 waited its own 5 s whatever -grace said).
func TestHTTP3IdleClientDoesNotHoldShutdown(t *testing.T) {
	ca := testcert.NewCA(t)
	c, k := ca.Leaf(t, "www.example.com").Write(t, t.TempDir(), "www")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") }))
	defer origin.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-admin", "", "-origin", origin.URL, "-grace", "1m",
			"-tls-listen", "127.0.0.1:0", "-tls-cert", c, "-tls-key", k, "-http3"}, out, ready)
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	addr := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(out.String())[1]
	// A client of its own frames, which does not close its connection on
	// GOAWAY as quic-go's does: one request, then silence.
	qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer qcancel()
	conn, err := quic.DialAddr(qctx, addr, &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com", NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(qctx)
	if err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := qpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "www.example.com"}, {":path", "/"}} {
		enc.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	str.Write(h3Frame(0x01, hb.Bytes()))
	str.Close()
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(str); err != nil {
		t.Fatal(err)
	}
	// The client keeps its connection open and says nothing.
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if d := time.Since(start); d >= 4*time.Second {
			t.Errorf("shutdown took %v with an idle HTTP/3 client", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown waited for an idle HTTP/3 client")
	}
}
