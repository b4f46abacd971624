package balancer

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/internal/rawbackend"
)

// RFC 9112 §9.3: a backend that writes an extra response after each
// answer (a bug or a compromised backend) must not make the proxy hand
// one client's answer to the next: each client gets its own, on a fresh
// backend connection when the old one carried the extra bytes.
func TestL7ProxyBackendExtraResponseReachesNoClient(t *testing.T) {
	addr := rawbackend.Start(t, func(req *http.Request, w io.Writer) error {
		id := req.Header.Get("X-Id")
		// A body longer than the transport's read buffer, so the extra
		// response stays on the socket, unread.
		body := id + strings.Repeat(".", 10000)
		extra := "HTTP/1.1 200 OK\r\nX-Id: extra\r\nContent-Length: 5\r\n\r\nextra"
		_, err := fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: %d\r\n\r\n%s%s", id, len(body), body, extra)
		return err
	})
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: addr})
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
