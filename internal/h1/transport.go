package h1

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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"
)

// Transport is an http.RoundTripper for proxies. Body-less idempotent
// requests to plain-http backends go over its own pool of HTTP/1.1
// keep-alive connections, written and read on the caller's goroutine.
// Other plain-http requests (a body, a non-idempotent method, an upgrade)
// go to a copy of Fallback that uses each connection for one exchange
// only (it keeps no idle connection; unlike DisableKeepAlives it sends no
// "Connection: close", which would make the backend add "close" to its
// own Connection field, and net/http drops that whole field, the names it
// lists with it, before a proxy could strip them); https requests go to Fallback itself. The
// pool starts no goroutines: idle connections past IdleTimeout are closed
// when the pool is next used.
//
// A pooled connection is used again only if nothing has arrived on it
// since its last response ended: no byte left over in its buffer (checked
// when the response ends) and none on its socket (checked before reuse,
// with a non-blocking peek). A backend that sends more than the response
// to the request outstanding (an extra response, a body longer than its
// Content-Length, a body on a response to HEAD, garbage) would otherwise
// have its extra bytes read as the answer to the next request, and every
// later answer on that connection as the answer to the request after it.
//
// Requests that are not pooled never reuse a plain-http connection
// because http.Transport cannot give that guarantee: it puts a
// connection back in its pool when a response body ends and only then
// does its reader goroutine look for more bytes, so a request taken in
// between is written on a connection that holds an answer nobody asked
// for, and gets it (TestTransportHostileBackendsNeverCrossResponses
// measured that on a few percent of requests with a body). A net.Conn
// wrapper given to it cannot refuse that reuse either: it does not see
// where a response ends in the bytes the transport reads ahead. The cost
// is a connection per request with a body (BenchmarkTransport, POST).
//
// A failure to read the request's own body (the client went away, or
// sent less than its Content-Length) is returned as a *RequestBodyError,
// so a caller can tell the client's fault from the backend's.
//
// Why not http.Transport alone: it hands every request to a writer
// goroutine and every response to a reader goroutine per connection, and
// the reader reads again after each response. On one core those hand-offs
// cost a proxy about a fifth of its CPU (scripts/bench-balancer.sh: 67-78
// -> 45-52 us of CPU per request).
//
// A Transport is safe for concurrent use. Set its fields before first use.
type Transport struct {
	// Fallback carries https requests, and (copied once, on first use,
	// keeping no idle connection) the plain-http requests the pooled path
	// does not. Nil means an http.Transport with Dialer and
	// DisableCompression.
	Fallback *http.Transport
	// Dialer opens backend connections. Zero means net.Dialer's defaults.
	Dialer net.Dialer
	// MaxIdlePerHost bounds the idle connections kept per backend.
	// Zero means 512.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer. Zero means 90 s.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds a response header. Zero means 1 MiB.
	MaxResponseHeaderBytes int64
	// Now returns the current time, for idle timeouts. Nil means time.Now.
	Now func() time.Time
	// Logger receives, at debug level, the connections closed because the
	// backend sent something no request asked for. Nil means zap.NewNop().
	Logger *zap.Logger

	once    sync.Once
	oneShot *http.Transport // Fallback without keep-alive, for plain http
	mu      sync.Mutex
	idle    map[string][]*conn // per backend address; LIFO, oldest first
}

// New returns a Transport whose dialer times out after dialTimeout and
// whose fallback passes bodies through as the backend sent them (no gzip
// requested on a client's behalf, nothing decompressed). http2 says
// whether the fallback attempts HTTP/2 for https backends.
func New(dialTimeout time.Duration, http2 bool) *Transport {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &Transport{
		Dialer: d,
		Fallback: &http.Transport{
			DialContext:           d.DialContext,
			MaxIdleConns:          4096,
			MaxIdleConnsPerHost:   512,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     http2,
			DisableCompression:    true,
		},
	}
}

