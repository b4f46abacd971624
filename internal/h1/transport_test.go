package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/rawbackend"
	"go.uber.org/goleak"
)

// countingServer is an httptest server that counts the connections it
// accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func get(t *testing.T, tr http.RoundTripper, ctx context.Context, method, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

// RFC 9112 §9.3: persistent connections. Sequential requests of every
// body shape (length, chunked with trailers, none) share one connection.
func TestTransportReusesConnections(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("part1"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
			w.Header().Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/notmod":
			w.WriteHeader(http.StatusNotModified)
		default:
			fmt.Fprintf(w, "hello %s", r.URL.Path)
		}
	})
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		resp, body, err := get(t, tr, ctx, "GET", s.URL+"/x")
		if err != nil || resp.StatusCode != 200 || body != "hello /x" {
			t.Fatalf("GET %d: %v %v %q", i, err, resp, body)
		}
		resp, body, err = get(t, tr, ctx, "GET", s.URL+"/chunked")
		if err != nil || body != "part1part2" || resp.Trailer.Get("X-Sum") != "42" {
			t.Fatalf("chunked: %v %q trailer %v", err, body, resp.Trailer)
		}
		for _, p := range []string{"/empty", "/notmod"} {
			if _, _, err := get(t, tr, ctx, "GET", s.URL+p); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		if resp, body, err = get(t, tr, ctx, "HEAD", s.URL+"/x"); err != nil || body != "" || resp.ContentLength != int64(len("hello /x")) {
			t.Fatalf("HEAD: %v %q %d", err, body, resp.ContentLength)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 100 sequential requests, want 1", n)
	}
}

// A connection the backend closed while it sat idle is replaced without
// failing the request (the methods on this path are idempotent, RFC 9110
// §9.2.2), and a response that asks to close is not reused.
func TestTransportRetriesStaleIdleConnection(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	})
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	ctx := context.Background()
	if _, body, err := get(t, tr, ctx, "GET", s.URL); err != nil || body != "ok" {
		t.Fatal(err, body)
	}
	s.CloseClientConnections() // the backend drops the idle connection
	for i := 0; i < 3; i++ {
		if _, body, err := get(t, tr, ctx, "GET", s.URL); err != nil || body != "ok" {
			t.Fatalf("after backend closed the idle connection: %v %q", err, body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := get(t, tr, ctx, "GET", s.URL+"/close"); err != nil {
			t.Fatal(err)
		}
		tr.mu.Lock()
		idle := len(tr.idle[strings.TrimPrefix(s.URL, "http://")])
		tr.mu.Unlock()
		if idle != 0 {
			t.Fatal("a connection the backend said it closes went back to the pool")
		}
	}
	if n := conns.Load(); n != 4 {
		t.Fatalf("%d connections after 3 Connection: close responses, want 4", n)
	}
}

// stallingServer answers /ok at once; /stream sends "first" and then
// stalls, and any other path stalls before answering, until the request
// or the test ends.
func stallingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	release := make(chan struct{})
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		if r.URL.Path == "/stream" {
			w.Write([]byte("first"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	return s, conns
}

// Cancelling the request unblocks a wait for the response header and a
// read of the body, and the connection is not reused afterwards.
func TestTransportCancel(t *testing.T) {
	s, conns := stallingServer(t)
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := get(t, tr, ctx, "GET", s.URL+"/hang"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a header past the deadline: %v", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx2, "GET", s.URL+"/stream", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatal(err, string(buf))
	}
	cancel2()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("body read after cancel: %v", err)
	}
	resp.Body.Close()
	before := conns.Load()
	if _, _, err := get(t, tr, context.Background(), "GET", s.URL+"/ok"); err != nil {
		t.Fatal(err)
	}
	if conns.Load() != before+1 {
		t.Fatalf("a cancelled connection was reused")
	}
}

// A body closed before its end (a client went away) closes the
// connection instead of reading the rest.
func TestTransportAbandonedBody(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", s.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, body, err := get(t, tr, context.Background(), "GET", s.URL); err != nil || len(body) != len(big) {
		t.Fatal(err, len(body))
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the abandoned one closed)", n)
	}
}

// rawBackend answers every request on a connection with reply.
func rawBackend(t *testing.T, reply string) string {
	t.Helper()
	return rawbackend.Start(t, func(req *http.Request, w io.Writer) error {
		req.Body.Close()
		_, err := io.WriteString(w, reply)
		return err
	})
}

