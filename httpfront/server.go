package httpfront

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/h1"
	"github.com/edgekit/edgekit/internal/serve"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"
)

// Server serves HTTP/1.1 with any http.Handler (a proxy, typically) over
// keep-alive connections; the package documentation says what it
// supports, what it refuses and how it differs from net/http's Server.
//
// The zero value with a Handler is ready to use. A Server is safe for
// concurrent use: Serve may be called for several listeners at once. Its
// fields must not change once Serve is called, and it must not be copied
// after first use.
type Server struct {
	// Handler serves each request. It is required.
	Handler http.Handler
	// ReadHeaderTimeout bounds the whole of each request head (one
	// deadline for all of it, however the bytes trickle in), counted from
	// when the server starts waiting for it, so it is also the keep-alive
	// idle timeout, as HAProxy's "timeout http-request" without "timeout
	// http-keep-alive". The deadline is refreshed coarsely, so the
	// effective bound is between 7/8 of it and all of it. Zero means 10 s
	// (HAProxy's usual "timeout http-request 10s", and the
	// ReadHeaderTimeout our net/http examples set).
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout bounds each wait for request body bytes: a body
	// that sends nothing for this long is cut (the handler's read fails,
	// the connection closes after the response, and a handler that then
	// answers 5xx is answered 408 instead). Like the head deadline it is
	// refreshed coarsely (the bound is between 7/8 of it and all of it).
	// Zero means 60 s (nginx's client_body_timeout, HAProxy's usual
	// "timeout client 1m"); negative means no limit.
	BodyIdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head; a larger one gets 431. Zero
	// means http.DefaultMaxHeaderBytes (1 MiB).
	MaxHeaderBytes int
	// ShutdownTimeout bounds how long Serve waits, once its context is
	// done, for requests in flight before it closes their connections and
	// returns (their handlers then finish on their own). Zero means 5 s.
	ShutdownTimeout time.Duration
	// Logger receives handler panics (error level) and connection errors
	// (debug level). Nil means zap.NewNop().
	Logger *zap.Logger

	date atomic.Pointer[dateValue]
	// onBackgroundRead, if set (by tests), is called after each read that
	// watches for the client leaving, with what it read.
	onBackgroundRead func(n int, err error)
}

type dateValue struct {
	sec int64
	v   []string
}

const maxBodyDrain = 256 << 10

var errHeaderTooLarge = errors.New("request head too large")

func (s *Server) logger() *zap.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return zap.NewNop()
}

// Default timeouts of Server, documented on its fields.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyIdleTimeout   = 60 * time.Second
)

func (s *Server) headerTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return DefaultReadHeaderTimeout
}

// bodyTimeout returns the body idle timeout, 0 for none.
func (s *Server) bodyTimeout() time.Duration {
	switch {
	case s.BodyIdleTimeout > 0:
		return s.BodyIdleTimeout
	case s.BodyIdleTimeout < 0:
		return 0
	}
	return DefaultBodyIdleTimeout
}

func (s *Server) maxHeaderBytes() int64 {
	if s.MaxHeaderBytes > 0 {
		return int64(s.MaxHeaderBytes)
	}
	return http.DefaultMaxHeaderBytes
}

// Serve accepts connections on ln and serves them until ctx is done or
// accepting fails. It then closes ln and idle connections, lets requests in
// flight finish (up to ShutdownTimeout, then closes their connections) and
// returns: nil after ctx, else the accept error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		return fmt.Errorf("%w: Server.Handler is nil", ErrInvalidConfig)
	}
	log := s.logger()
	base := context.WithoutCancel(ctx) // requests drain, they are not aborted
	var conns serve.Conns[*serverConn]
	h2 := new(h2front)
	err := serve.Accept(ctx, ln, func(c net.Conn) {
		sc := &serverConn{srv: s, conn: c, log: log, remote: c.RemoteAddr().String(), base: base, h2: h2}
		conns.Serve(sc, sc.serve)
	})
	// Idle connections close now; busy ones after their response, or
	// when the shutdown timeout runs out (which cancels their requests'
	// contexts). Serve does not wait after that: a handler still waiting
	// on something else finishes on its own. Every connection is marked closing
	// before any idle one is closed, so a client that sees one connection
	// close knows every response still to come says Connection: close.
	conns.Each(func(sc *serverConn) { sc.closing.Store(true) })
	conns.Each((*serverConn).shutdown)
	h2.shutdown()
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	conns.Drain(timeout, func(sc *serverConn) { sc.conn.Close() })
	return err
}