func (t *Transport) init() {
	t.once.Do(func() {
		if t.Fallback == nil {
			t.Fallback = &http.Transport{DialContext: t.Dialer.DialContext, DisableCompression: true}
		}
		if t.MaxIdlePerHost <= 0 {
			t.MaxIdlePerHost = 512
		}
		if t.IdleTimeout <= 0 {
			t.IdleTimeout = 90 * time.Second
		}
		if t.MaxResponseHeaderBytes <= 0 {
			t.MaxResponseHeaderBytes = 1 << 20
		}
		t.Now = clock.Or(t.Now)
		if t.Logger == nil {
			t.Logger = zap.NewNop()
		}
		t.idle = make(map[string][]*conn)
		t.oneShot = t.Fallback.Clone()
		t.oneShot.MaxIdleConnsPerHost = -1 // net/http: no idle connection kept
		// One exchange per connection: an answer sent before the body
		// was read wins over the failed body write (earlyAnswerConn).
		dial := t.oneShot.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext // http.Transport's own default
		}
		t.oneShot.DialContext = earlyAnswerDial(dial)
	})
}

// Errors for backend responses the pooled path refuses.
var (
	ErrHeaderTooLarge    = errors.New("h1: backend response header exceeds the limit")
	ErrUnexpectedUpgrade = errors.New("h1: backend switched protocols without being asked")
	ErrTooMany1xx        = errors.New("h1: backend sent too many 1xx responses")
)

// Pooled reports whether req takes the pooled path. The methods are the
// idempotent ones (RFC 9110 §9.2.2), so a request that meets a
// connection the backend closed while it sat idle is sent again on
// another one, as http.Transport does.
func Pooled(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace:
	default:
		return false
	}
	return req.URL != nil && req.URL.Scheme == "http" && (req.Body == nil || req.Body == http.NoBody) && len(req.TransferEncoding) == 0 &&
		req.Header.Get("Upgrade") == "" && req.URL.Host != ""
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.init()
	if !Pooled(req) {
		tr := t.Fallback
		if req.URL != nil && req.URL.Scheme == "http" {
			tr = t.oneShot
		}
		resp, err := tr.RoundTrip(blameBody(req))
		if resp != nil {
			resp.Request = req // not the copy that carried the body
		}
		return resp, err
	}
	if err := checkHeader(req); err != nil {
		return nil, err
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
			nc, err := t.Dialer.DialContext(ctx, "tcp", addr)
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
			if !c.gotBytes {
				return nil, &NoResponseError{Err: err}
			}
			return nil, err
		}
	}
}

// NoResponseError is a failure on a fresh connection before the backend
// sent a single byte of its response (it closed or reset the connection,
// say because it was killed). The request was idempotent (see Pooled), so
// a caller may send it again, to another backend.
type NoResponseError struct{ Err error }

func (e *NoResponseError) Error() string { return "h1: backend sent no response: " + e.Err.Error() }
func (e *NoResponseError) Unwrap() error { return e.Err }

// checkHeader refuses what http.Transport refuses before writing: a
// method that is not a token, a header field name or value, or a Host,
// that is not valid HTTP (a CR or LF in a value would let a caller
// smuggle a second request to the backend). internal/blame holds the one
// copy of the rule, since a request it refuses is its sender's fault.
func checkHeader(req *http.Request) error { return blame.Sendable(req) }

// writeRequest writes a pooled (body-less) request's head as
// Request.Write would, without sorting the header fields (their order
// between different names carries no meaning, RFC 9110 §5.3) and without
// allocating. Header names and values were checked by checkHeader.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	uri := req.URL.RequestURI()
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b < ' ' || b == 0x7f {
			return errors.New("h1: control character in the request target")
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if strings.HasPrefix(host, "[") { // an IPv6 zone is for this host only
		if i, j := strings.IndexByte(host, '%'), strings.LastIndexByte(host, ']'); i > 0 && j > i {
			host = host[:i] + host[j:]
		}
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	// Go's default User-Agent unless the request has the field; a field
	// set to "" (ReverseProxy's way of passing none) sends none.
	ua := "Go-http-client/1.1"
	if vs, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vs) > 0 {
			ua = textproto.TrimString(vs[0])
		}
	}
	if ua != "" {
		w.WriteString("User-Agent: ")
		w.WriteString(ua)
		w.WriteString("\r\n")
	}
	if req.Close && !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "close") {
		w.WriteString("Connection: close\r\n")
	}
	// No framing fields: a pooled request has no body and no
	// Transfer-Encoding, and Request.Write sends none for it either.
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(textproto.TrimString(v))
			w.WriteString("\r\n")
		}
	}
	_, err := w.WriteString("\r\n")
	return err
}

