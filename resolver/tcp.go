package resolver

import (
	"context"
	"net"
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
	return serve.ServeDNSTCP(ctx, ln, serve.DNSTCPConfig{Idle: tcpIdleTimeout, Write: tcpWriteTimeout, Conn: s.tcpConn})
}

// tcpConn returns the function that answers the queries of d: from the
// cache at once, the others each on its own goroutine, at most
// tcpPipelined at a time (past it, the connection is not read until one
// is answered).
func (s *Server) tcpConn(d *serve.DNSConn) func(msg []byte) {
	c := d.Conn()
	remote, local := c.RemoteAddr(), c.LocalAddr()
	slots := make(chan struct{}, tcpPipelined)
	write := func(m *dns.Msg) {
		if b, err := m.Pack(); err == nil {
			d.Write(b)
		}
	}
	return func(msg []byte) {
		req := new(dns.Msg)
		if err := dnsproto.UnpackQuery(msg, req); err != nil {
			write(s.formErr(msg, req, remote, local))
			return
		}
		if m, ok := s.respond(remote, local, req, cacheOnly); ok {
			padEncrypted(c, m, req)
			write(m)
			return
		}
		slots <- struct{}{}
		d.Go(func() {
			defer func() { <-slots }()
			m, _ := s.respond(remote, local, req, resolveOnly)
			padEncrypted(c, m, req)
			write(m)
		})
	}
}