// dateHeader returns the Date field value for now, formatted once a second.
func (s *Server) dateHeader(now time.Time) []string {
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.sec == sec {
		return d.v
	}
	d := &dateValue{sec: sec, v: []string{now.UTC().Format(http.TimeFormat)}}
	s.date.Store(d)
	return d.v
}

// serverConn is one client connection. Its goroutine owns everything but
// the shutdown state, which mu guards.
type serverConn struct {
	srv    *Server
	conn   net.Conn
	log    *zap.Logger
	remote string
	base   context.Context // parent of request contexts
	h2     *h2front        // serves TLS connections that negotiate h2
	// tlsState is the connection's TLS state (nil over plain TCP), set
	// once its handshake is done, and given to each request as req.TLS.
	tlsState *tls.ConnectionState
	lr       limitReader
	br       *bufio.Reader
	bw       *bufio.Writer
	w        responseWriter // reused from request to request

	deadline time.Time // the read deadline last set; zero: none

	mu       sync.Mutex // orders idle against shutdown
	idle     bool       // waiting for a request head (mu)
	closing  atomic.Bool
	hijacked atomic.Bool

	// The watch for the client leaving while a handler runs (see
	// startBackgroundRead). bgMu guards the fields below it; what a watch
	// read is handed over in lr, which the connection's goroutine reads
	// only once no watch runs (see awaitBackgroundRead).
	bgMu       sync.Mutex
	cancel     context.CancelFunc // the current request's; nil between requests
	bgAllowed  bool               // a watch may start (the handler runs)
	bgRunning  bool
	bgAborting bool          // Hijack stops the watch
	bgHanded   bool          // the handler returned: the watch reads the next head
	bgCleared  bool          // the watch cleared the read deadline
	bgDone     chan struct{} // a handed or aborted watch's end, made once per connection
	bgWait     bool          // a handed watch runs (the connection's goroutine only)
}

// limitReader reads from the connection, at most remain bytes (the head
// limit while a head is read; unlimited for bodies). While a head is read
// it also keeps a copy of what it reads (rec), so that the head's raw
// bytes can be looked at again where http.ReadRequest hides what a server
// must check (see checkHead).
type limitReader struct {
	r      io.Reader
	remain int64
	record bool
	rec    []byte
	// What the watch for the client leaving read (the start of the
	// next request) or the error it met, delivered before reading r
	// again; stash is its buffer, made once per connection.
	stash   []byte
	pending []byte
	err     error
}

func (l *limitReader) Read(p []byte) (int, error) {
	var n int
	var err error
	switch {
	case len(l.pending) > 0:
		if l.remain <= 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > l.remain {
			p = p[:l.remain]
		}
		n = copy(p, l.pending)
		l.pending = l.pending[n:]
		l.remain -= int64(n)
	case l.err != nil:
		err, l.err = l.err, nil
	default:
		n, err = h1.ReadLimited(l.r, p, &l.remain, errHeaderTooLarge)
	}
	if l.record {
		l.rec = append(l.rec, p[:n]...)
	}
	return n, err
}

// startHead starts recording a head: what br holds already is its start.
func (c *serverConn) startHead() {
	lr := &c.lr
	if cap(lr.rec) > 64<<10 {
		lr.rec = nil // a huge head once does not pin its buffer
	}
	buffered, _ := c.br.Peek(c.br.Buffered())
	lr.rec = append(lr.rec[:0], buffered...)
	lr.record = true
	lr.remain = c.srv.maxHeaderBytes() + 4<<10
}

// endHead stops recording and returns the raw bytes of the head just
// read (valid until the next startHead).
func (c *serverConn) endHead() []byte {
	lr := &c.lr
	lr.record = false
	lr.remain = math.MaxInt64
	return lr.rec[:len(lr.rec)-c.br.Buffered()]
}

