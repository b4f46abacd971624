package balancer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// h1Transport is the L7 proxy's default RoundTripper. Requests a proxy
// forwards most (plain http, idempotent method, no request body, no
// protocol upgrade) go over pooled HTTP/1.1 keep-alive connections: the
// request is written and the response read on the caller's goroutine.
// http.Transport instead hands every request to a writer goroutine and
// every response to a reader goroutine per connection; on one core those
// hand-offs and the reader's extra read after each response cost about a
// fifth of the proxy's CPU. Everything else (request bodies, upgrades,
// https, other methods) goes to fallback, an http.Transport.
//
// It is safe for concurrent use. It starts no goroutines: idle
// connections past idleTimeout are closed when the pool is next used.
type h1Transport struct {
	fallback       *http.Transport
	dialer         net.Dialer
	maxIdle        int           // idle connections kept per backend
	idleTimeout    time.Duration // idle connections older than this are closed
	maxHeaderBytes int64         // response header limit

	mu   sync.Mutex
	idle map[string][]*h1Conn // per backend address; LIFO, oldest first
}

func newH1Transport() *h1Transport {
	d := net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &h1Transport{
		fallback: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
			// Pass bodies through as the backend sent them: no gzip
			// requested on the client's behalf, nothing decompressed.
			DisableCompression: true,
		},
		dialer:         d,
		maxIdle:        512,
		idleTimeout:    90 * time.Second,
		maxHeaderBytes: 1 << 20,
		idle:           make(map[string][]*h1Conn),
	}
}

var (
	errH1HeaderTooLarge = errors.New("balancer: backend response header exceeds the limit")
	errH1Upgrade        = errors.New("balancer: backend switched protocols without being asked")
	errH1Too1xx         = errors.New("balancer: backend sent too many 1xx responses")
)

// h1Fast reports whether req takes the pooled path. The methods are the
// idempotent ones (RFC 9110 §9.2.2), so a request that meets a
// connection the backend closed while it sat idle is sent again on
// another one, as http.Transport does.
func h1Fast(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace:
	default:
		return false
	}
	return req.URL.Scheme == "http" && (req.Body == nil || req.Body == http.NoBody) &&
		req.Header.Get("Upgrade") == "" && req.URL.Host != ""
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !h1Fast(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	addr := req.URL.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "80")
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, reused := t.get(addr)
		if c == nil {
			nc, err := t.dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			c = t.newConn(addr, nc)
		}
		resp, err := c.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A reused connection that failed before the backend sent a
		// byte was most likely closed by it while idle: try another.
		if !reused || c.gotBytes || ctx.Err() != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			return nil, err
		}
	}
}

// CloseIdleConnections closes the idle connections of both paths.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*h1Conn)
	t.mu.Unlock()
	for _, l := range idle {
		for _, c := range l {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// get pops the most recently used idle connection to addr, closing the
// ones that have been idle too long.
func (t *h1Transport) get(addr string) (*h1Conn, bool) {
	now := time.Now()
	t.mu.Lock()
	l := t.idle[addr]
	if n := len(l); n > 0 {
		c := l[n-1]
		l[n-1] = nil
		if now.Sub(c.idleSince) < t.idleTimeout {
			t.idle[addr] = l[:n-1]
			t.mu.Unlock()
			return c, true
		}
		// The newest is stale, so all of them are.
		delete(t.idle, addr)
		t.mu.Unlock()
		c.nc.Close()
		for _, o := range l[:n-1] {
			o.nc.Close()
		}
		return nil, false
	}
	t.mu.Unlock()
	return nil, false
}

// put returns a connection whose last response was read completely.
func (t *h1Transport) put(c *h1Conn) {
	now := time.Now()
	c.idleSince = now
	var drop []*h1Conn
	t.mu.Lock()
	l := t.idle[c.addr]
	i := 0 // the oldest first: drop the expired ones
	for i < len(l) && now.Sub(l[i].idleSince) >= t.idleTimeout {
		i++
	}
	if i > 0 {
		drop = append(drop, l[:i]...)
		l = append(l[:0], l[i:]...)
	}
	if len(l) >= t.maxIdle {
		drop = append(drop, c)
	} else {
		l = append(l, c)
	}
	t.idle[c.addr] = l
	t.mu.Unlock()
	for _, o := range drop {
		o.nc.Close()
	}
}

// h1Conn is one keep-alive connection to a backend. It is used by one
// request at a time.
type h1Conn struct {
	t         *h1Transport
	addr      string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	limit     int64 // bytes the reader may still take (the header limit)
	gotBytes  bool  // the backend sent something for the current request
	idleSince time.Time
}

func (t *h1Transport) newConn(addr string, nc net.Conn) *h1Conn {
	c := &h1Conn{t: t, addr: addr, nc: nc, limit: math.MaxInt64}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	return c
}

// Read feeds br from the connection, within the current limit.
func (c *h1Conn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errH1HeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	if n > 0 {
		c.gotBytes = true
		c.limit -= int64(n)
	}
	return n, err
}

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

func (c *h1Conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	c.gotBytes = false
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		c.limit = c.t.maxHeaderBytes + int64(c.br.Size())
		var err error
		resp, err = http.ReadResponse(c.br, req)
		c.limit = math.MaxInt64
		if err != nil {
			stop()
			return nil, err
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols {
			stop()
			return nil, errH1Upgrade
		}
		if code >= 200 || code < 100 {
			break
		}
		// Interim responses (RFC 9110 §15.2): reported to the trace
		// (ReverseProxy passes them on to its client), then skipped.
		if n1xx >= 5 {
			stop()
			return nil, errH1Too1xx
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				stop()
				return nil, err
			}
		}
	}
	b := &h1Body{c: c, ctx: ctx, stop: stop, keep: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, nil
	}
	b.rc = resp.Body
	resp.Body = b
	return resp, nil
}

// h1Body hands the connection back to the pool when the response body
// has been read to its end, and closes it when the body is abandoned.
type h1Body struct {
	c    *h1Conn
	ctx  context.Context // the request's, for the cause of a failed read
	rc   io.ReadCloser
	stop func() bool
	keep bool
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		if cerr := context.Cause(b.ctx); cerr != nil {
			err = fmt.Errorf("balancer: backend response: %w", cerr)
		}
		b.finish(false)
	}
	return n, err
}

// Close abandons the rest of the body: the connection cannot be reused.
// (The wrapped body's own Close would read the rest first.)
func (b *h1Body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *h1Body) finish(eof bool) {
	b.done = true
	live := b.stop() // false: the context was cancelled and set a deadline
	if eof && live && b.keep && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.nc.Close()
}