// Malformed or hostile responses get an error, not a panic or a hang:
// an unbounded header, a 101 nobody asked for, endless 1xx responses.
func TestTransportBadResponses(t *testing.T) {
	tr := New(3*time.Second, false)
	tr.MaxResponseHeaderBytes = 4 << 10
	defer tr.CloseIdleConnections()
	cases := map[string]struct {
		reply string
		want  error
	}{
		"huge header": {"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", ErrHeaderTooLarge},
		"101":         {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", ErrUnexpectedUpgrade},
		"1xx flood":   {strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 10), ErrTooMany1xx},
		"garbage":     {"SMTP ready\r\n\r\n", nil},
	}
	for name, c := range cases {
		addr := rawBackend(t, c.reply)
		_, _, err := get(t, tr, context.Background(), "GET", "http://"+addr+"/")
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// RFC 9110 §15.2: interim responses reach the client trace (ReverseProxy
// relays them, e.g. 103 Early Hints), then the final response follows.
func TestTransportInterimResponses(t *testing.T) {
	addr := rawBackend(t, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	var got []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, fmt.Sprint(code, " ", h.Get("Link")))
			return nil
		},
	})
	resp, body, err := get(t, tr, ctx, "GET", "http://"+addr+"/")
	if err != nil || resp.StatusCode != 200 || body != "ok" {
		t.Fatal(err, body)
	}
	if len(got) != 1 || got[0] != "103 </s.css>; rel=preload" {
		t.Fatalf("1xx seen: %q", got)
	}
}

// The pool keeps at most MaxIdlePerHost connections per backend and closes
// the ones idle past IdleTimeout (by the injected clock) instead of handing
// them out.
func TestTransportIdleLimits(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	fc := clock.NewFake(time.Unix(1000, 0))
	tr := New(3*time.Second, false)
	tr.MaxIdlePerHost = 2
	tr.Now = fc.Now
	defer tr.CloseIdleConnections()
	// Hold four responses open at once, then finish them: two are kept.
	var bodies []io.ReadCloser
	for i := 0; i < 4; i++ {
		req, _ := http.NewRequest("GET", s.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, b := range bodies {
		io.ReadAll(b)
		b.Close()
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	tr.mu.Lock()
	kept := len(tr.idle[addr])
	tr.mu.Unlock()
	if kept != 2 || conns.Load() != 4 {
		t.Fatalf("kept %d idle of %d, want 2 of 4", kept, conns.Load())
	}
	fc.Advance(89 * time.Second) // within the 90 s idle timeout
	if _, _, err := get(t, tr, context.Background(), "GET", s.URL); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 4 {
		t.Fatalf("%d connections: an idle connection within the timeout was not reused", n)
	}
	fc.Advance(91 * time.Second) // every idle connection is now too old
	if _, _, err := get(t, tr, context.Background(), "GET", s.URL); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 5 {
		t.Fatalf("%d connections: an expired idle connection was reused", n)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Pooled takes plain-http, body-less, idempotent, non-upgrade requests
// only; the rest keep http.Transport's handling.
func TestPooledChoosesRequests(t *testing.T) {
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "http://b/x", strings.NewReader("x")),
		httptest.NewRequest("PATCH", "http://b/x", nil),
		httptest.NewRequest("GET", "http://b/x", strings.NewReader("body")),
		func() *http.Request {
			r := httptest.NewRequest("GET", "http://b/x", nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		}(),
		httptest.NewRequest("GET", "https://b/x", nil),
		func() *http.Request {
			r := httptest.NewRequest("GET", "http://b/x", nil)
			r.TransferEncoding = []string{"chunked"}
			return r
		}(),
	} {
		if Pooled(req) {
			t.Errorf("%s %s (upgrade %q) took the pooled path", req.Method, req.URL, req.Header.Get("Upgrade"))
		}
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"} {
		if !Pooled(httptest.NewRequest(m, "http://b/x", nil)) {
			t.Errorf("a plain %s did not take the pooled path", m)
		}
	}
}

// A POST goes through the fallback and arrives with its body.
func TestTransportFallback(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", s.URL, strings.NewReader("payload"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST payload" {
		t.Fatalf("fallback: %q", b)
	}
}

// The zero Transport works: defaults are filled on first use.
func TestZeroTransport(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	var tr Transport
	defer tr.CloseIdleConnections()
	if _, body, err := get(t, &tr, context.Background(), "GET", s.URL); err != nil || body != "ok" {
		t.Fatal(err, body)
	}
}

// A header value with a line break (or an invalid name or Host) never
// reaches the wire: it could smuggle a second request to the backend.
func TestTransportRefusesInvalidHeaders(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	for name, mod := range map[string]func(*http.Request){
		"CRLF in value": func(r *http.Request) { r.Header["X-A"] = []string{"a\r\nGET /evil HTTP/1.1"} },
		"space in name": func(r *http.Request) { r.Header["X A"] = []string{"a"} },
		"bad Host":      func(r *http.Request) { r.Host = "a b" },
	} {
		req, _ := http.NewRequest("GET", s.URL, nil)
		mod(req)
		if _, err := tr.RoundTrip(req); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections opened for invalid requests", n)
	}
}

// scriptConn is a net.Conn whose peer sends a fixed byte string and reads
// everything: a backend that answers with whatever the fuzzer wrote.
type scriptConn struct {
	net.Conn // nil: methods not overridden are never called
	r        *strings.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzResponse feeds arbitrary backend bytes to one round trip: no panic,
// the body ends, and a connection goes back to the pool only when its
// response was framed and read completely with nothing left over.
func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n2\r\nok\r\n0\r\nX: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"garbage",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, reply string, head bool) {
		tr := New(time.Second, false)
		tr.MaxResponseHeaderBytes = 4 << 10
		tr.init()
		c := tr.newConn("b:80", &scriptConn{r: strings.NewReader(reply)})
		method := "GET"
		if head {
			method = "HEAD"
		}
		req, _ := http.NewRequest(method, "http://b/", nil)
		resp, err := c.roundTrip(req)
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, int64(len(reply))+1))
		if n > int64(len(reply)) {
			t.Fatalf("body of %d bytes from a %d-byte reply", n, len(reply))
		}
		resp.Body.Close()
		tr.mu.Lock()
		pooled := len(tr.idle["b:80"])
		tr.mu.Unlock()
		if pooled > 0 && (err != nil || c.br.Buffered() != 0 || resp.Close) {
			t.Fatalf("connection pooled after err=%v buffered=%d close=%v", err, c.br.Buffered(), resp.Close)
		}
	})
}