// shutdown asks the connection to stop after its current response, at
// once if it is waiting for a request.
func (c *serverConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing.Store(true)
	if c.idle && !c.hijacked.Load() {
		c.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// setIdle marks the connection waiting for a request (or busy) and reports
// whether it may go on.
func (c *serverConn) setIdle(idle bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = idle
	return !c.closing.Load()
}

// refreshDeadline sets the read deadline for the next head, unless the one
// already set is recent enough (within 1/8 of the timeout).
func (c *serverConn) refreshDeadline() {
	timeout := c.srv.headerTimeout()
	now := time.Now()
	if c.deadline.IsZero() || c.deadline.Sub(now) < timeout-timeout/8 {
		c.deadline = now.Add(timeout)
		c.conn.SetReadDeadline(c.deadline)
	}
}

func (c *serverConn) serve() {
	defer func() {
		if !c.hijacked.Load() {
			c.conn.Close()
		}
		c.awaitBackgroundRead() // a watch reading the next head ends with the close
	}()
	if c.base == nil {
		c.base = context.Background()
	}
	c.lr.r = c.conn
	c.br = bufio.NewReaderSize(&c.lr, 4<<10)
	c.bw = bufio.NewWriterSize(c.conn, 4<<10)
	c.w.c = c
	c.w.header = make(http.Header)
	if tc, ok := c.conn.(*tls.Conn); ok && !c.handshake(tc) {
		return
	}
	for {
		c.refreshDeadline()
		if !c.setIdle(true) {
			return
		}
		c.awaitBackgroundRead()
		c.startHead()
		req, err := http.ReadRequest(c.br)
		head := c.endHead()
		if !c.setIdle(false) {
			// Shut down while the head was read: answer nothing.
			return
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.serveRequest(req, head) {
			return
		}
	}
}

// readFailed answers a request that could not be read, if there was one,
// as net/http's server does.
func (c *serverConn) readFailed(err error) {
	switch {
	case errors.Is(err, errHeaderTooLarge):
		c.reject(http.StatusRequestHeaderFieldsTooLarge, "request head too large")
	case connGone(err):
		// The client went away or idled out between requests.
		c.log.Debug("connection ends", zap.String("remote", c.remote), zap.Error(err))
	case unsupportedTE(err):
		// RFC 9112 §6.1: a transfer coding the server does not understand.
		c.reject(http.StatusNotImplemented, "unsupported transfer encoding")
	default:
		// A malformed request line or target (a *url.Error, which also
		// has a Timeout method), field or framing: RFC 9112 §3, §5.
		c.reject(http.StatusBadRequest, "malformed request")
		c.log.Debug("malformed request", zap.String("remote", c.remote), zap.Error(err))
	}
}

// connGone reports a read error of the connection itself (the client left,
// reset, or idled out), not of what it sent: net/http's
// isCommonNetReadError, plus the close of a shutdown.
func connGone(err error) bool {
	if err == io.EOF || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return false // a bad request target
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unsupportedTE reports http.ReadRequest's error for a Transfer-Encoding
// other than a single "chunked" (its type is unexported).
func unsupportedTE(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unsupported transfer encoding") || strings.HasPrefix(msg, "too many transfer encodings")
}

// reject writes a short error response, then closes the connection's
// sending side and reads what the client still sends for a moment, so the
// close does not reset the connection before the client reads the
// response (net/http does the same).
func (c *serverConn) reject(code int, msg string) {
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		code, http.StatusText(code), len(msg), msg)
	if c.bw.Flush() != nil {
		return
	}
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, c.conn, maxBodyDrain)
	}
}

// serveRequest runs the handler for req and finishes its response. It
// reports whether the connection may carry another request.
func (c *serverConn) serveRequest(req *http.Request, head []byte) bool {
	req.RemoteAddr = c.remote
	req.TLS = c.tlsState
	if req.ProtoMajor != 1 {
		c.reject(http.StatusHTTPVersionNotSupported, "HTTP/1 only")
		return false
	}
	if msg := checkHead(req, head); msg != "" {
		c.reject(http.StatusBadRequest, msg)
		return false
	}
	var body *serverBody
	if req.Body != nil && req.Body != http.NoBody {
		// A body has its own timeout (between reads), not the head's.
		c.deadline = time.Time{}
		body = &serverBody{r: req.Body, c: c, idle: c.srv.bodyTimeout()}
		if body.idle > 0 {
			body.arm()
		} else {
			c.conn.SetReadDeadline(time.Time{})
		}
		req.Body = body
	}
	w := &c.w
	w.reset(req, body)
	if len(req.TransferEncoding) > 0 {
		// http.ReadRequest reads a request carrying both Transfer-Encoding
		// and Content-Length by the former and drops the latter; RFC 9112
		// §6.1 then requires closing the connection after the response.
		// Which of the two this was is no longer visible, so every
		// chunked request closes its connection.
		w.closeAfter = true
	}
	if req.ProtoMinor == 0 && containsFold(head, "transfer-encoding") {
		// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has
		// faulty framing; close after the response. (http.ReadRequest
		// ignores the field in HTTP/1.0, frames by Content-Length and
		// deletes it, so the raw head is searched; a false match only
		// costs the keep-alive of an HTTP/1.0 client.)
		w.closeAfter = true
	}
	if e := req.Header.Get("Expect"); e != "" {
		if !strings.EqualFold(e, "100-continue") {
			c.reject(http.StatusExpectationFailed, "unsupported Expect")
			return false
		}
		// RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0
		// request MUST be ignored (as net/http's Server does): no 100,
		// and the field is not passed on.
		if body != nil && req.ProtoAtLeast(1, 1) {
			// RFC 9110 §10.1.1: answer 100 (Continue) at once rather
			// than when the handler first reads (which a transport may
			// do from another goroutine while the handler writes).
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if c.bw.Flush() != nil {
				return false
			}
			w.continued = true
		}
		req.Header.Del("Expect")
	}
	ctx, cancel := context.WithCancel(c.base)
	req = req.WithContext(ctx)
	w.req = req
	c.bgMu.Lock()
	c.cancel, c.bgAllowed = cancel, true
	c.bgMu.Unlock()
	if body == nil {
		c.startBackgroundRead()
	}
	ok := c.run(w, req)
	c.handOverBackgroundRead()
	cancel() // as net/http: the context ends with the handler
	if !ok {
		return false
	}
	if c.hijacked.Load() {
		return false
	}
	w.finish()
	keep := !w.closeAfter
	if w.mode == modeFixed && w.remain > 0 {
		keep = false // fewer bytes than announced: the framing is lost
	}
	if !keep || body != nil || !c.pipelined() {
		if err := c.bw.Flush(); err != nil {
			return false
		}
	}
	if body.failStatus() != 0 {
		keep = false
	}
	if keep && body != nil {
		// Read what the handler left of the body, within reason and
		// within the head timeout; more ends the connection.
		c.refreshDeadline()
		if n, err := io.CopyN(io.Discard, body.r, maxBodyDrain+1); n > maxBodyDrain || (err != nil && err != io.EOF) {
			return false
		}
	}
	return keep
}

// startBackgroundRead watches for the client leaving while the handler
// runs, once the request has no body left to read (as net/http's
// connReader.startBackgroundRead): a goroutine reads from the connection.
// If the read fails (the client closed or reset the connection), the
// request's context is cancelled; what it reads (a pipelined next
// request) is kept for the next head. Unlike net/http's, the read is not
// aborted when the handler returns: it goes on as the first read of the
// next head, so a watch costs no deadline changes and no extra read.
// Nothing is watched when the next request is already buffered: the
// client is still there as far as can be known without reading past it.
// It may be called from the goroutine that reads the body.
func (c *serverConn) startBackgroundRead() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if !c.bgAllowed || c.bgRunning || len(c.lr.pending) > 0 || c.lr.err != nil || c.br.Buffered() > 0 || c.hijacked.Load() {
		return
	}
	if c.bgDone == nil {
		c.bgDone = make(chan struct{}, 1)
		c.lr.stash = make([]byte, 4<<10)
	}
	c.bgRunning = true
	go c.backgroundRead()
}

