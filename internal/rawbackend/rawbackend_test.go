package rawbackend

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Serve closes a connection when serve returns, and at the test's end
// closes the ones still open and waits for their goroutines (goleak
// checks); Start answers request after request on one connection.
func TestServeAndStart(t *testing.T) {
	t.Run("serve", func(t *testing.T) {
		blocked := make(chan struct{})
		addr := Serve(t, func(c net.Conn) {
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil && b[0] == 'x' {
				c.Write([]byte("bye"))
				return
			}
			close(blocked)
			io.Copy(io.Discard, c) // until Serve's cleanup closes it
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		if b, err := io.ReadAll(c); string(b) != "bye" || err != nil {
			t.Fatalf("read %q, %v: the connection was not closed after serve returned", b, err)
		}
		held, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		held.Write([]byte("y"))
		<-blocked
	})
	t.Run("start", func(t *testing.T) {
		addr := Start(t, func(req *http.Request, w io.Writer) error {
			_, err := io.WriteString(w, "HTTP/1.1 204 No Content\r\nX-Path: "+req.URL.Path+"\r\n\r\n")
			return err
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for _, path := range []string{"/a", "/b"} {
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 204 || resp.Header.Get("X-Path") != path {
				t.Fatalf("%s: %v %v", path, resp, err)
			}
		}
	})
}
