//lint:file-ignore SA1019 net/http has no entry point for one connection already accepted and handshaken; x/net/http2's ServeConn is that entry point (from Go 1.27 it wraps net/http's own HTTP/2 server).

package httpfront

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
)

// h2front serves the TLS connections of one Serve call that negotiate
// "h2" (ALPN, RFC 9113 §3.2) with golang.org/x/net/http2, and shuts them
// down gracefully (GOAWAY) when Serve's context ends.
type h2front struct {
	once sync.Once
	base *http.Server
	srv  *http2.Server
}

func (h *h2front) init(s *Server) {
	h.once.Do(func() {
		h.srv = &http2.Server{IdleTimeout: s.headerTimeout()}
		h.base = &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: s.headerTimeout(),
			IdleTimeout:       s.headerTimeout(),
			MaxHeaderBytes:    int(s.maxHeaderBytes()),
			ErrorLog:          zap.NewStdLog(s.logger().Named("h2")),
		}
		http2.ConfigureServer(h.base, h.srv) // only fails on a TLSConfig we do not set
	})
}

// shutdown sends GOAWAY on every h2 connection; their goroutines end
// once their streams are done (Serve's drain bounds the wait).
func (h *h2front) shutdown() {
	h.once.Do(func() {}) // no h2 connection was served: nothing to do
	if h.base != nil {
		h.base.Shutdown(context.Background()) // tracks no connection itself: returns at once
	}
}

// handshake completes a TLS connection's handshake under the head
// deadline, and reports whether to go on with HTTP/1.1 on it (false: it
// failed, the server is shutting down, or h2 served the connection).
func (c *serverConn) handshake(tc *tls.Conn) bool {
	c.refreshDeadline()
	if !c.setIdle(true) { // a shutdown meanwhile cuts the handshake
		return false
	}
	err := tc.HandshakeContext(c.base)
	if !c.setIdle(false) || err != nil {
		if err != nil {
			c.log.Debug("httpfront: TLS handshake failed", zap.String("remote", c.remote), zap.Error(err))
		}
		return false
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	if st.NegotiatedProtocol != "h2" {
		return true
	}
	h := c.h2
	if h == nil {
		return false
	}
	h.init(c.srv)
	if h.srv == nil { // Serve is shutting down
		return false
	}
	tc.SetDeadline(time.Time{}) // http2 keeps its own timeouts
	h.srv.ServeConn(tc, &http2.ServeConnOpts{Context: c.base, BaseConfig: h.base, Handler: c.srv.Handler})
	return false
}