func (c *serverConn) backgroundRead() {
	for {
		n, err := c.conn.Read(c.lr.stash)
		if hook := c.srv.onBackgroundRead; hook != nil {
			hook(n, err)
		}
		c.bgMu.Lock()
		if n > 0 {
			c.lr.pending = c.lr.stash[:n]
		}
		if n == 0 && isTimeout(err) && !c.bgAborting && !c.bgHanded {
			// The head or body deadline, not ours: the handler
			// takes long, and a client may wait for it. Watch on
			// (handOverBackgroundRead has the deadline set anew).
			c.conn.SetReadDeadline(time.Time{})
			c.bgCleared = true
			c.bgMu.Unlock()
			continue
		}
		if n == 0 && err != nil {
			switch {
			case c.bgHanded:
				c.lr.err = err // the next head's read fails with it
			case !c.bgAborting && c.cancel != nil:
				c.cancel() // the client went away
			}
		}
		c.bgRunning = false
		notify := c.bgHanded || c.bgAborting
		c.bgMu.Unlock()
		if notify {
			c.bgDone <- struct{}{} // awaitBackgroundRead or abortBackgroundRead waits
		}
		return
	}
}

// handOverBackgroundRead ends the watch's duty once the handler returned:
// none starts after it until the next request, and one still running
// reads the next head's first bytes (awaited by awaitBackgroundRead
// before the connection reads again).
func (c *serverConn) handOverBackgroundRead() {
	c.bgMu.Lock()
	c.bgAllowed, c.cancel = false, nil
	if c.bgRunning {
		c.bgHanded, c.bgWait = true, true
	}
	if c.bgCleared {
		c.bgCleared = false
		c.deadline = time.Time{} // refreshDeadline sets one
	}
	c.bgMu.Unlock()
}

