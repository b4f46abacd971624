package h3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// hostileServer serves an echo handler (path and body) with a short
// ReadHeaderTimeout and returns its address.
func hostileServer(t *testing.T, ca *testcert.CA, cfg Config) string {
	t.Helper()
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 300 * time.Millisecond
	}
	cfg.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, "got "+r.URL.Path+" "+string(b))
	})
	return serve(t, cfg)
}

// controlStream opens the client's control stream with an empty
// SETTINGS frame (RFC 9114 §6.2.1, §7.2.4).
func controlStream(t *testing.T, c *quic.Conn) *quic.SendStream {
	t.Helper()
	str, err := c.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write(append(quicvarint.Append(nil, 0x00), frame(0x04, nil)...)); err != nil {
		t.Fatal(err)
	}
	return str
}

// closedWith waits (10 s at most) for the server to close c and returns
// the application error code it closed it with, or -1.
func closedWith(t *testing.T, c *quic.Conn) int64 {
	t.Helper()
	select {
	case <-c.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still open")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(c.Context()); errors.As(err, &appErr) && appErr.Remote {
		return int64(appErr.ErrorCode)
	}
	return -1
}

// goroutinesAtMost waits (5 s at most, polling: a measurement, nothing is
// synchronised by it) for the process to run at most n goroutines and
// returns the count last seen.
func goroutinesAtMost(n int) int {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		g := runtime.NumGoroutine()
		if g <= n {
			return g
		}
		select {
		case <-tick.C:
		case <-deadline:
			return g
		}
	}
}

// RFC 9114 §6.2: a unidirectional stream whose type does not arrive
// within ReadHeaderTimeout is aborted with H3_STREAM_CREATION_ERROR and
// its goroutine ends; quic-go alone waits for the type as long as the
// connection lives. The control stream, whose type came in time, is not
// touched by the deadline: the connection serves requests after it.
func TestRFC9114_6_2_UniStreamWithoutTypeAborted(t *testing.T) {
	const stalls = 50
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{})
	c := rawConn(t, ca, addr)
	controlStream(t, c)
	str, _ := c.OpenStreamSync(context.Background())
	if st, _, err := status(str, get3("/warm"), ""); err != nil || st != "200" {
		t.Fatalf("first request: %q %v", st, err)
	}
	before := runtime.NumGoroutine()
	var uni []*quic.SendStream
	for range stalls {
		s, err := c.OpenUniStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte{0x40}) // the first byte of a two-byte stream type, then nothing
		uni = append(uni, s)
	}
	for i, s := range uni {
		select {
		case <-s.Context().Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d without its type is still open 10 s on", i)
		}
		var se *quic.StreamError
		if err := context.Cause(s.Context()); !errors.As(err, &se) || se.ErrorCode != quic.StreamErrorCode(http3.ErrCodeStreamCreationError) {
			t.Errorf("stream %d: %v, want STOP_SENDING with H3_STREAM_CREATION_ERROR", i, err)
		}
	}
	if g := goroutinesAtMost(before + 5); g > before+5 {
		t.Errorf("%d goroutines after the streams were aborted, %d before they opened", g, before)
	}
	str, _ = c.OpenStreamSync(context.Background())
	if st, body, err := status(str, get3("/after"), ""); err != nil || st != "200" || body != "got /after " {
		t.Errorf("request after ReadHeaderTimeout on the control stream: %q %q %v (connection: %v)", st, body, err, context.Cause(c.Context()))
	}
}