// CloseIdleConnections closes the idle connections of both paths.
func (t *Transport) CloseIdleConnections() {
	t.init()
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*conn)
	t.mu.Unlock()
	for _, l := range idle {
		for _, c := range l {
			c.nc.Close()
		}
	}
	t.Fallback.CloseIdleConnections()
	t.oneShot.CloseIdleConnections()
}

// get pops the most recently used idle connection to addr, closing the
// ones that have been idle too long and the ones on which the backend
// sent something while they were idle.
func (t *Transport) get(addr string) (*conn, bool) {
	now := t.Now()
	for {
		t.mu.Lock()
		l := t.idle[addr]
		n := len(l)
		if n == 0 {
			t.mu.Unlock()
			return nil, false
		}
		c := l[n-1]
		l[n-1] = nil
		if now.Sub(c.idleSince) >= t.IdleTimeout {
			// The newest is stale, so all of them are.
			delete(t.idle, addr)
			t.mu.Unlock()
			c.nc.Close()
			for _, o := range l[:n-1] {
				o.nc.Close()
			}
			return nil, false
		}
		t.idle[addr] = l[:n-1]
		t.mu.Unlock()
		if what := c.unsolicited(); what != "" {
			t.closeUnsolicited(c, what)
			continue
		}
		return c, true
	}
}

// closeUnsolicited closes a connection on which the backend sent
// something with no request outstanding (RFC 9112 §9.3: it cannot be
// matched to a request, so nothing read from the connection can be).
func (t *Transport) closeUnsolicited(c *conn, what string) {
	c.nc.Close()
	if ce := t.Logger.Check(zap.DebugLevel, "h1: closed a backend connection: data with no request outstanding"); ce != nil {
		ce.Write(zap.String("backend", c.addr), zap.String("arrived", what))
	}
}

