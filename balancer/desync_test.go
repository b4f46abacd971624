package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// RFC 9112 §9.3: a backend that writes an extra response after each
// answer (a bug or a compromised backend) must not make the proxy hand
// one client's answer to the next: each client gets its own, on a fresh
// backend connection when the old one carried the extra bytes.
func TestL7ProxyBackendExtraResponseReachesNoClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					id := req.Header.Get("X-Id")
					// A body longer than the transport's read buffer, so the
					// extra response stays on the socket, unread.
					body := id + strings.Repeat(".", 10000)
					extra := "HTTP/1.1 200 OK\r\nX-Id: extra\r\nContent-Length: 5\r\n\r\nextra"
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: %d\r\n\r\n%s%s", id, len(body), body, extra)
				}
			}()
		}
	}()
	defer func() { ln.Close(); <-done }()
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: ln.Addr().String()})
	frontURL, client := frontFor(t, pool)
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("client-%d", i)
		req, _ := http.NewRequest("GET", frontURL+"/", nil)
		req.Header.Set("X-Id", id)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.Header.Get("X-Id") != id || !strings.HasPrefix(string(b), id+".") {
			t.Fatalf("%s got X-Id %q, body %.20q (%v)", id, resp.Header.Get("X-Id"), b, err)
		}
	}
}