// RFC 9114 §6.2.1: a second control stream is a connection error of type
// H3_STREAM_CREATION_ERROR; closing or resetting the control stream is
// one of type H3_CLOSED_CRITICAL_STREAM.
func TestRFC9114_6_2_1_ControlStream(t *testing.T) {
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{})
	for _, tc := range []struct {
		name string
		do   func(c *quic.Conn, ctrl *quic.SendStream)
		want http3.ErrCode
	}{
		{"second control stream", func(c *quic.Conn, _ *quic.SendStream) { controlStream(t, c) }, http3.ErrCodeStreamCreationError},
		{"control stream closed", func(_ *quic.Conn, ctrl *quic.SendStream) { ctrl.Close() }, http3.ErrCodeClosedCriticalStream},
		{"control stream reset", func(_ *quic.Conn, ctrl *quic.SendStream) { ctrl.CancelWrite(0x100) }, http3.ErrCodeClosedCriticalStream},
	} {
		c := rawConn(t, ca, addr)
		ctrl := controlStream(t, c)
		str, _ := c.OpenStreamSync(context.Background())
		if st, _, err := status(str, get3("/"), ""); err != nil || st != "200" {
			t.Fatalf("%s: first request: %q %v", tc.name, st, err)
		}
		tc.do(c, ctrl)
		if got := closedWith(t, c); got != int64(tc.want) {
			t.Errorf("%s: connection closed with %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// Frames on a request stream: DATA before HEADERS (RFC 9114 §4.1) and an
// HTTP/2 frame type reserved in HTTP/3 (§7.2.8) close the connection with
// H3_FRAME_UNEXPECTED; a frame of unknown or reserved type (§7.2.8, §9)
// is ignored, before HEADERS or between HEADERS and DATA.
func TestRFC9114_4_1_RequestStreamFrames(t *testing.T) {
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{})
	grease := frame(0x21+0x1f*7, []byte("ignored"))
	for _, tc := range []struct {
		name string
		req  []byte
		want http3.ErrCode // zero: the request is served
	}{
		{"DATA before HEADERS", append(frame(0x00, []byte("x")), get3("/")...), http3.ErrCodeFrameUnexpected},
		{"HTTP/2 PRIORITY type", append(frame(0x02, nil), get3("/")...), http3.ErrCodeFrameUnexpected},
		{"reserved type first", append(append([]byte{}, grease...), get3("/grease")...), 0},
		{"unknown type between", append(append(headers(":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", "/mid"), frame(0x3f, []byte{1, 2, 3})...), frame(0x00, []byte("body"))...), 0},
	} {
		c := rawConn(t, ca, addr)
		str, _ := c.OpenStreamSync(context.Background())
		st, body, err := status(str, tc.req, "")
		if tc.want != 0 {
			if got := closedWith(t, c); got != int64(tc.want) {
				t.Errorf("%s: connection closed with %#x (%q %v), want %#x", tc.name, got, st, err, tc.want)
			}
			continue
		}
		if err != nil || st != "200" || (body != "got /grease " && body != "got /mid body") {
			t.Errorf("%s: %q %q %v", tc.name, st, body, err)
		}
	}
}

// RFC 9114 §4.2.2: a HEADERS frame longer than MaxHeaderBytes is answered
// 431 as soon as its length is read, whatever it claims (up to the
// largest varint), without waiting for or buffering its payload.
func TestRFC9114_4_2_2_OversizedHeadersFrame(t *testing.T) {
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{MaxHeaderBytes: 4096})
	for _, claim := range []uint64{4097, 1 << 30, quicvarint.Max} {
		c := rawConn(t, ca, addr)
		str, _ := c.OpenStreamSync(context.Background())
		b := quicvarint.Append(quicvarint.Append(nil, 0x01), claim)
		str.Write(append(b, make([]byte, 1000)...)) // far less than claimed, the stream left open
		st, _, err := readResponse(str)
		if st != "431" {
			t.Errorf("HEADERS claiming %d bytes: %q %v, want 431", claim, st, err)
		}
	}
}

// A request stream reset by the client in the middle of its HEADERS
// never reaches the handler; its goroutine ends and the connection serves
// the next request.
func TestRequestStreamResetMidHeaders(t *testing.T) {
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{ReadHeaderTimeout: time.Hour})
	c := rawConn(t, ca, addr)
	str, _ := c.OpenStreamSync(context.Background())
	if st, _, err := status(str, get3("/warm"), ""); err != nil || st != "200" {
		t.Fatalf("first request: %q %v", st, err)
	}
	before := runtime.NumGoroutine()
	for range 20 {
		str, _ := c.OpenStreamSync(context.Background())
		h := get3("/reset")
		str.Write(h[:len(h)/2])
		str.CancelWrite(0x10c) // H3_REQUEST_CANCELLED
		str.CancelRead(0x10c)
	}
	if g := goroutinesAtMost(before + 5); g > before+5 {
		t.Errorf("%d goroutines after 20 streams reset mid-HEADERS, %d before", g, before)
	}
	str, _ = c.OpenStreamSync(context.Background())
	if st, _, err := status(str, get3("/after"), ""); err != nil || st != "200" {
		t.Errorf("request after the resets: %q %v", st, err)
	}
}

