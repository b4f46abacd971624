package origin

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/internal/rawbackend"
)

// RFC 9112 §9.3: an origin that writes an extra response after each
// answer must not make the pool hand one request's answer to the next
// (the edge fetches through this pool).
func TestPoolOriginExtraResponseReachesNoRequest(t *testing.T) {
	addr := rawbackend.Start(t, func(req *http.Request, w io.Writer) error {
		// A body longer than the transport's read buffer, so the extra
		// response stays on the socket, unread.
		body := req.URL.Path + strings.Repeat(".", 10000)
		extra := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
		_, err := fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s%s", len(body), body, extra)
		return err
	})
	p := newPool(t, Config{Origins: []Origin{{Name: "o", URL: "http://" + addr}}})
	buf := make([]byte, 32<<10) // read as ReverseProxy and the edge do
	for i := 0; i < 20; i++ {
		path := fmt.Sprintf("/r%d", i)
		req, _ := http.NewRequest(http.MethodGet, "http://site.example"+path, nil)
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if !strings.HasPrefix(got.String(), path+".") {
			t.Fatalf("request for %s got %.20q", path, got.String())
		}
	}
}
