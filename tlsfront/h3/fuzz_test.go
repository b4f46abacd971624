package h3

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
)

// FuzzStreamBytes sends arbitrary bytes on a request stream (uni false)
// or a unidirectional stream (uni true) of a fresh connection. Framing
// and QPACK are quic-go's; what is ours in the path is the loop around
// them and awaitStreamType's look at the stream type. Nothing may panic
// (a panic in a server goroutine ends the test binary), the server may
// close the connection only with an HTTP/3 or QPACK error code (RFC 9114
// §8.1, RFC 9204 §6), never H3_INTERNAL_ERROR, and a connection it leaves
// open still serves a request.
func FuzzStreamBytes(f *testing.F) {
	get := get3("/")
	for _, seed := range [][]byte{
		get,
		get[:len(get)/2],
		append(frame(0x00, []byte("x")), get...),
		append(frame(0x21, []byte("grease")), get...),
		append(append([]byte{}, get...), frame(0x00, []byte("body"))...),
		append(quicvarint.Append([]byte{0x01}, quicvarint.Max), 0),
		frame(0x01, []byte{0xff, 0xff, 0xff}),
		frame(0x04, nil),
		frame(0x07, []byte{0}),
		{0x40},
		{},
	} {
		f.Add(false, seed)
	}
	for _, seed := range [][]byte{
		append([]byte{0x00}, frame(0x04, nil)...),
		append([]byte{0x00}, frame(0x07, []byte{0})...),
		{0x00},
		{0x01, 0x00},
		{0x02, 0x3f, 0xe1, 0x1f},
		{0x03},
		{0x40},
		{0x54, 0x21, 0x01},
		{0xc0, 0, 0, 0, 0, 0, 0},
		{},
	} {
		f.Add(true, seed)
	}
	ca := testcert.NewCA(f)
	addr := serve(f, Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(f, "www.example.com").TLS(f)}},
		ReadHeaderTimeout: 200 * time.Millisecond,
		BodyIdleTimeout:   200 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		})})
	f.Fuzz(func(t *testing.T, uni bool, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com", NextProtos: []string{"h3"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseWithError(0, "")
		if uni {
			s, err := c.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			s.Write(b)
			s.Close()
		} else {
			s, err := c.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			s.Write(b)
			s.Close()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, s) // the response, a reset, or the connection's end
		}
		var st string
		if s, err := c.OpenStream(); err == nil {
			if st, _, err = status(s, get3("/after"), ""); err == nil && st == "200" {
				return
			}
		}
		select {
		case <-c.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("request after %x: %q, and the connection is still open", b, st)
		}
		var appErr *quic.ApplicationError
		cause := context.Cause(c.Context())
		if !errors.As(cause, &appErr) || !appErr.Remote {
			t.Fatalf("after %x: connection ended with %v", b, cause)
		}
		if code := appErr.ErrorCode; code == 0x102 || code < 0x100 || code > 0x202 || (code > 0x110 && code < 0x200) {
			t.Fatalf("after %x: connection closed with %#x", b, code)
		}
	})
}
