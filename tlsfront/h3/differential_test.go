package h3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// diffHandler answers by path; what it saw of its own writes and reads
// goes to seen, for the cases where the client leaves mid-response.
func diffHandler(seen chan<- string) http.Handler {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		case "/echo":
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %d %q %v %v", r.Method, r.ContentLength, b, err, r.Trailer)
		case "/large":
			w.Write(big)
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		case "/early":
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "after hints")
		case "/continue":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Header.Get("Expect"), b)
		case "/panic":
			io.WriteString(w, "partial")
			panic("handler panics")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/noread":
			w.WriteHeader(http.StatusCreated)
		case "/cancel":
			var err error
			for i := 0; i < 1<<12 && err == nil; i++ { // at most 64 MiB
				_, err = w.Write(big[:16<<10])
			}
			seen <- fmt.Sprintf("write error: %v", err != nil)
		default:
			http.NotFound(w, r)
		}
	})
}

// transcript reads a response from str as a client sees it: each HEADERS
// frame's fields (without date), the length and hash of the DATA, and the
// stream error code if the server reset the stream.
func transcript(str *quic.Stream) string {
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(str)
	var out []string
	r := bytes.NewReader(b)
	var data []byte
	for r.Len() > 0 {
		typ, err1 := quicvarint.Read(r)
		n, err2 := quicvarint.Read(r)
		if err1 != nil || err2 != nil || n > uint64(r.Len()) {
			out = append(out, "truncated frame")
			break
		}
		p := make([]byte, n)
		r.Read(p)
		switch typ {
		case 0x01:
			var fs []string
			dec := qpack.NewDecoder().Decode(p)
			for {
				hf, err := dec()
				if err != nil {
					break
				}
				if hf.Name != "date" {
					fs = append(fs, hf.Name+": "+hf.Value)
				}
			}
			slices.Sort(fs)
			out = append(out, fmt.Sprintf("HEADERS %q", fs))
		case 0x00:
			data = append(data, p...)
		default:
			out = append(out, fmt.Sprintf("frame %#x", typ))
		}
	}
	out = append(out, fmt.Sprintf("DATA %d %x", len(data), sha256.Sum256(data)))
	var se *quic.StreamError
	switch {
	case errors.As(err, &se):
		out = append(out, fmt.Sprintf("reset %#x", se.ErrorCode))
	case err != nil:
		out = append(out, "error "+err.Error())
	}
	return strings.Join(out, "; ")
}

// referenceServer serves h with quic-go's own http3.Server on a loopback
// socket, with the settings Server gives its RawServerConn.
func referenceServer(t *testing.T, cert tls.Certificate, h http.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{
		Handler:        h,
		TLSConfig:      http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
		QUICConfig:     &quic.Config{MaxIncomingStreams: DefaultMaxStreams},
		MaxHeaderBytes: http.DefaultMaxHeaderBytes,
		IdleTimeout:    DefaultIdleTimeout,
		Logger:         slog.New(slog.DiscardHandler),
	}
	done := make(chan struct{})
	go func() { srv.Serve(pc); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		pc.Close()
	})
	return pc.LocalAddr().String()
}

