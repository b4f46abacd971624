package httpfront

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// recordingBackend is a raw HTTP/1.1 backend that keeps the exact bytes it
// receives and, for each request it reads whole, "METHOD target body". It
// answers each with 200 "ok".
type recordingBackend struct {
	ln   net.Listener
	mu   sync.Mutex
	raw  bytes.Buffer
	reqs []string
	wg   sync.WaitGroup
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &recordingBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

type recordingReader struct {
	b *recordingBackend
	c net.Conn
}

func (r recordingReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.b.mu.Lock()
	r.b.raw.Write(p[:n])
	r.b.mu.Unlock()
	return n, err
}

func (b *recordingBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(recordingReader{b, c})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, fmt.Sprintf("%s %s %q", req.Method, req.RequestURI, body))
		b.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (b *recordingBackend) seen() ([]string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reqs...), b.raw.String()
}

// startFront serves a Proxy to backend with front "edgekit" (Server) or
// "net/http" (http.Server) and returns its address.
func startFront(t *testing.T, front string, backend *recordingBackend) string {
	t.Helper()
	px := newProxy(t, balancer.ProxyConfig{Retries: -1}, backend.ln.Addr().String())
	if front == "edgekit" {
		return startServer(t, &Server{Handler: px})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: px}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// outcome is a framing decision as a client and the backend see it.
type outcome struct {
	codes   []int    // statuses of the responses to the payload, in order
	open    bool     // the connection then carries another request
	backend []string // what reached the backend (before the probe)
}

// A table of request smuggling payloads (RFC 9112 §11.2) sent to both
// fronts, each before a Proxy to a backend that records what it receives:
// both fronts must take the same framing decision (statuses, whether the
// connection goes on, what reaches the backend), except where ours is
// deliberately safer (ours).
func TestRFC9112_11_2_SmugglingDifferential(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name    string
		payload string
		want    outcome
		ours    *outcome // where Server deliberately differs from net/http
	}{
		{
			name:    "§5.1 space before colon in Content-Length",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello" + smuggled,
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5.1 space before colon in Transfer-Encoding",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5.1 tab before colon",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5.1 space inside a field name",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nX Forwarded: 1\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5.1 field line without colon",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length 5\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5 whitespace before the first field",
			payload: "GET /a HTTP/1.1\r\n Content-Length: 5\r\nHost: x\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "RFC 9110 §5.5 CTL in a value",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "RFC 9110 §5.5 NUL in a value",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "RFC 9110 §5.5 bare CR in a value",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 5\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§5.2 obs-fold is unfolded",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
			want:    outcome{codes: []int{200}, open: true, backend: []string{`GET /a ""`}},
		},
		{
			name:    "§5.2 obs-fold in Content-Length",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n 6\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§6.3 two different Content-Lengths",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§6.3 Content-Length list of different values",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§6.3 two equal Content-Lengths",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
			want:    outcome{codes: []int{200}, open: true, backend: []string{`POST /a "hello"`}},
		},
		{
			name:    "§6.3 signed Content-Length",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§6.3 hex Content-Length",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
			want:    outcome{codes: []int{400}},
		},
		{
			// net/http frames by Transfer-Encoding and keeps the
			// connection; RFC 9112 §6.1 says close after the response.
			name:    "§6.1 Content-Length and Transfer-Encoding",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			want:    outcome{codes: []int{200}, open: true, backend: []string{`POST /a "hello"`}},
			ours:    &outcome{codes: []int{200}, backend: []string{`POST /a "hello"`}},
		},
		{
			name:    "§6.1 Transfer-Encoding not ending in chunked",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\nhello",
			want:    outcome{codes: []int{501}},
		},
		{
			name:    "§6.1 chunked applied twice",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want:    outcome{codes: []int{501}},
		},
		{
			name:    "§6.1 unknown transfer coding",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
			want:    outcome{codes: []int{501}},
		},
		{
			name:    "§6.1 gzip before chunked",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
			want:    outcome{codes: []int{501}},
		},
		{
			// net/http ignores Transfer-Encoding in HTTP/1.0, frames by
			// Content-Length and keeps the connection; RFC 9112 §6.1:
			// faulty framing, close after the response.
			name:    "§6.1 HTTP/1.0 with Transfer-Encoding and Content-Length",
			payload: "POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
			want:    outcome{codes: []int{200}, open: true, backend: []string{`POST /a "0\r\n\r\n"`}},
			ours:    &outcome{codes: []int{200}, backend: []string{`POST /a "0\r\n\r\n"`}},
		},
		{
			// net/http reads the chunked body as a next request (400).
			name:    "§6.1 HTTP/1.0 with Transfer-Encoding alone",
			payload: "POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			want:    outcome{codes: []int{200, 400}, backend: []string{`POST /a ""`}},
			ours:    &outcome{codes: []int{200}, backend: []string{`POST /a ""`}},
		},
		{
			// The body failed on the client's side: the proxy
			// (internal/blame) answers 400 behind either front, and
			// httpfront.Server would answer 400 even for a 502.
			name:    "§7.1 invalid chunk size",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled,
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§7.1 chunk size overflow",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled,
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§7.1 chunk longer than its size",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + smuggled,
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 HTTP/1.1 without Host",
			payload: "GET /a HTTP/1.1\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 absolute target without Host",
			payload: "GET http://x/a HTTP/1.1\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 absolute target with a bad Host",
			payload: "GET http://x/a HTTP/1.1\r\nHost: a b\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 absolute target with a Host",
			payload: "GET http://x/a HTTP/1.1\r\nHost: y\r\n\r\n",
			want:    outcome{codes: []int{200}, open: true, backend: []string{`GET /a ""`}},
		},
		{
			name:    "§3.2 two Hosts",
			payload: "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 bad Host",
			payload: "GET /a HTTP/1.1\r\nHost: x/y\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 target not in origin form",
			payload: "GET t/x HTTP/1.1\r\nHost: x\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 control character in the target",
			payload: "GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3.2 tab in the target",
			payload: "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "§3 malformed version",
			payload: "GET /a HTTP/1.1x\r\nHost: x\r\n\r\n",
			want:    outcome{codes: []int{400}},
		},
		{
			name:    "pipelined requests",
			payload: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
			want:    outcome{codes: []int{200, 200}, open: true, backend: []string{`POST /a "hello"`, `GET /b ""`}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, front := range []string{"edgekit", "net/http"} {
				want := tc.want
				if front == "edgekit" && tc.ours != nil {
					want = *tc.ours
				}
				backend := newRecordingBackend(t)
				addr := startFront(t, front, backend)
				c := dialRaw(t, addr)
				c.send(tc.payload)
				var got outcome
				for range want.codes {
					resp, err := http.ReadResponse(c.br, nil)
					if err != nil {
						break
					}
					io.Copy(io.Discard, resp.Body)
					got.codes = append(got.codes, resp.StatusCode)
				}
				got.backend, _ = backend.seen()
				if want.open {
					// A probe must come through on the same connection.
					c.send("GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, err := http.ReadResponse(c.br, nil)
					got.open = err == nil && resp.StatusCode == 200
				} else {
					got.open = !c.closed()
				}
				if fmt.Sprint(got.codes) != fmt.Sprint(want.codes) || got.open != want.open || fmt.Sprintf("%q", got.backend) != fmt.Sprintf("%q", want.backend) {
					t.Errorf("front %s: got %+v, want %+v", front, got, want)
				}
				if _, raw := backend.seen(); strings.Contains(raw, "smuggled") {
					t.Errorf("front %s: the backend received a smuggled request:\n%q", front, raw)
				}
			}
		})
	}
}

var discardLog = log.New(io.Discard, "", 0)

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

// closeNotingConn is a fakeConn whose Close is observed.
type closeNotingConn struct {
	fakeConn
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func (c *closeNotingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fakeConn.Write(p)
}

func (c *closeNotingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// recordRequests is a handler that reads each body whole and notes what it
// received: "METHOD target host body" (and the body's read error).
func recordRequests(mu *sync.Mutex, seen *[]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		mu.Lock()
		*seen = append(*seen, fmt.Sprintf("%s %s %q %q %v", r.Method, r.RequestURI, r.Host, body, err != nil))
		mu.Unlock()
		io.WriteString(w, "ok")
	})
}

// FuzzServerDifferential feeds the same bytes to Server and to net/http's
// Server, each with a handler recording what it receives. Server must not
// panic, and what its handler receives must be a prefix of what net/http's
// receives: Server may stop sooner where it is deliberately stricter (it
// closes after an HTTP/1.0 request with Transfer-Encoding or one with both
// Transfer-Encoding and Content-Length, "PRI *
// HTTP/2.0" and blank lines after a POST), but never accepts a request
// net/http refuses, nor frames one differently.
func FuzzServerDifferential(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
		"GET http://x/a HTTP/1.1\r\nHost: y\r\n\r\nGET http://x/b HTTP/1.1\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\nGET t/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
		"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nz",
	} {
		f.Add([]byte(s))
	}
	const maxHead = 4 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		var mu sync.Mutex
		var ours, theirs []string

		s := &Server{Handler: recordRequests(&mu, &ours), MaxHeaderBytes: maxHead}
		fc := &fakeConn{r: bytes.NewReader(in)}
		sc := &serverConn{srv: s, conn: fc, log: s.logger(), remote: "192.0.2.1:1"}
		sc.serve()

		nc := &closeNotingConn{fakeConn: fakeConn{r: bytes.NewReader(in)}, closed: make(chan struct{})}
		ln := &oneConnListener{c: make(chan net.Conn, 1), done: make(chan struct{})}
		ln.c <- nc
		hs := &http.Server{Handler: recordRequests(&mu, &theirs), MaxHeaderBytes: maxHead, ErrorLog: discardLog}
		served := make(chan struct{})
		go func() { defer close(served); hs.Serve(ln) }()
		<-nc.closed
		hs.Close()
		<-served

		mu.Lock()
		defer mu.Unlock()
		if len(ours) > len(theirs) {
			t.Fatalf("Server's handler got more requests than net/http's:\n ours %q\ntheirs %q\ninput %q", ours, theirs, in)
		}
		for i := range ours {
			if ours[i] != theirs[i] {
				t.Fatalf("request %d differs:\n  ours %q\ntheirs %q\ninput %q", i, ours[i], theirs[i], in)
			}
		}
	})
}

