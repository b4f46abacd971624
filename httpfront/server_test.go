package httpfront

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgekit/edgekit/balancer"
)

// startServer serves h on a loopback listener until the test ends.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawConn is a client connection that writes raw requests and reads
// responses with http.ReadResponse.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// read reads one response to a request of method and returns it with its
// whole body.
func (r *rawConn) read(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading the body: %v", err)
	}
	return resp, string(body)
}

// closed reports whether the server closed the connection (EOF or a
// reset on read).
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.br.ReadByte()
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Remote", r.RemoteAddr)
		if r.URL.Query().Get("sized") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+len(r.URL.Path)))
		}
		io.WriteString(w, r.URL.Path)
		w.Write(body)
	})
}

func TestServerKeepAliveAndPipelining(t *testing.T) {
	addr := startServer(t, &Server{Handler: echoHandler()})
	c := dialRaw(t, addr)
	// Two requests in one write: both answered, in order, on one connection.
	c.send("GET /a?sized=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n")
	r1, b1 := c.read("GET")
	r2, b2 := c.read("GET")
	if b1 != "/a" || r1.ContentLength != 2 || r1.Header.Get("X-Host") != "x" {
		t.Fatalf("first response: %q, length %d, host %q", b1, r1.ContentLength, r1.Header.Get("X-Host"))
	}
	// Without a Content-Length from the handler, HTTP/1.1 gets chunks.
	if b2 != "/b" || len(r2.TransferEncoding) != 1 || r2.TransferEncoding[0] != "chunked" {
		t.Fatalf("second response: %q, transfer encoding %v", b2, r2.TransferEncoding)
	}
	if r1.Header.Get("Date") == "" || r1.Header.Get("X-Remote") != c.c.LocalAddr().String() {
		t.Fatalf("Date %q, RemoteAddr %q", r1.Header.Get("Date"), r1.Header.Get("X-Remote"))
	}
	c.send("GET /c HTTP/1.1\r\nHost: z\r\nConnection: close\r\n\r\n")
	r3, b3 := c.read("GET")
	if b3 != "/c" || !r3.Close {
		t.Fatalf("third response: %q, close %v", b3, r3.Close)
	}
	if !c.closed() {
		t.Fatal("connection still open after Connection: close")
	}
}

func TestServerRequestBodies(t *testing.T) {
	addr := startServer(t, &Server{Handler: echoHandler()})
	c := dialRaw(t, addr)
	c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	if _, b := c.read("POST"); b != "/phello" {
		t.Fatalf("fixed body echoed as %q", b)
	}
	c.send("POST /q HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if r, b := c.read("POST"); b != "/qabcde" || !r.Close {
		t.Fatalf("chunked body echoed as %q (close %v: a chunked request closes)", b, r.Close)
	}
	// RFC 9112 §6.1: a request with both Transfer-Encoding and
	// Content-Length is read by the former, and the connection closes
	// after the response (request smuggling).
	e := dialRaw(t, addr)
	e.send("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, b := e.read("POST"); b != "/s" || !r.Close || !e.closed() {
		t.Fatalf("TE and CL together: %q, close %v", b, r.Close)
	}
	// RFC 9112 §6.1: a transfer coding not understood gets 501.
	g := dialRaw(t, addr)
	g.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
	if r, _ := g.read("POST"); r.StatusCode != http.StatusNotImplemented || !g.closed() {
		t.Fatalf("unknown transfer coding: %d", r.StatusCode)
	}
}

func TestServerHTTP10(t *testing.T) {
	addr := startServer(t, &Server{Handler: echoHandler()})
	c := dialRaw(t, addr)
	// HTTP/1.0 keep-alive with a sized response keeps the connection.
	c.send("GET /a?sized=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r, b := c.read("GET")
	if b != "/a" || r.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("1.0 keep-alive: %q, Connection %q", b, r.Header.Get("Connection"))
	}
	// An unsized response to HTTP/1.0 ends with the connection.
	c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r, b = c.read("GET")
	if b != "/b" || !r.Close {
		t.Fatalf("1.0 unsized: %q, close %v", b, r.Close)
	}
	if !c.closed() {
		t.Fatal("connection open after a close-delimited body")
	}
}

func TestServerBodilessResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("write after 204: %v", err)
			}
		case "/empty":
		case "/hints":
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "final")
		default:
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "body")
		}
	})
	addr := startServer(t, &Server{Handler: h})
	c := dialRaw(t, addr)
	c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, b := c.read("HEAD"); r.ContentLength != 4 || b != "" {
		t.Fatalf("HEAD: length %d, body %q", r.ContentLength, b)
	}
	c.send("GET /204 HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, b := c.read("GET"); r.StatusCode != 204 || b != "" {
		t.Fatalf("204: %d %q", r.StatusCode, b)
	}
	c.send("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, b := c.read("GET"); r.StatusCode != 200 || r.ContentLength != 0 || b != "" {
		t.Fatalf("empty handler: %d, length %d, %q", r.StatusCode, r.ContentLength, b)
	}
	// A 1xx goes out first and the final response follows.
	c.send("GET /hints HTTP/1.1\r\nHost: x\r\n\r\n")
	line, _ := c.br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 103 ") {
		t.Fatalf("first line %q, want 103", line)
	}
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	if r, b := c.read("GET"); r.StatusCode != 200 || b != "final" || r.Header.Get("Link") != "" {
		t.Fatalf("after 103: %d %q Link %q", r.StatusCode, b, r.Header.Get("Link"))
	}
}

func TestServerExpectContinue(t *testing.T) {
	addr := startServer(t, &Server{Handler: echoHandler()})
	c := dialRaw(t, addr)
	c.send("PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response %q, %v", line, err)
	}
	c.br.ReadString('\n')
	c.send("abc")
	if _, b := c.read("PUT"); b != "/uabc" {
		t.Fatalf("body after 100 Continue: %q", b)
	}
	c.send("PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: magic\r\n\r\nabc")
	if r, _ := c.read("PUT"); r.StatusCode != http.StatusExpectationFailed {
		t.Fatalf("unknown expectation: %d", r.StatusCode)
	}
}

func TestServerRejectsBadRequests(t *testing.T) {
	addr := startServer(t, &Server{Handler: echoHandler(), MaxHeaderBytes: 1 << 10})
	for _, tc := range []struct {
		name, req string
		code      int
	}{
		{"garbage", "HELLO\r\n\r\n", 400},
		{"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 8<<10) + "\r\n\r\n", 431},
		{"HTTP/2 over 1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send(tc.req)
			r, _ := c.read("GET")
			if r.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.code)
			}
			if !c.closed() {
				t.Fatal("connection left open after a rejected request")
			}
		})
	}
}

func TestServerHandlerPanics(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "part")
			panic(http.ErrAbortHandler)
		}
		if r.URL.Path == "/boom" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	addr := startServer(t, &Server{Handler: h})
	for _, path := range []string{"/abort", "/boom"} {
		c := dialRaw(t, addr)
		c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if all, _ := io.ReadAll(c.br); path == "/abort" && !bytes.HasSuffix(all, []byte("part")) {
			t.Fatalf("%s: got %q before the close", path, all)
		}
	}
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, b := c.read("GET"); b != "fine" {
		t.Fatalf("after panics: %q", b)
	}
}

func TestServerShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&Server{Handler: h}).Serve(ctx, ln) }()
	idle := dialRaw(t, ln.Addr().String())
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	busy := dialRaw(t, ln.Addr().String())
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	cancel()
	if !idle.closed() {
		t.Fatal("idle connection not closed on shutdown")
	}
	close(release)
	r, b := busy.read("GET")
	if b != "done" || !r.Close {
		t.Fatalf("request in flight at shutdown: %q, close %v", b, r.Close)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

// TestServerFrontsProxy runs the balancer's Proxy behind Server against
// real backends, with Go's client, including a protocol switch (the
// backend takes the connection over after 101, as WebSocket does).
func TestServerFrontsProxy(t *testing.T) {
	var backends []string
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("b%d", i)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") == "echo" {
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
				brw.Flush()
				line, _ := brw.ReadString('\n')
				brw.WriteString(name + ":" + line)
				brw.Flush()
				return
			}
			io.WriteString(w, name+" "+r.URL.Path+" "+r.Header.Get("X-Forwarded-For"))
		}))
		t.Cleanup(srv.Close)
		backends = append(backends, strings.TrimPrefix(srv.URL, "http://"))
	}
	px := newProxy(t, balancer.ProxyConfig{}, backends...)
	addr := startServer(t, &Server{Handler: px})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	t.Cleanup(client.CloseIdleConnections)
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				resp, err := client.Get("http://" + addr + "/x")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				f := strings.Fields(string(b))
				if resp.StatusCode != 200 || len(f) != 3 || f[1] != "/x" || f[2] != "127.0.0.1" {
					t.Errorf("response %d %q", resp.StatusCode, b)
					return
				}
				mu.Lock()
				seen[f[0]]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if seen["b0"] != 50 || seen["b1"] != 50 {
		t.Fatalf("round robin through Server: %v", seen)
	}
	c := dialRaw(t, addr)
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	r, err := http.ReadResponse(c.br, nil)
	if err != nil || r.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	c.send("ping\n")
	if line, err := c.br.ReadString('\n'); err != nil || !strings.HasSuffix(line, ":ping\n") {
		t.Fatalf("through the switched connection: %q %v", line, err)
	}
}

// fakeConn is a connection that reads a fixed input and keeps what is
// written, for the fuzz target.
type fakeConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (f *fakeConn) Read(p []byte) (int, error)         { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)        { return f.out.Write(p) }
func (f *fakeConn) Close() error                       { return nil }
func (f *fakeConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (f *fakeConn) SetDeadline(t time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(t time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzServerConn feeds arbitrary bytes to a server connection: it must
// not panic, and what it writes must be a sequence of parsable responses.
func FuzzServerConn(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
		"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
	s := &Server{Handler: echoHandler(), MaxHeaderBytes: 4 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		fc := &fakeConn{r: bytes.NewReader(in)}
		sc := &serverConn{srv: s, conn: fc, log: s.logger(), remote: "192.0.2.1:1"}
		sc.serve()
		if bytes.Contains(in, []byte("HEAD")) {
			return // a HEAD response cannot be parsed without its request
		}
		br := bufio.NewReader(&fc.out)
		for i := 0; ; i++ {
			if _, err := br.Peek(1); err == io.EOF {
				return
			}
			// 100 Continue and other interim responses parse too.
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d does not parse: %v\n%q", i, err, fc.out.Bytes())
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil && resp.ContentLength != -1 {
				t.Fatalf("response %d body: %v", i, err)
			}
		}
	})
}

// A proxied upload leaves the client connection reusable, and a body the
// handler does not read past a point is drained (small) or ends the
// connection (large), never read without bound.
func TestServerProxiedUploads(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	defer backend.Close()
	px := newProxy(t, balancer.ProxyConfig{}, strings.TrimPrefix(backend.URL, "http://"))
	addr := startServer(t, &Server{Handler: px})
	c := dialRaw(t, addr)
	for i := 0; i < 3; i++ {
		c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("u", 5000))
		if r, b := c.read("POST"); r.StatusCode != 200 || b != "5000" || r.Close {
			t.Fatalf("upload %d: %d %q close %v", i, r.StatusCode, b, r.Close)
		}
	}
	// Handlers that ignore the body (/) or close it unread (/close): the
	// rest is drained and the connection goes on.
	lazy := startServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			r.Body.Close() // reads nothing
		}
		io.WriteString(w, "ok")
	})})
	d := dialRaw(t, lazy)
	for _, path := range []string{"/", "/close"} {
		d.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		d.read("POST")
		if _, b := d.read("GET"); b != "ok" {
			t.Fatalf("after a small unread body (%s): %q", path, b)
		}
	}
	e := dialRaw(t, lazy)
	e.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 10<<20))
	if r, _ := e.read("POST"); !r.Close {
		t.Fatal("a 10 MiB unread body did not end the connection")
	}
}

