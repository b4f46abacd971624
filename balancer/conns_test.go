package balancer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failingListener fails its first n Accepts with err, then accepts.
type failingListener struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Running out of descriptors is temporary: a server pauses and accepts
// again (as net/http's does) rather than stopping for good; any other
// accept error ends Serve and is returned.
func TestServeRidesOutTemporaryAcceptErrors(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: backend.Listener.Addr().String()})
	tp, err := NewTCPProxy(TCPProxyConfig{Pool: pool, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]func(context.Context, net.Listener) error{
		"TCPProxy": tp.Serve,
	}
	for name, serve := range servers {
		t.Run(name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := &failingListener{Listener: inner, err: acceptErr(syscall.EMFILE)}
			ln.n.Store(3)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- serve(ctx, ln) }()
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET /after-emfile HTTP/1.1\r\nHost: x\r\n\r\n")
			r, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("response after EMFILE: %v %v", r, err)
			}
			c.Close()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Serve after shutdown: %v", err)
			}

			// A permanent error ends Serve with that error.
			inner, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			bad := &failingListener{Listener: inner, err: acceptErr(syscall.EINVAL)}
			bad.n.Store(1)
			go func() { done <- serve(context.Background(), bad) }()
			select {
			case err := <-done:
				if !errors.Is(err, syscall.EINVAL) {
					t.Fatalf("Serve returned %v, want EINVAL", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve went on after a permanent accept error")
			}
			if _, err := net.Dial("tcp", inner.Addr().String()); err == nil {
				t.Fatal("listener left open after a permanent accept error")
			}
		})
	}
}