// awaitBackgroundRead waits for a handed watch to end (with the next
// head's first bytes, an error, or the read deadline), so that the
// connection's goroutine may read again.
func (c *serverConn) awaitBackgroundRead() {
	if !c.bgWait {
		return
	}
	<-c.bgDone
	c.bgWait, c.bgHanded = false, false
}

// abortBackgroundRead stops the watch, if one runs, and waits for its end;
// none starts after it until the next request. If it stopped one, the read
// deadline is left in the past and c.deadline cleared: refreshDeadline or
// body.arm sets the next before any read.
func (c *serverConn) abortBackgroundRead() {
	c.bgMu.Lock()
	c.bgAllowed, c.cancel = false, nil
	running := c.bgRunning
	if running {
		c.bgAborting = true
		c.conn.SetReadDeadline(aLongTimeAgo)
	}
	c.bgCleared = false
	c.bgMu.Unlock()
	if !running {
		return
	}
	<-c.bgDone
	c.bgMu.Lock()
	c.bgAborting = false
	c.bgMu.Unlock()
	c.deadline = time.Time{}
}

// aLongTimeAgo is a read deadline in the past, which ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// checkHead applies the checks net/http's server makes on a request head
// beyond http.ReadRequest's, and returns why the request is refused with
// 400, or "" to accept it. head is the raw head.
func checkHead(req *http.Request, head []byte) string {
	// http.ReadRequest refuses several Host fields and moves the one
	// there is (or an absolute target's authority) to req.Host, deleting
	// the field. RFC 9112 §3.2: an HTTP/1.1 request without a Host field
	// is refused, even with an absolute target, and a Host field must be
	// valid even where the target's authority overrides it.
	host, haveHost := req.Host, req.Host != ""
	if req.URL.Host != "" {
		// Absolute or authority form, rare: read the field again.
		host, haveHost = "", false
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
		if _, err := tp.ReadLine(); err != nil {
			return "malformed request"
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return "malformed request"
		}
		if hosts := h["Host"]; len(hosts) > 0 {
			host, haveHost = hosts[0], true
		}
		if !httpguts.ValidHostHeader(req.Host) {
			return "malformed Host header"
		}
	}
	if req.ProtoAtLeast(1, 1) && !haveHost && req.Method != http.MethodConnect {
		return "missing required Host header"
	}
	if haveHost && !httpguts.ValidHostHeader(host) {
		return "malformed Host header"
	}
	// RFC 9112 §5.1: no whitespace between a field name and the colon
	// (net/textproto keeps "Content-Length " as a name of its own, which
	// would leave the request framed without it); RFC 9110 §5.5: no
	// CTL or NUL in a value.
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}

