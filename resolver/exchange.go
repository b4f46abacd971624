package resolver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpConn is what exchangeUDP needs of a connected UDP socket: *os.File
// (dialUDP on Linux) and *net.UDPConn both satisfy it.
type udpConn interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetDeadline(time.Time) error
	SetReadDeadline(time.Time) error
	Close() error
}

// upstreamSocket is a UDP socket connected to one server for one query.
// read waits for a datagram until the deadline given when it was opened,
// or the end of the exchange's context or the resolver's, which it
// reports as os.ErrDeadlineExceeded.
type upstreamSocket interface {
	write([]byte) error
	read([]byte) (int, error)
	close()
}

// errNoRawPath is udpPoller's answer for what it does not handle: the
// portable path takes it.
var errNoRawPath = errors.New("resolver: not for the epoll path")

// exchangeUDP sends q to server from a socket of its own, so that every
// query leaves from a fresh random port (RFC 5452 §9.2), and returns the
// first reply that parses, carries q's ID and answers q's question (or
// carries no question: a bare FORMERR, RFC 6891 §7). The socket is
// connected, so the kernel drops datagrams from any other address or
// port; stray or garbled datagrams from the server's address are skipped
// (RFC 5452 §9.1). It gives up at deadline, at ctx's deadline or end, or
// when the resolver is closed.
//
// It does without net.Dialer and miekg/dns's Client: their generality
// (address parsing, dial racing, local and peer address lookups) cost a
// fifth of a cache miss. On Linux the socket is one of udpPoller's (raw
// system calls, an epoll set of the resolver's own); elsewhere, or if
// that set cannot be made, dialUDP's, in Go's poller.
func (r *Recursive) exchangeUDP(ctx context.Context, q *dns.Msg, server netip.AddrPort, deadline time.Time) (*dns.Msg, error) {
	bp, _ := r.udpBufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, dns.MaxMsgSize)
		bp = &b
	}
	defer r.udpBufs.Put(bp)
	buf := *bp
	// The query is packed into the buffer the reply is read into: it is
	// written before the first read.
	wire, err := q.PackBuffer(buf)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	sock, err := r.openUDP(ctx, server, deadline)
	if err != nil {
		return nil, err
	}
	defer sock.close()
	if err := sock.write(wire); err != nil {
		return nil, udpError("write", server, err)
	}
	for {
		n, err := sock.read(buf)
		if errors.Is(err, io.EOF) {
			continue // an empty datagram, which an *os.File reports as EOF
		}
		if err != nil {
			return nil, udpError("read", server, err)
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) == nil && resp.Id == q.Id && (len(resp.Question) == 0 || matches(resp, q)) {
			return resp, nil
		}
		// A stray or garbled datagram: keep waiting for the reply.
	}
}

// openUDP opens the socket of one upstream query to server.
func (r *Recursive) openUDP(ctx context.Context, server netip.AddrPort, deadline time.Time) (upstreamSocket, error) {
	if p := r.udpWaiting.poller(); p != nil {
		s, err := p.open(ctx, r.ctx, server, deadline)
		if err != errNoRawPath {
			if errors.Is(err, net.ErrClosed) {
				err = udpError("read", server, err)
			}
			return s, err
		}
	}
	conn, err := dialUDP(server)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(deadline)
	// Close ends the read through r.udpWaiting, which costs no
	// allocation (an AfterFunc on r.ctx costs four); a context of
	// another making is watched with an AfterFunc.
	if !r.udpWaiting.add(conn) {
		conn.Close()
		return nil, udpError("read", server, net.ErrClosed)
	}
	s := &connSocket{c: conn, w: &r.udpWaiting}
	if ctx != r.ctx {
		s.stop = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	}
	return s, nil
}

// connSocket is an upstreamSocket over a udpConn in Go's poller.
type connSocket struct {
	c    udpConn
	w    *waitingSockets
	stop func() bool // stops the AfterFunc watching the exchange's context
}

func (s *connSocket) write(b []byte) error {
	_, err := s.c.Write(b)
	return err
}

func (s *connSocket) read(b []byte) (int, error) { return s.c.Read(b) }

func (s *connSocket) close() {
	if s.stop != nil {
		s.stop()
	}
	s.w.remove(s.c)
	s.c.Close()
}

// udpError gives an error of the socket (an *os.PathError from an
// *os.File) as a *net.OpError, so that callers find timeouts as a
// net.Error, as from a net.Conn.
func udpError(op string, server netip.AddrPort, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return &net.OpError{Op: op, Net: "udp", Addr: net.UDPAddrFromAddrPort(server), Err: err}
}

// dialUDPNet is dialUDP through net.DialUDP.
func dialUDPNet(server netip.AddrPort) (udpConn, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// waitingSockets is the set of upstream sockets waiting for a reply, and
// the udpPoller that waits for them on Linux. wake ends their reads,
// stops the poller and refuses new sockets: the resolver's Close. The
// zero value is an empty set. It is safe for concurrent use and must not
// be copied.
type waitingSockets struct {
	mu    sync.Mutex
	woken bool
	conns map[udpConn]struct{}

	poll   atomic.Pointer[udpPoller] // made at the first exchange
	noPoll bool                      // newUDPPoller failed, or the portable path is wanted (tests)
}

// poller returns the udpPoller, making it at the first call, or nil when
// there is none (not Linux, or it could not be made). After wake it may
// return the stopped poller, which opens no socket.
func (w *waitingSockets) poller() *udpPoller {
	if p := w.poll.Load(); p != nil {
		return p
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.poll.Load(); p != nil || w.noPoll || w.woken {
		return p
	}
	p, err := newUDPPoller()
	if err != nil {
		w.noPoll = true
		return nil
	}
	w.poll.Store(p)
	return p
}

// add adds c to the set, or reports false after wake.
func (w *waitingSockets) add(c udpConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.woken {
		return false
	}
	if w.conns == nil {
		w.conns = map[udpConn]struct{}{}
	}
	w.conns[c] = struct{}{}
	return true
}

func (w *waitingSockets) remove(c udpConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// wake ends the reads of the sockets in the set (their deadline passes)
// and makes add refuse sockets from now on.
func (w *waitingSockets) wake() {
	w.mu.Lock()
	w.woken = true
	for c := range w.conns {
		c.SetReadDeadline(time.Unix(1, 0))
	}
	p := w.poll.Load()
	w.mu.Unlock()
	if p != nil {
		p.close()
	}
}