// put returns a connection whose last response was read completely.
func (t *Transport) put(c *conn) {
	now := t.Now()
	c.idleSince = now
	var drop []*conn
	t.mu.Lock()
	l := t.idle[c.addr]
	i := 0 // the oldest first: drop the expired ones
	for i < len(l) && now.Sub(l[i].idleSince) >= t.IdleTimeout {
		i++
	}
	if i > 0 {
		drop = append(drop, l[:i]...)
		l = append(l[:0], l[i:]...)
	}
	if len(l) >= t.MaxIdlePerHost {
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

// conn is one keep-alive connection to a backend. It is used by one
// request at a time.
type conn struct {
	t         *Transport
	addr      string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	limit     int64 // bytes the reader may still take (the header limit)
	gotBytes  bool  // the backend sent something for the current request
	idleSince time.Time
	peek      idlePeeker
}

// unsolicited reports what has arrived on a connection that has no
// request outstanding, or "" if nothing has: bytes left in its buffer, or
// bytes, an end of stream or an error waiting on its socket.
func (c *conn) unsolicited() string {
	if c.br.Buffered() > 0 {
		return "bytes"
	}
	return c.peek.arrived()
}

// ReadLimited reads from r into p, at most *remain bytes, and counts them
// off *remain; with nothing left it returns tooLarge. Both ends of a
// connection use it to bound a message head.
func ReadLimited(r io.Reader, p []byte, remain *int64, tooLarge error) (int, error) {
	if *remain <= 0 {
		return 0, tooLarge
	}
	if int64(len(p)) > *remain {
		p = p[:*remain]
	}
	n, err := r.Read(p)
	*remain -= int64(n)
	return n, err
}

func (t *Transport) newConn(addr string, nc net.Conn) *conn {
	c := &conn{t: t, addr: addr, nc: nc, limit: math.MaxInt64}
	c.br = bufio.NewReaderSize(c, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	c.peek.init(nc)
	return c
}

// Read feeds br from the connection, within the current limit.
func (c *conn) Read(p []byte) (int, error) {
	n, err := ReadLimited(c.nc, p, &c.limit, ErrHeaderTooLarge)
	if n > 0 {
		c.gotBytes = true
	}
	return n, err
}

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

func (c *conn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	c.gotBytes = false
	if err := writeRequest(c.bw, req); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	// The backend needs some microseconds to answer. Reading at once
	// would almost always find nothing (a wasted read syscall, then a
	// park and a wake-up through the poller); yielding first lets this
	// processor's other runnable requests go ahead, and by the time this
	// one runs again its response has usually arrived. With nothing else
	// to run, Gosched returns at once.
	if c.br.Buffered() == 0 {
		runtime.Gosched()
	}
	trace := httptrace.ContextClientTrace(ctx)
	var resp *http.Response
	var fixed int64
	// The header limit covers every head read for this request, interim
	// ones included, unless a trace takes the interim responses: then
	// each head has the whole limit, as with http.Transport.
	headLimit := c.t.MaxResponseHeaderBytes + int64(c.br.Size())
	c.limit = headLimit
	for n1xx := 0; ; n1xx++ {
		var err error
		resp, fixed, err = readResponse(c.br, req)
		if err != nil {
			c.limit = math.MaxInt64
			stop()
			return nil, err
		}
		code := resp.StatusCode
		if code == http.StatusSwitchingProtocols {
			c.limit = math.MaxInt64
			stop()
			return nil, ErrUnexpectedUpgrade
		}
		if code >= 200 || code < 100 {
			break
		}
		// Interim responses (RFC 9110 §15.2): reported to the trace
		// (ReverseProxy passes them on to its client), then skipped.
		traced := trace != nil && trace.Got1xxResponse != nil
		if n1xx >= max1xx(traced) {
			c.limit = math.MaxInt64
			stop()
			return nil, ErrTooMany1xx
		}
		if traced {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				c.limit = math.MaxInt64
				stop()
				return nil, err
			}
			c.limit = headLimit
		}
	}
	c.limit = math.MaxInt64
	b := &body{c: c, ctx: ctx, stop: stop, keep: !resp.Close && !req.Close, remain: fixed}
	if resp.Body == http.NoBody {
		b.finish(true, io.EOF)
		return resp, nil
	}
	if fixed == 0 {
		b.rc = resp.Body
	}
	resp.Body = b
	return resp, nil
}

// max1xx is how many interim responses one request may meet. When a
// trace takes them (a proxy passing 102 Processing or 103 Early Hints on
// to its client, RFC 9110 §15.2) a backend may legitimately send one
// every few seconds through a long operation, so the bound is generous;
// unread, they are noise and five end the exchange. (http.Transport caps
// only their bytes; the count cap keeps a storm from holding a request
// forever.)
func max1xx(traced bool) int {
	if traced {
		return 128
	}
	return 5
}

// body hands the connection back to the pool when the response body
// has been read to its end, and closes it when the body is abandoned.
// Close may be called while a Read is blocked (it closes the connection,
// which ends the Read), as with http.Transport's bodies.
type body struct {
	c    *conn
	ctx  context.Context // the request's, for the cause of a failed read
	rc   io.ReadCloser   // ReadResponse's body; nil: remain bytes from c.br
	stop func() bool

	remain int64 // bytes of a Content-Length body not yet read
	keep   bool

	mu   sync.Mutex
	done bool
	err  error // what Read returns once done: io.EOF after a clean end
}

var errBodyClosed = errors.New("h1: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.done {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	var n int
	var err error
	if b.rc != nil {
		n, err = b.rc.Read(p)
	} else {
		n, err = b.readFixed(p)
	}
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done { // closed while this Read was blocked
		return n, b.err
	}
	if err != io.EOF {
		if cerr := context.Cause(b.ctx); cerr != nil {
			err = fmt.Errorf("h1: backend response: %w", cerr)
		}
	}
	b.finish(err == io.EOF, err)
	return n, err
}

// readFixed reads the rest of a Content-Length body from the connection,
// reporting io.EOF with its last bytes and io.ErrUnexpectedEOF if the
// connection ends early, as ReadResponse's bodies do.
func (b *body) readFixed(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.c.br.Read(p)
	b.remain -= int64(n)
	switch {
	case b.remain == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Close abandons the rest of the body: the connection cannot be reused.
// (The wrapped body's own Close would read the rest first.)
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.finish(false, errBodyClosed)
	}
	return nil
}

// finish ends the body with err (io.EOF when eof). Callers hold mu, or
// own b alone.
func (b *body) finish(eof bool, err error) {
	b.done, b.err = true, err
	live := b.stop() // false: the context was cancelled and set a deadline
	if eof && live && b.keep {
		if b.c.br.Buffered() == 0 {
			b.c.t.put(b.c)
			return
		}
		// More than the response: a body longer than its length, a
		// second response, a body on a response to HEAD.
		b.c.t.closeUnsolicited(b.c, "bytes")
		return
	}
	b.c.nc.Close()
}