// containsFold reports whether b contains the lower-case ASCII word,
// in any letter case.
func containsFold(b []byte, word string) bool {
	for i := 0; i+len(word) <= len(b); i++ {
		j := 0
		for ; j < len(word); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// pipelined reports whether a whole next request head is already buffered,
// so the response can wait in the buffer for the next one's.
func (c *serverConn) pipelined() bool {
	n := c.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.br.Peek(n)
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// run calls the handler, recovering a panic. It reports false after a
// panic: the connection then closes.
func (c *serverConn) run(w *responseWriter, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				c.log.Error("handler panic", zap.String("remote", c.remote), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
			c.bw.Flush() // what was written goes out before the close
		}
	}()
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		serverOptions(w, req)
		return true
	}
	c.srv.Handler.ServeHTTP(w, req)
	return true
}

// serverOptions answers OPTIONS * (RFC 9110 §9.3.7: about the server, not
// a resource) as net/http's server does before any handler: 200 with
// Content-Length: 0, reading up to 4 KiB of a body.
func serverOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4<<10))
	}
	w.WriteHeader(http.StatusOK)
}

// serverBody is a request body as the handler sees it. Its Close does not
// read the rest (http.ReadRequest's body would, without limit): the server
// drains up to maxBodyDrain after the handler, or closes the connection.
type serverBody struct {
	r    io.ReadCloser
	c    *serverConn
	idle time.Duration // the body idle timeout; 0: none
	// A transport may read and close it from its own goroutine.
	closed   atomic.Bool
	n        atomic.Int64 // bytes read
	eof      atomic.Bool
	deadline atomic.Int64 // the read deadline set, Unix ns
	failed   atomic.Int32 // the status a failed read calls for (400, 408), 0
}

// arm sets the read deadline for the next body bytes, unless the one
// already set is recent enough (within 1/8 of the timeout), so that a
// body streamed in small reads does not pay for a timer update each.
func (b *serverBody) arm() {
	if b.idle <= 0 {
		return // the head's deadline was cleared when the body began
	}
	now := time.Now()
	if d := b.deadline.Load(); d == 0 || time.Unix(0, d).Sub(now) < b.idle-b.idle/8 {
		t := now.Add(b.idle)
		b.deadline.Store(t.UnixNano())
		b.c.conn.SetReadDeadline(t)
	}
}

// failStatus returns the status a response should have because the body
// could not be read: 400 for a malformed body, 408 for one that stalled,
// 0 when the body is fine.
func (b *serverBody) failStatus() int {
	if b == nil {
		return 0
	}
	return int(b.failed.Load())
}

// bigRest reports whether more of the body is left than the server drains
// after the handler (unknown lengths count as big).
func (b *serverBody) bigRest(length int64) bool {
	if b.eof.Load() {
		return false
	}
	return length < 0 || length-b.n.Load() > maxBodyDrain
}

func (b *serverBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof.Load() {
		return 0, io.EOF // no deadline to arm: a watch may read the connection
	}
	b.arm()
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == nil:
	case err == io.EOF:
		b.eof.Store(true)
		b.c.startBackgroundRead() // no body left: watch for the client leaving
	case isTimeout(err):
		b.failed.CompareAndSwap(0, http.StatusRequestTimeout)
	default:
		// A malformed chunk, or a body cut short: the client's fault
		// (RFC 9112 §7.1), not the handler's nor a backend's.
		b.failed.CompareAndSwap(0, http.StatusBadRequest)
	}
	return n, err
}

