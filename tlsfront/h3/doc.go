// Package h3 serves an http.Handler over HTTP/3 (RFC 9114) on QUIC
// (RFC 9000), with github.com/quic-go/quic-go's http3 package, beside a
// TLS-over-TCP server of the same site: the same handler, the same
// certificates (read from a *tls.Config at every handshake, so a
// tlsfront.Front's reloads and ticket key rotations apply), and AltSvc to
// advertise it on the TCP side (RFC 7838).
//
//	front, _ := tlsfront.New(tlsfront.Config{Certificates: pairs})
//	srv, _ := h3.New(h3.Config{Handler: h, TLS: front.TLSConfig()})
//	pc, _ := net.ListenPacket("udp", ":443")
//	go srv.Serve(ctx, pc)
//	// and on the TCP listener of port 443:
//	tcpHandler := h3.AltSvc(443, 0, h)
//
// It is a package of its own so that tlsfront's users do not build
// quic-go unless they serve HTTP/3.
//
// # Protocol
//
// QUIC uses TLS 1.3 only; the certificate is chosen as the TCP side
// chooses it (Config.TLS's GetCertificate); ALPN is "h3". 0-RTT is
// refused: a replayed request (RFC 8470 §1) would reach the handler
// twice, and the handler cannot tell (quic-go leaves that to clients).
// Requests carrying connection-specific fields (Connection, Keep-Alive,
// Proxy-Connection, Transfer-Encoding, Upgrade, a TE other than
// "trailers"), upper-case field names, a Content-Length that disagrees
// with the DATA received, or invalid pseudo-header fields are malformed
// (RFC 9114 §4.1.2, §4.2) and never reach the handler: they are what
// request smuggling is made of on HTTP/1.1. Requests arrive with
// r.ProtoMajor 3, r.TLS set and r.RemoteAddr the client's UDP address.
//
// # Hostile clients
//
// A request stream must complete its HEADERS frame within
// Config.ReadHeaderTimeout (10 s, as package httpfront waits for an
// HTTP/1.1 head) or it is reset with H3_REQUEST_INCOMPLETE (slowloris),
// and a unidirectional stream must send its stream type within it too or
// is aborted with H3_STREAM_CREATION_ERROR (RFC 9114 §6.2); a request
// body that sends nothing for Config.BodyIdleTimeout (60 s, as package
// httpfront and nginx's client_body_timeout) fails the handler's Read
// with ErrBodyTimeout (slow POST); a
// client may have Config.MaxStreams requests open at once per connection
// (250, as net/http's HTTP/2 server); a connection without requests for
// Config.IdleTimeout is closed, and QUIC closes one that is silent for
// 30 s (quic-go's idle timeout).
//
// Past Config.RetryAbove new connections per second from addresses not
// yet validated, clients must first prove their address with a Retry
// (RFC 9000 §8.1.2), so that a flood of spoofed Initial packets costs the
// server a stateless Retry each, not a signed handshake; Stats counts
// them.
//
// # UDP socket buffers
//
// QUIC on a busy server needs larger socket buffers than the kernel's
// default; quic-go asks for 7 MiB and prints a line through the standard
// log package when it cannot get them. Serve raises them first (on Linux
// with SO_RCVBUFFORCE when privileged) and, if the kernel keeps them
// smaller, says so once through Config.Logger at warn level, with the
// sysctl to raise. quic-go's own line is silenced by setting the
// environment variable QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true,
// which a program may do (the examples do); this package does not touch
// the environment.
//
// # Concurrency and goroutines
//
// A Server is safe for concurrent use. Serve runs quic-go's goroutines
// (one reading the socket, a few per connection, one per request) until
// its ctx ends; it then closes at once the connections with no request
// open (after three probe timeouts for their last packets, RFC 9000
// §10.2), refuses new requests with H3_REQUEST_REJECTED (RFC 9114 §8.1;
// a client may send them again), closes each other connection when its
// last request is done, closes what is left after Config.ShutdownTimeout
// and returns once every goroutine it started has ended. It sends no
// GOAWAY: quic-go writes that frame only from its own stream loop, which
// cannot bound the wait for HEADERS nor close idle connections. AltSvc returns a handler safe for
// concurrent use if next is.
package h3
