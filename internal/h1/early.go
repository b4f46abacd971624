package h1

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// earlyAnswerConn is a connection used for one exchange whose writes,
// once the backend has closed or reset it (EPIPE, ECONNRESET), are
// discarded instead of failing. A backend may answer before it has read
// the request body and close the connection (an error status, a body
// too large); RFC 9112 §9.5 asks the client to watch for that answer
// while it sends and then to stop sending. http.Transport instead returns
// the write error whenever its writer goroutine sees it before its
// reader goroutine has the response (golang/go#51109), and a proxy
// answers 502 for what the backend answered. With the failed writes
// discarded, the transport reads on: it gets the answer the backend sent
// before closing, or, if there is none, the read error, which fails the
// exchange as before. The discarding ends when the exchange does: the
// transport closes the connection, and writes then fail with that
// error, which ends its copy of the request body.
//
// It is only for connections that carry one exchange (Transport's
// oneShot): a connection whose writes were discarded must never carry
// another request.
//
// It has no ReadFrom: the transport copies a body through Write, as
// net.TCPConn's ReadFrom does for any body that is not a socket or a file
// (a proxy's bodies never are).
type earlyAnswerConn struct {
	net.Conn
	gone atomic.Bool // the backend closed or reset: writes are discarded
}

// peerGone reports whether a write failed because the backend closed or
// reset the connection.
func peerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

func (c *earlyAnswerConn) Write(p []byte) (int, error) {
	if c.gone.Load() {
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	if err != nil && peerGone(err) {
		c.gone.Store(true)
		return len(p), nil
	}
	return n, err
}

// earlyAnswerDial wraps dial's connections in earlyAnswerConn.
func earlyAnswerDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &earlyAnswerConn{Conn: c}, nil
	}
}
