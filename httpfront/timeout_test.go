package httpfront

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out the server ends of net.Pipe connections, so that
// a Server runs inside a synctest bubble on fake time.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// serveInBubble serves s on a pipe listener until the test function ends.
func serveInBubble(t *testing.T, s *Server, test func(ln *pipeListener)) {
	ln := newPipeListener()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	test(ln)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A slowloris head that trickles a byte a second is cut once the head
// timeout (10 s by default, for the whole head as HAProxy's "timeout
// http-request") has run, however steadily the bytes come.
func TestServerHeadTimeoutCoversWholeHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		serveInBubble(t, &Server{Handler: echoHandler()}, func(ln *pipeListener) {
			c := ln.dial()
			defer c.Close()
			start := time.Now()
			closed := make(chan time.Duration, 1)
			go func() {
				io.Copy(io.Discard, c) // whatever the server answers
				closed <- time.Since(start)
			}()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
			for i := 0; i < 120; i++ {
				time.Sleep(time.Second) // fake time
				if _, err := io.WriteString(c, "X"); err != nil {
					break
				}
			}
			cut := <-closed
			d := DefaultReadHeaderTimeout
			if cut == 0 || cut > d+time.Second || cut < d-d/8 {
				t.Fatalf("trickling head cut after %v, want about %v", cut, d)
			}
		})
	})
}

// A request body that stops sending is cut after the body idle timeout
// (60 s by default), the handler's read fails, and the proxy's 5xx
// becomes 408; a body that trickles with shorter gaps goes through.
func TestServerBodyIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "upload failed", http.StatusBadGateway) // as a proxy would
				return
			}
			w.Write(b)
		})
		serveInBubble(t, &Server{Handler: h}, func(ln *pipeListener) {
			// Trickling with 30 s gaps: slow, but never idle long.
			c := ln.dial()
			defer c.Close()
			br := bufio.NewReader(c)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
			for _, b := range "slow" {
				time.Sleep(30 * time.Second)
				if _, err := io.WriteString(c, string(b)); err != nil {
					t.Fatalf("trickling body cut: %v", err)
				}
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "slow" {
				t.Fatalf("trickled body: %d %q", resp.StatusCode, b)
			}

			// Stalled: two bytes, then nothing.
			start := time.Now()
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, took := DefaultBodyIdleTimeout, time.Since(start)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("stalled body: %d, close %v", resp.StatusCode, resp.Close)
			}
			if took > d || took < d-d/8 {
				t.Fatalf("stalled body cut after %v, want about %v", took, d)
			}
			io.Copy(io.Discard, resp.Body)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("connection not closed after a stalled body: %v", err)
			}
		})
	})
}

// BodyIdleTimeout < 0 turns the body timeout off; ReadHeaderTimeout set
// is honoured.
func TestServerTimeoutFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("body read: %v", err)
			}
			io.WriteString(w, strings.ToUpper(string(b)))
		})
		s := &Server{Handler: h, ReadHeaderTimeout: 3 * time.Second, BodyIdleTimeout: -1}
		serveInBubble(t, s, func(ln *pipeListener) {
			c := ln.dial()
			defer c.Close()
			br := bufio.NewReader(c)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\na")
			go func() {
				time.Sleep(time.Hour)
				io.WriteString(c, "b")
				close(release)
			}()
			<-release
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != "AB" {
				t.Fatalf("body after an hour's pause: %q", b)
			}
			start := time.Now()
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("idle connection: %v", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("idle connection closed after %v, want at most 3s", took)
			}
		})
	})
}

// A keep-alive connection left idle is closed after ReadHeaderTimeout
// (which bounds the wait for the next head), within the coarse refresh's
// 1/8 of it.
func TestServerIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 8 * time.Second
		serveInBubble(t, &Server{Handler: echoHandler(), ReadHeaderTimeout: d}, func(ln *pipeListener) {
			c := ln.dial()
			defer c.Close()
			br := bufio.NewReader(c)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			start := time.Now()
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("idle connection: %v, want EOF", err)
			}
			if took := time.Since(start); took > d || took < d-d/8 {
				t.Fatalf("idle connection closed after %v, want within [%v, %v]", took, d-d/8, d)
			}
		})
	})
}

// Once Serve's context ends, a request still in flight has ShutdownTimeout
// to finish: then its connection is closed and Serve returns, exactly
// then, not before.
func TestServerShutdownTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release) // the handler finishes on its own, after Serve
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release })
		ln := newPipeListener()
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- (&Server{Handler: h, ShutdownTimeout: 3 * time.Second}).Serve(ctx, ln) }()
		c := ln.dial()
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		closed := make(chan time.Time, 1)
		go func() { io.Copy(io.Discard, c); closed <- time.Now() }()
		synctest.Wait() // the handler waits
		start := time.Now()
		cancel()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Fatalf("Serve returned %v after its context ended, want its 3s ShutdownTimeout", took)
		}
		if at := (<-closed).Sub(start); at != 3*time.Second {
			t.Fatalf("busy connection closed %v after the context ended, want 3s", at)
		}
	})
}
