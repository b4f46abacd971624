package resolver

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/internal/serve"
	"github.com/miekg/dns"
)

const (
	// tcpIdleTimeout closes a client connection that sends nothing for
	// this long (RFC 7766 §6.2.3 leaves the value to the server; Unbound's
	// tcp-idle-timeout is 30 s, BIND's 30 s for its initial one).
	tcpIdleTimeout = 30 * time.Second
	// tcpWriteTimeout bounds writing one reply to a client that reads
	// slowly.
	tcpWriteTimeout = 10 * time.Second
	// tcpPipelined bounds the questions of one connection being resolved
	// at once; past it, the connection is not read until one is answered.
	tcpPipelined = 100
)

// ServeTCP answers DNS queries over TCP on ln (RFC 7766) until ctx is
// done, then closes ln, stops reading from its connections, lets the
// replies in progress be written and closes the connections, and returns
// nil; it returns the error if accepting fails for another reason.
//
// Queries pipelined on one connection are answered concurrently and each
// reply is sent as soon as it is ready, out of order (RFC 7766 §6.2.1.1):
// a question the cache answers never waits behind one being resolved. A
// connection idle for 30 s is closed (§6.2.3). Malformed queries get
// FORMERR; responses (QR set) are dropped.
//
// Over ln = tls.NewListener(...) it serves DNS over TLS (RFC 7858); then
// the reply to a query with an EDNS(0) Padding option is padded to a
// multiple of 468 octets (RFC 7830 §4, RFC 8467 §4.1).
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	var (
		conns   serve.Conns[net.Conn]
		closing atomic.Bool // read by the connections' readers
	)
	err := serve.Accept(ctx, ln, func(c net.Conn) {
		conns.Serve(c, func() { s.serveTCPConn(c, &closing) })
	})
	// No new connections; the readers stop (closing, then a read deadline
	// in the past), so that the replies in progress can still be written.
	closing.Store(true)
	conns.Each(func(c net.Conn) { c.SetReadDeadline(time.Unix(1, 0)) })
	conns.Wait()
	return err
}

// serveTCPConn reads length-prefixed queries from c until it fails or
// closing is set, then waits for the answers in progress and closes c.
func (s *Server) serveTCPConn(c net.Conn, closing *atomic.Bool) {
	defer c.Close()
	remote, local := c.RemoteAddr(), c.LocalAddr()
	var (
		wmu      sync.Mutex
		inflight sync.WaitGroup
		slots    = make(chan struct{}, tcpPipelined)
	)
	write := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil || len(b) > dns.MaxMsgSize {
			return
		}
		framed := make([]byte, 2+len(b))
		binary.BigEndian.PutUint16(framed, uint16(len(b)))
		copy(framed[2:], b)
		wmu.Lock()
		defer wmu.Unlock()
		c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
		c.Write(framed) // a failed write ends the connection at the next read
	}
	defer inflight.Wait()
	br := bufio.NewReader(c)
	var size [2]byte
	for {
		// The shutdown sets closing, then a read deadline in the past: a
		// reader that renews its deadline after that sees closing here.
		c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if closing.Load() {
			return
		}
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint16(size[:])
		if n == 0 {
			return // no message can be empty: a broken or hostile client
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		if len(msg) < 12 || msg[2]&0x80 != 0 {
			continue // no header, or a response: never answered
		}
		req := new(dns.Msg)
		if err := dnsproto.UnpackQuery(msg, req); err != nil {
			write(s.formErr(msg, req, remote, local))
			continue
		}
		if m, ok := s.respond(remote, local, req, cacheOnly); ok {
			padEncrypted(c, m, req)
			write(m)
			continue
		}
		slots <- struct{}{}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-slots }()
			m, _ := s.respond(remote, local, req, resolveOnly)
			padEncrypted(c, m, req)
			write(m)
		}()
	}
}