// isTimeout reports a deadline's error (without errors.As, whose target
// would escape: this runs once per request).
func isTimeout(err error) bool {
	if ne, ok := err.(net.Error); ok {
		return ne.Timeout()
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func (b *serverBody) Close() error {
	b.closed.Store(true)
	return nil
}

// Body framing of a response.
const (
	modeNone    = iota // no body (HEAD, 1xx, 204, 304)
	modeFixed          // Content-Length
	modeChunked        // Transfer-Encoding: chunked
	modeClose          // delimited by closing the connection (HTTP/1.0)
	modeDiscard        // the handler's body is dropped (see replace)
)

// What a handler finds on its ResponseWriter (directly or through
// http.NewResponseController) and its request body.
var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
	_ http.Hijacker       = (*responseWriter)(nil)
	_ io.ReadCloser       = (*serverBody)(nil)
)

// responseWriter is the http.ResponseWriter of one request; a connection
// reuses one for all its requests.
type responseWriter struct {
	c          *serverConn
	req        *http.Request
	body       *serverBody // nil without a body
	header     http.Header
	wrote      bool
	status     int
	mode       int
	remain     int64 // modeFixed: bytes still owed
	closeAfter bool
	continued  bool // a 100 (Continue) was sent
	scratch    [32]byte
	keys       []string // sortedKeys' slice, reused
}

func (w *responseWriter) reset(req *http.Request, body *serverBody) {
	clear(w.header)
	*w = responseWriter{c: w.c, req: req, body: body, header: w.header, keys: w.keys[:0], closeAfter: req.Close}
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader sends the status line and header. 1xx codes other than 101
// are sent at once and leave the final status to come, as with net/http.
func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		w.c.log.Debug("superfluous WriteHeader", zap.Int("code", code))
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.interim(code)
		return
	}
	w.final(code, false)
}

// interim sends an informational response at once, with the header fields
// set so far (RFC 8297: the handler's map is not cleared) but those that
// frame a body, as net/http's server does. Unlike net/http it sends none
// to an HTTP/1.0 client (RFC 9110 §15.2), nor a second 100 (Continue)
// after the one the server sent for Expect.
func (w *responseWriter) interim(code int) {
	if w.c.hijacked.Load() || !w.req.ProtoAtLeast(1, 1) || (code == http.StatusContinue && w.continued) {
		return
	}
	if code == http.StatusContinue {
		w.continued = true
	}
	w.writeStatus(code)
	for _, k := range w.sortedKeys() {
		if k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range w.header[k] {
			w.writeField(k, v)
		}
	}
	w.c.bw.WriteString("\r\n")
	w.c.bw.Flush()
}

// final writes the final status line and header; empty is set when the
// handler ended without writing anything.
func (w *responseWriter) final(code int, empty bool) {
	w.wrote = true
	if fail := w.body.failStatus(); fail != 0 {
		w.closeAfter = true // the body's framing is lost
		if code >= 500 {
			// The handler (a proxy, typically) failed because the
			// client's body did: answer for the client's fault, and
			// drop what the handler writes.
			w.replace(fail)
			return
		}
	}
	w.status = code
	w.frame(empty)
	w.writeHead(code)
}

// replace sends a short response of its own with status code in place of
// the handler's, whose writes are then discarded.
func (w *responseWriter) replace(code int) {
	msg := "malformed request body"
	if code == http.StatusRequestTimeout {
		msg = "request body timed out"
	}
	clear(w.header)
	w.header["Content-Type"] = []string{"text/plain; charset=utf-8"}
	w.header["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.status = code
	w.frame(false)
	w.writeHead(code)
	if w.mode == modeFixed {
		w.c.bw.WriteString(msg)
	}
	w.mode, w.remain = modeDiscard, 0
}

// writeHead writes a status line, the header fields and the blank line.
func (w *responseWriter) writeHead(code int) {
	w.writeStatus(code)
	for _, k := range w.sortedKeys() {
		for _, v := range w.header[k] {
			w.writeField(k, v) // TrailerPrefix keys are invalid names: skipped
		}
	}
	w.c.bw.WriteString("\r\n")
}

// sortedKeys returns the header's names in order, as net/http writes
// them: responses are the same bytes from one to the next (for caches and
// diffs), not in map order. The slice is reused by the next call.
func (w *responseWriter) sortedKeys() []string {
	keys := w.keys[:0]
	for k := range w.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.keys = keys
	return keys
}

// frame chooses the body framing and sets the fields that announce it.
// empty is set when the handler ended without writing anything.
func (w *responseWriter) frame(empty bool) {
	h := w.header
	delete(h, "Transfer-Encoding")
	code, req := w.status, w.req
	switch {
	case code == http.StatusNoContent || code == http.StatusNotModified || code < 200:
		w.mode = modeNone
		if code == http.StatusNoContent {
			delete(h, "Content-Length")
		}
	case req.Method == http.MethodHead:
		w.mode = modeNone
	default:
		if cl := h["Content-Length"]; len(cl) == 1 {
			if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
				w.mode, w.remain = modeFixed, n
				break
			}
		}
		delete(h, "Content-Length")
		switch {
		case empty:
			w.mode = modeFixed
			h["Content-Length"] = []string{"0"}
		case req.ProtoAtLeast(1, 1):
			w.mode = modeChunked
			h["Transfer-Encoding"] = []string{"chunked"}
		default:
			w.mode = modeClose
			w.closeAfter = true
		}
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") || w.c.closing.Load() || (w.body != nil && w.body.bigRest(req.ContentLength)) {
		w.closeAfter = true
	}
	switch {
	case w.closeAfter:
		h["Connection"] = []string{"close"}
	case !req.ProtoAtLeast(1, 1):
		h["Connection"] = []string{"keep-alive"}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = w.c.srv.dateHeader(time.Now())
	}
}