// The same requests through Server's own connection loop and through
// quic-go's http3.Server, with the same handler, get the same responses
// and the same stream error codes: GET, HEAD, POST with bodies (and
// trailers, RFC 9114 §4.1), a 1 MiB response, response trailers, 1xx
// (RFC 9110 §15.2), Expect: 100-continue (neither sends 100), a handler
// that panics (H3_INTERNAL_ERROR) or aborts, one that never reads the
// body, and a client that cancels mid-response (the handler's write
// fails in both). The loop differs only where it means to (HEADERS and
// stream type deadlines, MaxStreams, shutdown), tested elsewhere.
func TestDifferentialAgainstHTTP3Server(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Leaf(t, "www.example.com").TLS(t)
	seen := make(chan string, 1)
	h := diffHandler(seen)
	ours := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Handler: h})
	ref := referenceServer(t, cert, h)
	req := func(method, path string, extra ...string) []byte {
		return headers(append([]string{":method", method, ":scheme", "https", ":authority", "www.example.com", ":path", path}, extra...)...)
	}
	bigBody := bytes.Repeat([]byte("x"), 300<<10)
	cases := []struct {
		name   string
		req    []byte
		cancel bool // the client stops reading after the first bytes
	}{
		{"GET", req("GET", "/hello"), false},
		{"HEAD", req("HEAD", "/hello"), false},
		{"404", req("GET", "/nowhere"), false},
		{"POST body", append(req("POST", "/echo", "content-length", "9"), frame(0x00, []byte("some body"))...), false},
		{"POST two DATA", append(append(req("POST", "/echo"), frame(0x00, []byte("one "))...), frame(0x00, []byte("two"))...), false},
		{"POST short of Content-Length", append(req("POST", "/echo", "content-length", "10"), frame(0x00, []byte("short"))...), false},
		{"POST past Content-Length", append(req("POST", "/echo", "content-length", "2"), frame(0x00, []byte("longer"))...), false},
		{"POST request trailers", append(append(req("POST", "/echo", "trailer", "x-t"), frame(0x00, []byte("b"))...), headers("x-t", "v")...), false},
		{"large response", req("GET", "/large"), false},
		{"response trailers", req("GET", "/trailers"), false},
		{"1xx", req("GET", "/early"), false},
		{"100-continue", append(req("POST", "/continue", "expect", "100-continue"), frame(0x00, []byte("payload"))...), false},
		{"panic", req("GET", "/panic"), false},
		{"ErrAbortHandler", req("GET", "/abort"), false},
		{"body never read", append(req("POST", "/noread"), frame(0x00, bigBody)...), false},
		{"client cancels mid-response", req("GET", "/cancel"), true},
	}
	run := func(addr string, req []byte, cancel bool) string {
		c := rawConn(t, ca, addr)
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		go func() { str.Write(req); str.Close() }()
		if !cancel {
			return transcript(str)
		}
		if _, err := io.ReadFull(str, make([]byte, 1000)); err != nil {
			return "read: " + err.Error()
		}
		str.CancelRead(quic.StreamErrorCode(http3.ErrCodeRequestCanceled))
		select {
		case s := <-seen:
			return s
		case <-time.After(10 * time.Second):
			return "the handler is still writing 10 s after the client left"
		}
	}
	for _, tc := range cases {
		got, want := run(ours, tc.req, tc.cancel), run(ref, tc.req, tc.cancel)
		if got != want {
			t.Errorf("%s:\n ours:      %s\n http3.Server: %s", tc.name, got, want)
		} else {
			t.Logf("%s: %s", tc.name, got)
		}
	}
}

// Connection errors, through both loops: the same codes (RFC 9114 §4.1,
// §6.2.1, §7.2.8).
func TestDifferentialConnectionErrors(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Leaf(t, "www.example.com").TLS(t)
	h := diffHandler(nil)
	ours := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Handler: h})
	ref := referenceServer(t, cert, h)
	onRequest := func(b []byte) func(*quic.Conn) {
		return func(c *quic.Conn) {
			str, _ := c.OpenStreamSync(context.Background())
			str.Write(b)
			str.Close()
		}
	}
	for _, tc := range []struct {
		name string
		do   func(*quic.Conn)
	}{
		{"DATA before HEADERS", onRequest(append(frame(0x00, []byte("x")), get3("/hello")...))},
		{"HTTP/2 SETTINGS type on a request stream", onRequest(frame(0x04, nil))},
		{"reserved HTTP/2 type 0x6", onRequest(frame(0x06, nil))},
		{"second control stream", func(c *quic.Conn) { controlStream(t, c); controlStream(t, c) }},
		{"control stream closed", func(c *quic.Conn) { controlStream(t, c).Close() }},
		{"control stream without SETTINGS", func(c *quic.Conn) {
			s, _ := c.OpenUniStream()
			s.Write(append([]byte{0x00}, frame(0x07, []byte{0})...))
		}},
		{"push stream from the client", func(c *quic.Conn) {
			s, _ := c.OpenUniStream()
			s.Write([]byte{0x01, 0x00})
		}},
		{"second QPACK encoder stream", func(c *quic.Conn) {
			for range 2 {
				s, _ := c.OpenUniStream()
				s.Write([]byte{0x02})
			}
		}},
	} {
		var got [2]int64
		for i, addr := range []string{ours, ref} {
			c := rawConn(t, ca, addr)
			tc.do(c)
			got[i] = closedWith(t, c)
		}
		if got[0] != got[1] {
			t.Errorf("%s: ours closed with %#x, http3.Server with %#x", tc.name, got[0], got[1])
		} else {
			t.Logf("%s: %#x", tc.name, got[0])
		}
	}
}
