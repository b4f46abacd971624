package authority

import (
	"context"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/internal/serve"
	"github.com/miekg/dns"
)

const (
	// tcpIdleTimeout closes a client connection that sends nothing for
	// this long (RFC 7766 §6.2.3 leaves it to the server; Unbound's and
	// BIND's are 30 s), as the resolver's ServeTCP does.
	tcpIdleTimeout = 30 * time.Second
	// tcpWriteTimeout bounds writing one reply to a client that reads
	// slowly.
	tcpWriteTimeout = 10 * time.Second
)

// ServeUDP answers DNS queries arriving on pc until ctx is done, then
// returns nil once the replies in progress are sent; it returns the error
// if reading from pc fails for another reason. It does not close pc. One
// read loop per GOMAXPROCS shares the socket and answers inline (answers
// come from memory).
//
// Serve a Server with ServeUDP and ServeTCP rather than a dns.Server:
// every packet is then judged by the same rules as the resolver's Server
// answers it (dnsproto.VetQuery). A dns.Server answers some queries
// itself before ServeDNS sees them (NOTIMP for opcodes other than QUERY
// and NOTIFY, FORMERR for unexpected section counts or a message that
// does not parse), without the OPT record RFC 6891 §7 requires in the
// reply to an EDNS query and without the query's RD, and it answers a
// header whose counts promise records that are not there as if they
// were. Here packets shorter than a header and responses (QR set) are
// dropped, never answered (no reflection loops); a query that does not
// parse, or whose counts lie, gets FORMERR with the query's header bits
// and an OPT when it had one (dnsproto.FormErr); the rest get Answer's
// reply, truncated to the client's buffer.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	return serve.ReadLoops(ctx, pc, runtime.GOMAXPROCS(0), func(ctx context.Context, _ *sync.WaitGroup) func() error {
		return func() error { return s.udpLoop(ctx, pc) }
	})
}

func (s *Server) udpLoop(ctx context.Context, pc net.PacketConn) error {
	buf := make([]byte, dns.MaxMsgSize)
	var out []byte
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if b := s.replyTo(buf[:n], addr, false, out[:0]); b != nil {
			out = b
			pc.WriteTo(b, addr)
		}
	}
}

// replyTo returns the packed reply to the packet msg from remote, built
// in buf, or nil when msg is not to be answered. Over UDP (tcp false)
// the reply is truncated to the client's buffer.
func (s *Server) replyTo(msg []byte, remote net.Addr, tcp bool, buf []byte) []byte {
	if !dnsproto.IsQueryHeader(msg) {
		return nil
	}
	req := new(dns.Msg)
	var m *dns.Msg
	if err := dnsproto.UnpackQuery(msg, req); err != nil {
		var size int
		m, size = dnsproto.FormErr(msg, req)
		if !tcp {
			dnsproto.Truncate(m, size)
		}
	} else {
		m = s.respond(req, remote, tcp)
	}
	b, err := m.PackBuffer(buf)
	if err != nil || len(b) > dns.MaxMsgSize {
		return nil
	}
	return b
}

// ServeTCP answers DNS queries over TCP on ln (RFC 7766) until ctx is
// done, then closes ln, stops reading from its connections, lets the
// replies in progress be written, closes the connections and returns nil;
// it returns the error if accepting fails for another reason. The queries
// of a connection are answered in order, each as soon as it is read (the
// answers come from memory, so none waits on another for long). A
// connection idle for 30 s is closed (§6.2.3). Packets are judged as by
// ServeUDP; a reply is never truncated.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	return serve.ServeDNSTCP(ctx, ln, serve.DNSTCPConfig{Idle: tcpIdleTimeout, Write: tcpWriteTimeout, Conn: s.tcpConn})
}

// tcpConn returns the function that answers the queries of d, each at
// once, in order.
func (s *Server) tcpConn(d *serve.DNSConn) func(msg []byte) {
	remote := d.Conn().RemoteAddr()
	var out []byte
	return func(msg []byte) {
		if b := s.replyTo(msg, remote, true, out[:0]); b != nil {
			out = b
			d.Write(b)
		}
	}
}
