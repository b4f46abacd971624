package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RFC 9112 §9.3: a plain-http request that does not take the pooled path
// (a body, a non-idempotent method) never reuses a connection, since
// http.Transport cannot tell that nothing arrived on it since its last
// response (TestTransportHostileBackendsNeverCrossResponses). Body-less
// GETs still share one.
func TestTransportUnpooledRequestsNeverReuseConnections(t *testing.T) {
	s, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	for _, m := range []string{"POST", "PUT", "PATCH", "POST"} {
		req, _ := http.NewRequest(m, s.URL, strings.NewReader("payload"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := conns.Load(); n != 4 {
		t.Fatalf("4 requests with a body used %d connections, want 4", n)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := get(t, tr, t.Context(), "GET", s.URL); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 5 {
		t.Fatalf("3 GETs after them opened %d connections, want 1", n-4)
	}
}

// trackedBody is a request body that fails after some bytes (a client
// that went away mid-upload) or ends early, and counts its Closes.
type trackedBody struct {
	r      io.Reader
	err    error // after r: nil means io.EOF
	closed atomic.Int32
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *trackedBody) Close() error { b.closed.Add(1); return nil }

var errClientGone = errors.New("client went away")

// A request body whose reader fails, or that ends before its
// Content-Length (RFC 9112 §6.2), fails the request as it does with
// http.Transport (the reference, run on the same inputs), and the error
// says it is the request body's fault: a *RequestBodyError. The body is
// closed exactly once, as the RoundTripper contract requires.
func TestTransportRequestBodyErrorIsTheClients(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	for _, c := range []struct {
		name    string
		body    func() *trackedBody
		length  int64
		wantErr error // what the RequestBodyError wraps
	}{
		{"reader fails, chunked", func() *trackedBody {
			return &trackedBody{r: strings.NewReader(strings.Repeat("x", 100000)), err: errClientGone}
		}, -1, errClientGone},
		{"reader fails, Content-Length", func() *trackedBody {
			return &trackedBody{r: strings.NewReader("xxxx"), err: errClientGone}
		}, 10, errClientGone},
		{"body shorter than Content-Length", func() *trackedBody {
			return &trackedBody{r: strings.NewReader("xxxx")}
		}, 10, io.ErrUnexpectedEOF},
	} {
		for _, trc := range []struct {
			name string
			tr   http.RoundTripper
		}{{"h1", New(3*time.Second, false)}, {"net/http", &http.Transport{}}} {
			t.Run(c.name+"/"+trc.name, func(t *testing.T) {
				defer trc.tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
				b := c.body()
				req, _ := http.NewRequest("POST", s.URL, b)
				req.ContentLength = c.length
				resp, err := trc.tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
					t.Fatal("the request succeeded")
				}
				if n := b.closed.Load(); n != 1 {
					t.Errorf("body closed %d times, want 1", n)
				}
				var be *RequestBodyError
				if trc.name == "net/http" {
					if errors.As(err, &be) {
						t.Fatalf("the reference returned %v", err)
					}
					t.Logf("reference: %v", err)
					return
				}
				if !errors.As(err, &be) || !errors.Is(err, c.wantErr) {
					t.Fatalf("got %v (%T), want a *RequestBodyError wrapping %v", err, err, c.wantErr)
				}
			})
		}
	}
}

// The request body is closed exactly once on every outcome: a response,
// a backend that cannot be reached, a request refused before writing.
func TestTransportClosesRequestBody(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	for name, mod := range map[string]func(*http.Request){
		"answered":       func(*http.Request) {},
		"no backend":     func(r *http.Request) { r.URL.Host = "127.0.0.1:1" },
		"invalid header": func(r *http.Request) { r.Header["X-A"] = []string{"a\r\nb"} },
	} {
		b := &trackedBody{r: strings.NewReader("payload")}
		req, _ := http.NewRequest("POST", s.URL, b)
		req.ContentLength = 7
		mod(req)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if n := b.closed.Load(); n != 1 {
			t.Errorf("%s: body closed %d times, want 1", name, n)
		}
	}
}

// RFC 9110 §10.1.1: a request with "Expect: 100-continue" whose backend
// answers with a final status instead of 100: the final response is
// returned, and the body is sent or not exactly as http.Transport
// configured alike does on the same backend (the reference; it sends it,
// so that the connection's framing stays whole).
func TestTransportExpectContinueRefusedAsNetHTTP(t *testing.T) {
	run := func(t *testing.T, tr http.RoundTripper) (status, received int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		after := make(chan int, 1) // body bytes the backend received
		go func() {
			c, err := ln.Accept()
			if err != nil {
				after <- -1
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err != nil {
				after <- -1
				return
			}
			io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
			n, _ := io.Copy(io.Discard, br) // until the client closes
			after <- int(n)
		}()
		b := &trackedBody{r: strings.NewReader(strings.Repeat("x", 1000))}
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", b)
		req.ContentLength = 1000
		req.Header.Set("Expect", "100-continue")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		if n := b.closed.Load(); n != 1 {
			t.Errorf("body closed %d times, want 1", n)
		}
		select {
		case n := <-after:
			return resp.StatusCode, n
		case <-time.After(10 * time.Second): // a failure path only
			t.Fatal("the connection was kept open")
		}
		return 0, 0
	}
	s1, n1 := run(t, New(3*time.Second, false))
	s2, n2 := run(t, &http.Transport{ExpectContinueTimeout: time.Second})
	if s1 != 417 || s1 != s2 || n1 != n2 {
		t.Fatalf("h1: %d, %d body bytes sent; net/http: %d, %d", s1, n1, s2, n2)
	}
}

// A request without a URL gets an error, not a panic; a response names
// the caller's request, not the copy that carried its body.
func TestTransportRequestIdentity(t *testing.T) {
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	if _, err := tr.RoundTrip(&http.Request{Method: "GET", Header: http.Header{}}); err == nil {
		t.Fatal("a request without a URL succeeded")
	}
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	req, _ := http.NewRequest("POST", s.URL, strings.NewReader("payload"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request != req {
		t.Fatal("resp.Request is not the request sent")
	}
}

// RFC 9110 §7.8: a protocol upgrade still works on the one-exchange
// connections: the 101 response's body is the connection, both ways.
func TestTransportUpgradeOverOneShotConnection(t *testing.T) {
	s, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		line, _ := brw.ReadString('\n')
		io.WriteString(c, "echo:"+line)
	})
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", s.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != 101 || !ok {
		t.Fatalf("status %d, body %T", resp.StatusCode, resp.Body)
	}
	io.WriteString(rw, "hi\n")
	got, _ := bufio.NewReader(rw).ReadString('\n')
	if got != "echo:hi\n" {
		t.Fatalf("got %q", got)
	}
}
