package balancer

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestRFC9110_7_6_1_ProxyStripsHopByHop: the L7 proxy (ReverseProxy's
// rule, which internal/hop follows) removes hop-by-hop fields both ways:
// the client's never reach the backend, the backend's never reach the
// client, read off the wire on both sides.
func TestRFC9110_7_6_1_ProxyStripsHopByHop(t *testing.T) {
	got := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		for k, v := range map[string]string{"Connection": "X-Secret", "X-Secret": "s", "Keep-Alive": "timeout=5",
			"Upgrade": "h2c", "Proxy-Connection": "keep-alive", "Proxy-Authenticate": "Basic", "Te": "trailers"} {
			w.Header().Set(k, v)
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: strings.TrimPrefix(backend.URL, "http://")})
	frontURL, _ := frontFor(t, pool)
	c, err := net.Dial("tcp", strings.TrimPrefix(frontURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: lb.test\r\nConnection: X-Client-Secret\r\nX-Client-Secret: s\r\n"+
		"Keep-Alive: timeout=9\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nTe: deflate\r\n\r\n")
	tp := textproto.NewReader(bufio.NewReader(c))
	if _, err := tp.ReadLine(); err != nil {
		t.Fatal(err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"X-Secret", "Keep-Alive", "Upgrade", "Proxy-Connection", "Proxy-Authenticate", "Te"} {
		if v := h.Get(f); v != "" {
			t.Errorf("client received %s: %s", f, v)
		}
	}
	if strings.Contains(strings.ToLower(h.Get("Connection")), "x-secret") {
		t.Errorf("client received Connection: %s", h.Get("Connection"))
	}
	req := <-got
	for _, f := range []string{"X-Client-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te"} {
		if v := req.Get(f); v != "" {
			t.Errorf("backend received %s: %s", f, v)
		}
	}
}
