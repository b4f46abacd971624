package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/internal/rawbackend"
)

// gatedBody is a request body that gives its first chunk at once and the
// rest only once gate is closed.
type gatedBody struct {
	gate  <-chan struct{}
	sent  int
	total int
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.sent >= b.total {
		return 0, io.EOF
	}
	if b.sent > 0 {
		<-b.gate
	}
	n := min(len(p), 16<<10, b.total-b.sent)
	for i := range p[:n] {
		p[i] = 'x'
	}
	b.sent += n
	return n, nil
}

// RFC 9112 §9.5: a server may answer before it has read the request body
// and close the connection; a client "SHOULD monitor the network
// connection for an error response while it is transmitting the
// request" and, seeing one, stop sending the body. The backend here
// answers 501 after the head and closes with the body unread (a reset);
// the rest of the body is written only after that, so every write of it
// fails. The caller must get the 501, never the write error, every time
// (http.Transport alone returns the write error whenever it loses the
// race between its writer and reader goroutines: golang/go#51109).
func TestRFC9112_9_5_EarlyResponseWinsOverBodyWriteError(t *testing.T) {
	closed := make(chan chan struct{}, 1)
	addr := rawbackend.Serve(t, func(c net.Conn) {
		gate := <-closed
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			close(gate)
			return
		}
		io.WriteString(c, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		c.Close()
		close(gate)
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for i := range 30 {
		gate := make(chan struct{})
		closed <- gate
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/upload", &gatedBody{gate: gate, total: 1 << 20})
		req.ContentLength = 1 << 20
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("try %d: %v, want the backend's 501", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented || !strings.HasPrefix(string(b), "nope") {
			t.Fatalf("try %d: %d %q, want 501 nope", i, resp.StatusCode, b)
		}
	}
}
