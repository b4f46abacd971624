package serve

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): the accept loop, the
// length-prefixed framing, the idle and write timeouts and the shutdown
// that the resolver's and the authoritative server's ServeTCP share.

// DNSTCPConfig is how ServeDNSTCP serves; the zero value of a timeout
// means none.
type DNSTCPConfig struct {
	// Idle closes a connection that sends nothing for this long (RFC 7766
	// §6.2.3 leaves it to the server; Unbound's and BIND's are 30 s).
	Idle time.Duration
	// Write bounds the writing of one reply to a client that reads
	// slowly.
	Write time.Duration
	// Conn is called once per accepted connection and returns the
	// function given each of its queries: a message at least a header
	// long with QR clear (the rest are dropped, never answered), which it
	// owns. The function runs on the connection's reader goroutine; it may
	// answer at once or later (d.Go), with d.Write.
	Conn func(d *DNSConn) func(msg []byte)
}

// DNSConn is one DNS over TCP connection of ServeDNSTCP. Its methods are
// safe for concurrent use.
type DNSConn struct {
	c        net.Conn
	write    time.Duration
	wmu      sync.Mutex
	inflight sync.WaitGroup
}

// Conn is the connection (for its addresses and TLS state).
func (d *DNSConn) Conn() net.Conn { return d.c }

// Write sends the packed message b with its length prefix in one write,
// whole or not at all with respect to other Writes. Messages longer than
// 65,535 octets are not sent. A failed write ends the connection at its
// next read.
func (d *DNSConn) Write(b []byte) {
	if len(b) > 0xffff {
		return
	}
	var size [2]byte
	binary.BigEndian.PutUint16(size[:], uint16(len(b)))
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.write > 0 {
		d.c.SetWriteDeadline(time.Now().Add(d.write))
	}
	framed := net.Buffers{size[:], b} // one write (writev)
	framed.WriteTo(d.c)
}

// Go runs fn on a new goroutine; the connection is closed only after fn
// has returned, so fn may still Write.
func (d *DNSConn) Go(fn func()) {
	d.inflight.Add(1)
	go func() {
		defer d.inflight.Done()
		fn()
	}()
}

// ServeDNSTCP serves DNS over TCP on ln until ctx is done, then closes ln,
// stops reading from its connections, lets the replies in progress be
// written (functions started with DNSConn.Go included), closes the
// connections and returns nil; it returns the error if accepting fails
// for another reason. A connection ends when a read fails, at its idle
// timeout, or on a zero length prefix (no message is empty: a broken or
// hostile client).
func ServeDNSTCP(ctx context.Context, ln net.Listener, cfg DNSTCPConfig) error {
	var (
		conns   Conns[net.Conn]
		closing atomic.Bool // read by the connections' readers
	)
	err := Accept(ctx, ln, func(c net.Conn) {
		conns.Serve(c, func() { serveDNSConn(c, cfg, &closing) })
	})
	// No new connections; the readers stop (closing, then a read deadline
	// in the past), so that the replies in progress can still be written.
	closing.Store(true)
	conns.Each(func(c net.Conn) { c.SetReadDeadline(time.Unix(1, 0)) })
	conns.Wait()
	return err
}

func serveDNSConn(c net.Conn, cfg DNSTCPConfig, closing *atomic.Bool) {
	d := &DNSConn{c: c, write: cfg.Write}
	defer c.Close()
	defer d.inflight.Wait()
	handle := cfg.Conn(d)
	br := bufio.NewReader(c)
	var size [2]byte
	for {
		// The shutdown sets closing, then a read deadline in the past: a
		// reader that renews its deadline after that sees closing here.
		if cfg.Idle > 0 {
			c.SetReadDeadline(time.Now().Add(cfg.Idle))
		} else {
			c.SetReadDeadline(time.Time{})
		}
		if closing.Load() {
			return
		}
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint16(size[:])
		if n == 0 {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		if len(msg) < 12 || msg[2]&0x80 != 0 {
			continue // no header, or a response: never answered
		}
		handle(msg)
	}
}

// ServeDNSConn serves the one connection c (a net.Pipe, say) as
// ServeDNSTCP serves each of its connections, until a read fails or its
// idle timeout passes, then closes c.
func ServeDNSConn(c net.Conn, cfg DNSTCPConfig) { serveDNSConn(c, cfg, new(atomic.Bool)) }