// BenchmarkServerPipelinedHeads serves 100 pipelined requests with typical
// browser-sized heads from memory, through Server beside net/http's Server
// (same input, same trivial handler), without system calls: the cost of
// parsing and checking heads and writing responses.
func BenchmarkServerPipelinedHeads(b *testing.B) {
	const n = 100
	head := "GET /static/app.js?v=42 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: */*\r\nAccept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\nCookie: session=0123456789abcdef\r\n\r\n"
	in := []byte(strings.Repeat(head, n))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
	})
	b.Run("front=edgekit", func(b *testing.B) {
		s := &Server{Handler: h}
		b.ReportAllocs()
		for b.Loop() {
			fc := &fakeConn{r: bytes.NewReader(in)}
			sc := &serverConn{srv: s, conn: fc, log: s.logger(), remote: "192.0.2.1:1"}
			sc.serve()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/req")
	})
	b.Run("front=net/http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			nc := &closeNotingConn{fakeConn: fakeConn{r: bytes.NewReader(in)}, closed: make(chan struct{})}
			ln := &oneConnListener{c: make(chan net.Conn, 1), done: make(chan struct{})}
			ln.c <- nc
			hs := &http.Server{Handler: h, ErrorLog: discardLog}
			served := make(chan struct{})
			go func() { defer close(served); hs.Serve(ln) }()
			<-nc.closed
			hs.Close()
			<-served
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/req")
	})
}
