package balancer

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/rawbackend"
)

// stallingBackend answers every connection with prefix and then sends
// nothing more until the test ends (a hung application server, or one
// whose framing says more is coming: "Content-Length : 6" read until
// close).
func stallingBackend(t *testing.T, prefix string) string {
	stop := make(chan struct{})
	addr := rawbackend.Serve(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf) // the request head
		io.WriteString(c, prefix)
		<-stop
	})
	t.Cleanup(func() { close(stop) }) // runs before Serve's own cleanup
	return addr
}

// A backend that stalls in its response head or between body bytes ends
// the attempt after ServerTimeout (HAProxy's "timeout server"): 504 before
// anything reached the client, a cut-off body after, and the backend's
// connection is released, not held until the backend closes it (with the
// edgekit front, which does not watch for departed clients while a
// handler waits, 50 clients with 1 s timeouts left 50 sockets in
// CLOSE-WAIT and 62 backend connections open).
func TestProxyServerTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond // a bound on the test's length, not a synchronisation
	for _, c := range []struct {
		name, prefix string
		status       int // 0: the body is cut off
	}{
		{"head stalls", "HTTP/1.1 200 OK\r\nX: y\r\n", http.StatusGatewayTimeout},
		{"body stalls", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := newPool(t, Config{}, Backend{ID: "b", Addr: stallingBackend(t, c.prefix)})
			px, err := NewProxy(ProxyConfig{Pool: pool, ServerTimeout: timeout, Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(px)
			defer func() { front.Close(); px.CloseIdleConnections() }()
			client := front.Client()
			client.Timeout = time.Minute // only a hang reaches this
			resp, err := client.Get(front.URL + "/")
			if err != nil {
				if c.status == 0 {
					return // cut off before the head reached the client
				}
				t.Fatal(err)
			}
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if c.status != 0 {
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
				}
				return
			}
			if rerr == nil || !strings.HasPrefix(string(b), "ab") {
				t.Fatalf("body %q, err %v: want a cut-off body", b, rerr)
			}
		})
	}
}

func TestProxyServerTimeoutDefaults(t *testing.T) {
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: "127.0.0.1:1"})
	for _, c := range []struct {
		set, want time.Duration
	}{{0, DefaultServerTimeout}, {time.Second, time.Second}, {-1, 0}} {
		px, err := NewProxy(ProxyConfig{Pool: pool, ServerTimeout: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if px.timeout != c.want {
			t.Errorf("ServerTimeout %v: %v, want %v", c.set, px.timeout, c.want)
		}
	}
}