// A fresh connection the backend closes without a byte of response is a
// NoResponseError (the caller may resend the idempotent request
// elsewhere); one that breaks off mid-response is not.
func TestTransportNoResponseError(t *testing.T) {
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	var none *NoResponseError
	var conns atomic.Int32
	addr := rawbackend.Serve(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		if conns.Add(1)%2 == 0 {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		}
	})
	if _, _, err := get(t, tr, context.Background(), "GET", "http://"+addr+"/"); !errors.As(err, &none) {
		t.Fatalf("closed without an answer: %v", err)
	}
	if _, _, err := get(t, tr, context.Background(), "GET", "http://"+addr+"/"); err == nil || errors.As(err, &none) {
		t.Fatalf("broke off mid-header: %v", err)
	}
}

// After an abandoned or failed body, further reads report it instead of
// a clean end; a Close during a blocked Read ends that Read.
func TestTransportBodyAfterCloseAndConcurrentClose(t *testing.T) {
	s, _ := stallingServer(t)
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", s.URL+"/stream", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	// The Read below is under way in the connection's read (where it
	// blocks: the server is waiting) when the body is closed: the
	// connection tells when its Read is entered.
	b, ok := resp.Body.(*body)
	if !ok {
		t.Fatalf("response body is a %T, want the transport's own", resp.Body)
	}
	reading := make(chan struct{})
	b.c.nc = &readSignalConn{Conn: b.c.nc, reading: reading}
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		errc <- err
	}()
	<-reading
	resp.Body.Close()
	select {
	case err := <-errc:
		if err == nil || err == io.EOF {
			t.Fatalf("blocked Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
	if _, err := resp.Body.Read(buf); err == nil || err == io.EOF {
		t.Fatalf("Read after Close: %v, want an error", err)
	}
}

// readSignalConn closes reading when its first Read is entered.
type readSignalConn struct {
	net.Conn
	reading chan struct{}
	once    sync.Once
}

func (c *readSignalConn) Read(p []byte) (int, error) {
	c.once.Do(func() { close(c.reading) })
	return c.Conn.Read(p)
}

// writeRequest must put on the wire what Request.Write does (RFC 9112 §3
// request line, §3.2 Host), line for line; only the order of differently
// named fields may differ.
func TestWriteRequestMatchesRequestWrite(t *testing.T) {
	mk := func(method, target string, h http.Header, close bool) *http.Request {
		req, err := http.NewRequest(method, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			req.Header[k] = vs
		}
		req.Close = close
		return req
	}
	reqs := []*http.Request{
		mk("GET", "http://b.example/a/b?q=1&r=%20", nil, false),
		mk("HEAD", "http://b.example:8080/", http.Header{"User-Agent": {""}}, false),
		mk("DELETE", "http://b.example/x", http.Header{"User-Agent": {"curl/8"}, "X-Many": {"1", " 2 ", "3"}}, true),
		mk("OPTIONS", "http://[fe80::1%25eth0]:80/", http.Header{"Connection": {"close"}, "Accept": {"*/*"}}, true),
		mk("TRACE", "http://b.example/%E2%82%AC", http.Header{"Forwarded": {`for=192.0.2.1;host="a.example"`}, "Empty": {}}, false),
	}
	lines := func(b []byte) []string {
		l := strings.Split(string(b), "\r\n")
		slices.Sort(l[1:])
		return l
	}
	for _, req := range reqs {
		var want, got strings.Builder
		if err := req.Write(&want); err != nil {
			t.Fatal(err)
		}
		bw := bufio.NewWriter(&got)
		if err := writeRequest(bw, req); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if w, g := lines([]byte(want.String())), lines([]byte(got.String())); !slices.Equal(w, g) {
			t.Errorf("%s %s:\n got %q\nwant %q", req.Method, req.URL, g, w)
		}
	}
	bad := mk("GET", "http://b.example/", nil, false)
	bad.URL.RawQuery = "a=\x01"
	if err := writeRequest(bufio.NewWriter(io.Discard), bad); err == nil {
		t.Error("a control character in the target was written")
	}
}