// BenchmarkServer is a keep-alive GET answered with 1 KiB by a trivial
// handler, through Server beside net/http's Server (the plain library it
// improves on). The client side, in the same process, is a raw connection
// per goroutine, so what differs is the front; but loopback system calls
// on both sides dominate the time here, so allocations per request are the
// clearer figure (scripts/bench-balancer.sh measures throughput).
func BenchmarkServer(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1024")
		w.Write(body)
	})
	for _, front := range []string{"edgekit", "net/http"} {
		b.Run("front="+front, func(b *testing.B) {
			var addr string
			if front == "edgekit" {
				addr = startServer(b, &Server{Handler: h})
			} else {
				srv := httptest.NewServer(h)
				defer srv.Close()
				addr = strings.TrimPrefix(srv.URL, "http://")
			}
			b.ReportAllocs()
			b.SetParallelism(32) // 64 connections on two cores, as wrk -c64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				req := []byte("GET /x HTTP/1.1\r\nHost: bench\r\n\r\n")
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// Response fields are written as net/http writes them: an invalid name is
// dropped and line breaks in a value become spaces, so a handler echoing
// input cannot inject a field (RFC 9110 §5.5); trailers go after the last
// chunk, both those the Trailer field declared and those set under
// http.TrailerPrefix (RFC 9112 §7.1.2).
func TestServerResponseFieldsAndTrailers(t *testing.T) {
	addr := startServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Bad Name"] = []string{"x"}
		h.Set("X-Split", "a\r\nInjected: yes")
		h.Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		h.Set("X-Sum", "42")
		h.Set(http.TrailerPrefix+"X-Late", "late")
	})})
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r, body := c.read("GET")
	if body != "body" || r.Header.Get("X-Split") != "a Injected: yes" || r.Header.Get("Injected") != "" {
		t.Fatalf("body %q, X-Split %q, Injected %q", body, r.Header.Get("X-Split"), r.Header.Get("Injected"))
	}
	for k := range r.Header {
		if strings.Contains(k, " ") {
			t.Fatalf("field with an invalid name %q was sent", k)
		}
	}
	if r.Trailer.Get("X-Sum") != "42" || r.Trailer.Get("X-Late") != "late" {
		t.Fatalf("trailers %v, want X-Sum 42 and X-Late late", r.Trailer)
	}
}

// RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in
// an HTTP/1.0 request MUST ignore that expectation." Server answered 417
// (and closed); net/http's Server serves the request, as here, with no
// interim response and without passing the expectation on.
func TestRFC9110_10_1_1_ExpectContinueIgnoredInHTTP10(t *testing.T) {
	var expect []string
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		expect = append(expect, r.Header.Get("Expect"))
		mu.Unlock()
		echoHandler().ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ErrorLog: discardLog}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close(); <-done })
	for _, front := range []struct{ name, addr string }{
		{"edgekit", startServer(t, &Server{Handler: h})},
		{"net/http", ln.Addr().String()},
	} {
		c := dialRaw(t, front.addr)
		c.send("PUT /u HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
		r, b := c.read("PUT")
		if r.StatusCode != 200 || b != "/uabc" {
			t.Errorf("%s: HTTP/1.0 with Expect: 100-continue: %d %q, want 200 \"/uabc\"", front.name, r.StatusCode, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(expect) != 2 || expect[0] != "" {
		t.Errorf("Expect seen by the handler behind Server: %q (net/http's handler saw %q); want none", expect, expect[len(expect)-1:])
	}
}

// Serve reports why accepting ended when it was not its context: here a
// listener closed under it. (How accept errors are ridden out or not is
// internal/serve's, tested there.)
func TestServeReturnsAcceptError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := (&Server{Handler: echoHandler()}).Serve(context.Background(), ln); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed listener: %v, want net.ErrClosed", err)
	}
}
