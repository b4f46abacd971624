package h3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// status sends a request (HEADERS, then body as one DATA frame unless
// empty) on str, closes its send side and returns the response's :status
// and body, or the error that ended the read (a *quic.StreamError when
// the server reset the stream).
func status(str *quic.Stream, req []byte, body string) (string, string, error) {
	if body != "" {
		req = append(append([]byte{}, req...), frame(0x00, []byte(body))...)
	}
	str.Write(req)
	str.Close()
	return readResponse(str)
}

// readResponse reads a response from str: its :status and the payload of
// its DATA frames.
func readResponse(str *quic.Stream) (string, string, error) {
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(str)
	if err != nil {
		return "", "", err
	}
	r := bytes.NewReader(b)
	var st string
	var body []byte
	for r.Len() > 0 {
		typ, err := quicvarint.Read(r)
		if err != nil {
			return "", "", err
		}
		n, err := quicvarint.Read(r)
		if err != nil || n > uint64(r.Len()) {
			return "", "", errors.New("truncated frame")
		}
		p := make([]byte, n)
		r.Read(p)
		switch typ {
		case 0x01:
			dec := qpack.NewDecoder().Decode(p)
			for {
				hf, err := dec()
				if err != nil {
					break
				}
				if hf.Name == ":status" {
					st = hf.Value
				}
			}
		case 0x00:
			body = append(body, p...)
		}
	}
	return st, string(body), nil
}

func get3(path string) []byte {
	return headers(":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", path)
}

// isReset reports whether err is the stream reset by the server with code.
func isReset(err error, code http3.ErrCode) bool {
	var se *quic.StreamError
	return errors.As(err, &se) && se.Remote && se.ErrorCode == quic.StreamErrorCode(code)
}

// RFC 9114 §4.1 and §8.1: a request stream whose HEADERS frame is not
// complete ReadHeaderTimeout after it opened is reset with
// H3_REQUEST_INCOMPLETE (slowloris over HTTP/3), not before; the other
// requests of the same connection are served meanwhile, and a request
// whose head arrived in time may take longer than that for its body.
func TestRFC9114_8_1_ReadHeaderTimeoutResetsSlowHeaders(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ca := testcert.NewCA(t)
	addr := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
		ReadHeaderTimeout: timeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, "got "+r.URL.Path+" "+string(b))
		})})
	c := rawConn(t, ca, addr)
	open := func() *quic.Stream {
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	full := get3("/slow")
	opened := time.Now()
	slow := open()
	slow.Write(full[:len(full)/2]) // half the HEADERS frame, then nothing
	// A POST whose head is complete, its body sent only later.
	post := open()
	post.Write(headers(":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", "/post"))
	for i := range 3 {
		if st, body, err := status(open(), get3("/other"), ""); err != nil || st != "200" || body != "got /other " {
			t.Fatalf("request %d beside the slow one: %q %q %v", i, st, body, err)
		}
	}
	_, _, err := readResponse(slow)
	if !isReset(err, http3.ErrCodeRequestIncomplete) {
		t.Fatalf("half a HEADERS frame: %v, want the stream reset with H3_REQUEST_INCOMPLETE", err)
	}
	if d := time.Since(opened); d < timeout {
		t.Errorf("reset after %v, before ReadHeaderTimeout %v", d, timeout)
	}
	// The POST is now older than the timeout too: its body still counts.
	if st, body, err := status(post, nil, "late body"); err != nil || st != "200" || body != "got /post late body" {
		t.Errorf("body after ReadHeaderTimeout: %q %q %v", st, body, err)
	}
	if st, _, err := status(open(), get3("/after"), ""); err != nil || st != "200" {
		t.Errorf("request after the reset: %q %v", st, err)
	}
}

// A client may open MaxStreams request streams at once (default 250, as
// net/http's HTTP/2 server), and no more (RFC 9000 §4.6).
func TestRFC9000_4_6_MaxStreams(t *testing.T) {
	ca := testcert.NewCA(t)
	for _, tc := range []struct{ cfg, want int }{{0, DefaultMaxStreams}, {10, 10}} {
		addr := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
			MaxStreams: tc.cfg, Handler: http.NotFoundHandler()})
		c := rawConn(t, ca, addr)
		for i := range tc.want {
			if _, err := c.OpenStream(); err != nil {
				t.Fatalf("MaxStreams %d: stream %d: %v", tc.cfg, i+1, err)
			}
		}
		var limit *quic.StreamLimitReachedError
		if _, err := c.OpenStream(); !errors.As(err, &limit) {
			t.Errorf("MaxStreams %d: stream %d: %v, want the stream limit", tc.cfg, tc.want+1, err)
		}
	}
}

// Shutdown closes a connection with no request open at once (after the
// drain of its last packets, RFC 9000 §10.2), not after ShutdownTimeout,
// as net/http's Shutdown closes idle keep-alive connections; a connection
// with a request in flight refuses new requests with H3_REQUEST_REJECTED
// (RFC 9114 §8.1), finishes that one and is closed, and Serve returns
// then, not after ShutdownTimeout either.
func TestServeShutdownClosesIdleConnectionsAtOnce(t *testing.T) {
	ca := testcert.NewCA(t)
	started, release := make(chan struct{}), make(chan struct{})
	s, err := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
		ShutdownTimeout: time.Hour,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/block" {
				close(started)
				<-release
			}
			io.WriteString(w, "done "+r.URL.Path)
		})})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	addr := pc.LocalAddr().String()

	idle := rawConn(t, ca, addr)
	str, _ := idle.OpenStreamSync(context.Background())
	if st, _, err := status(str, get3("/a"), ""); err != nil || st != "200" {
		t.Fatalf("first request: %q %v", st, err)
	}
	busy := rawConn(t, ca, addr)
	inflight, _ := busy.OpenStreamSync(context.Background())
	inflight.Write(get3("/block"))
	inflight.Close()
	<-started

	cancel()
	select {
	case <-idle.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection is still open 10 s after shutdown began")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(idle.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(http3.ErrCodeNoError) {
		t.Errorf("idle connection closed with %v, want H3_NO_ERROR", err)
	}
	str, err = busy.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := status(str, get3("/late"), ""); !isReset(err, http3.ErrCodeRequestRejected) {
		t.Errorf("request after shutdown began: %v, want H3_REQUEST_REJECTED", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if st, body, err := readResponse(inflight); err != nil || st != "200" || body != "done /block" {
		t.Errorf("request in flight at shutdown: %q %q %v", st, body, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10 s after its last request ended")
	}
	select {
	case <-busy.Context().Done():
	case <-time.After(10 * time.Second):
		t.Error("the busy connection is still open after Serve returned")
	}
}
