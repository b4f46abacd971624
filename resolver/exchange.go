package resolver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
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
// fifth of a cache miss, and dialUDP's socket three system calls fewer.
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
	conn, err := dialUDP(server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	// Close ends the read through r.udpWaiting, which costs no
	// allocation (an AfterFunc on r.ctx costs four); a context of
	// another making is watched with an AfterFunc.
	if !r.udpWaiting.add(conn) {
		return nil, udpError("read", server, net.ErrClosed)
	}
	defer r.udpWaiting.remove(conn)
	if ctx != r.ctx {
		defer context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })()
	}
	if _, err := conn.Write(wire); err != nil {
		return nil, udpError("write", server, err)
	}
	for {
		n, err := conn.Read(buf)
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

// waitingSockets is the set of upstream sockets waiting for a reply. wake
// ends their reads and refuses new ones: the resolver's Close. The zero
// value is an empty set. It is safe for concurrent use and must not be
// copied.
type waitingSockets struct {
	mu    sync.Mutex
	woken bool
	conns map[udpConn]struct{}
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
	defer w.mu.Unlock()
	w.woken = true
	for c := range w.conns {
		c.SetReadDeadline(time.Unix(1, 0))
	}
}