// Many connections, each with request streams short of their HEADERS and
// unidirectional streams short of their type: the goroutines they hold
// are bounded by MaxStreams and quic-go's 100 unidirectional streams per
// connection while they last, and all end ReadHeaderTimeout later.
func TestHostileConnectionsBounded(t *testing.T) {
	const conns, reqs, unis = 8, 20, 20
	ca := testcert.NewCA(t)
	addr := hostileServer(t, ca, Config{MaxStreams: reqs})
	before := runtime.NumGoroutine()
	var cs []*quic.Conn
	var held []*quic.Stream
	for range conns {
		c := rawConn(t, ca, addr)
		cs = append(cs, c)
		for range reqs {
			str, err := c.OpenStreamSync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h := get3("/held")
			str.Write(h[:len(h)/2])
			held = append(held, str)
		}
		for range unis {
			s, err := c.OpenUniStreamSync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s.Write([]byte{0xc0})
		}
	}
	// Each held stream's reset by the server is awaited: it comes after
	// ReadHeaderTimeout.
	for i, str := range held {
		if _, _, err := readResponse(str); !isReset(err, http3.ErrCodeRequestIncomplete) {
			t.Fatalf("held stream %d: %v, want H3_REQUEST_INCOMPLETE", i, err)
		}
	}
	// What is left: quic-go's few goroutines per connection (and the
	// client's), not one per stream.
	limit := before + conns*12
	g := goroutinesAtMost(limit)
	t.Logf("goroutines: %d before, %d with %d connections after their %d held streams timed out", before, g, conns, conns*(reqs+unis))
	if g > limit {
		t.Errorf("%d goroutines with %d connections idle after their streams timed out, %d before (%d streams held)", g, conns, before, conns*(reqs+unis))
	}
	for _, c := range cs {
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st, _, err := status(str, get3("/after"), ""); err != nil || st != "200" {
			t.Errorf("request after the timeouts: %q %v", st, err)
		}
	}
}

// A request body that stalls fails the handler's Read with
// ErrBodyTimeout after BodyIdleTimeout (slow POST: RFC 9114 §4.1 leaves
// the bound to the server; package httpfront has the same one), not
// before 7/8 of it; a body that keeps coming is read whole.
func TestBodyIdleTimeoutCutsStalledBody(t *testing.T) {
	const timeout = 400 * time.Millisecond
	ca := testcert.NewCA(t)
	addr := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
		BodyIdleTimeout: timeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%q timeout=%v deadline=%v", b, errors.Is(err, ErrBodyTimeout), errors.Is(err, os.ErrDeadlineExceeded))
		})})
	c := rawConn(t, ca, addr)
	post := headers(":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", "/up")
	str, _ := c.OpenStreamSync(context.Background())
	if st, body, err := status(str, post, "whole"); err != nil || st != "200" || body != `"whole" timeout=false deadline=false` {
		t.Errorf("whole body: %q %q %v", st, body, err)
	}
	stalled, _ := c.OpenStreamSync(context.Background())
	start := time.Now()
	stalled.Write(append(append([]byte{}, post...), frame(0x00, []byte("part"))...)) // then nothing, the stream left open
	st, body, err := readResponse(stalled)
	if err != nil || st != "200" || body != `"part" timeout=true deadline=true` {
		t.Errorf("stalled body: %q %q %v", st, body, err)
	}
	if d := time.Since(start); d < timeout*7/8 {
		t.Errorf("stalled body cut after %v, before 7/8 of BodyIdleTimeout %v", d, timeout)
	}
}