func (w *responseWriter) writeStatus(code int) {
	bw := w.c.bw
	b := append(w.scratch[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	bw.Write(b)
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// newlineToSpace turns line breaks in a field value into spaces.
var newlineToSpace = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

// writeField writes one header or trailer field, dropping an invalid name
// and turning line breaks in the value into spaces (no injected fields),
// as net/http does.
func (w *responseWriter) writeField(k, v string) {
	if !httpguts.ValidHeaderFieldName(k) {
		return
	}
	if strings.ContainsAny(v, "\r\n") {
		v = newlineToSpace.Replace(v)
	}
	bw := w.c.bw
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(strings.TrimSpace(v))
	bw.WriteString("\r\n")
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.c.hijacked.Load() {
		return 0, http.ErrHijacked
	}
	bw := w.c.bw
	switch w.mode {
	case modeNone:
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	case modeDiscard:
		return len(p), nil
	case modeFixed:
		if int64(len(p)) > w.remain {
			n, _ := bw.Write(p[:w.remain])
			w.remain = 0
			return n, http.ErrContentLength
		}
		n, err := bw.Write(p)
		w.remain -= int64(n)
		return n, err
	case modeChunked:
		if len(p) == 0 {
			return 0, nil
		}
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		bw.WriteString("\r\n")
		return n, err
	default:
		return bw.Write(p)
	}
}

// finish completes the response after the handler returned.
func (w *responseWriter) finish() {
	if !w.wrote {
		w.final(http.StatusOK, true)
	}
	if w.mode == modeChunked {
		w.c.bw.WriteString("0\r\n")
		w.writeTrailers()
		w.c.bw.WriteString("\r\n")
	}
}

// writeTrailers writes the trailer fields of a chunked response: those the
// Trailer field declared, and those set under http.TrailerPrefix.
func (w *responseWriter) writeTrailers() {
	for _, decl := range w.header["Trailer"] {
		for _, k := range strings.Split(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			for _, v := range w.header[k] {
				w.writeField(k, v)
			}
		}
	}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vs {
				w.writeField(name, v)
			}
		}
	}
}

// Flush sends what is buffered (the header first, if not yet written).
func (w *responseWriter) Flush() {
	if w.c.hijacked.Load() {
		return
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.c.bw.Flush()
}

// Hijack hands the connection to the handler, which then owns it.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	c.abortBackgroundRead() // the handler owns the connection's reads now
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hijacked.Load() {
		return nil, nil, http.ErrHijacked
	}
	if w.wrote {
		return nil, nil, errors.New("httpfront: Hijack after the response header was written")
	}
	c.hijacked.Store(true)
	c.bw.Flush()
	c.deadline = time.Time{}
	c.conn.SetDeadline(time.Time{})
	return c.conn, bufio.NewReadWriter(c.br, c.bw), nil
}
