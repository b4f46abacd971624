// Package rawbackend is a loopback HTTP/1.1 backend for tests whose
// answers are raw bytes written by a script, so a test can make it lie:
// answer twice, answer longer than its Content-Length, send a 1xx storm.
// Requests are read with net/http's http.ReadRequest; what goes back on
// the connection is entirely the script's. It is for tests in any
// package (it imports testing) and is not part of any API.
package rawbackend

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Start listens on 127.0.0.1 on an ephemeral port and returns its
// host:port. For each request of each connection it calls answer with
// the request (its body not yet read) and the connection to write to; an
// error from answer closes that connection. When the test ends the
// listener and every connection still open are closed, and Start's
// goroutines are waited for. answer may be called from several
// goroutines at once.
func Start(t testing.TB, answer func(req *http.Request, w io.Writer) error) string {
	t.Helper()
	return Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if err := answer(req, c); err != nil {
				return
			}
		}
	})
}

// Serve listens on 127.0.0.1 on an ephemeral port, returns its host:port
// and calls serve for each connection, on a goroutine of its own; the
// connection is closed when serve returns. When the test ends the
// listener and every connection still open are closed, and Serve's
// goroutines are waited for (a serve blocked on anything but its
// connection must be released by a cleanup the test registers after
// calling Serve, which runs first).
func Serve(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
