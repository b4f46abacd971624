package h3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Defaults of Config's zero values.
const (
	// DefaultIdleTimeout is net/http's and the examples' keep-alive idle
	// timeout (HAProxy's timeout http-keep-alive is shorter, but a QUIC
	// connection costs the server little while idle).
	DefaultIdleTimeout = 120 * time.Second
	// DefaultShutdownTimeout is how long requests in flight may finish
	// once Serve's ctx ends.
	DefaultShutdownTimeout = 5 * time.Second
	// DefaultAltSvcMaxAge is the lifetime AltSvc advertises (RFC 7838
	// §3.1 "ma"), as large CDNs send it.
	DefaultAltSvcMaxAge = 24 * time.Hour
	// DefaultRetryAbove is the rate of new connections per second from
	// unvalidated addresses handshaken at once (see Config.RetryAbove).
	DefaultRetryAbove = 1000
	// DefaultReadHeaderTimeout bounds the wait for a request's HEADERS
	// frame, as package httpfront's DefaultReadHeaderTimeout bounds an
	// HTTP/1.1 request head (HAProxy's timeout http-request).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultMaxStreams is how many requests a client may have open at
	// once on one connection: net/http's HTTP/2 server's default
	// (SETTINGS_MAX_CONCURRENT_STREAMS 250), where quic-go's is 100.
	DefaultMaxStreams = 250
	// DefaultBodyIdleTimeout bounds each wait for request body bytes, as
	// package httpfront's DefaultBodyIdleTimeout (nginx's
	// client_body_timeout).
	DefaultBodyIdleTimeout = 60 * time.Second
)

// Config configures a Server. Handler and TLS are required; every other
// zero value is a documented default.
// A plain value, safe for concurrent use while no goroutine changes it.
// New copies it.
type Config struct {
	// Handler answers the requests. Required.
	Handler http.Handler
	// TLS is the server's TLS configuration, looked at anew at every
	// handshake (its GetConfigForClient first, when set): its
	// certificates (Certificates or GetCertificate) and session ticket
	// keys are used; NextProtos is replaced by "h3" and the version is
	// TLS 1.3. A tlsfront.Front's TLSConfig() fits: its reloads and key
	// rotations apply to HTTP/3 as to TCP. Required; never changed.
	TLS *tls.Config
	// IdleTimeout closes a connection that has had no request for this
	// long. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds the time from the opening of a request
	// stream to the end of its HEADERS frame; a stream still short of it
	// then is reset with H3_REQUEST_INCOMPLETE (RFC 9114 §8.1), so that a
	// client cannot hold requests open by sending their heads slowly
	// (slowloris). Zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout bounds each wait of the handler for request body
	// bytes: a body that sends nothing for this long fails the handler's
	// Read with an error wrapping ErrBodyTimeout, so that a client cannot
	// hold a request open by sending its body slowly (slow POST). The
	// handler answers as it sees fit. The deadline is moved coarsely, so
	// the bound is between 7/8 of it and all of it. Zero means
	// DefaultBodyIdleTimeout; negative means no limit.
	BodyIdleTimeout time.Duration
	// MaxStreams bounds the request streams a client may have open at
	// once on one connection (QUIC's initial_max_streams_bidi, RFC 9000
	// §4.6; each stream served frees its place). Zero means
	// DefaultMaxStreams.
	MaxStreams int
	// MaxHeaderBytes bounds a request's field section (RFC 9114 §4.2.2,
	// counted as the RFC counts it); a larger one is answered 431. Zero
	// means http.DefaultMaxHeaderBytes (1 MiB, as net/http).
	MaxHeaderBytes int
	// ShutdownTimeout is how long requests in flight may finish once
	// Serve's ctx ends; then the connections left are closed. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// RetryAbove is how many connection attempts per second (and at
	// once; counted in Initial packets without a token, of which a
	// ClientHello can take two) from addresses not yet validated are
	// handshaken straight away; past it, a client must first prove that it receives at its
	// address with a Retry (RFC 9000 §8.1.2): one more round trip for it,
	// and no handshake signed for a flood of spoofed Initial packets.
	// Zero means DefaultRetryAbove; negative means every connection is
	// validated first.
	RetryAbove int
	// Logger receives the UDP buffer warning (warn, once per Serve) and
	// quic-go's HTTP/3 events (handler panics at error, the rest at
	// debug). Nil means zap.NewNop().
	Logger *zap.Logger
}

// Server serves a handler over HTTP/3. It is safe for concurrent use by
// multiple goroutines; each Serve call serves one socket.
type Server struct {
	cfg  Config
	log  *zap.Logger
	tls  *tls.Config
	quic *quic.Config
	// raise sizes a socket's buffers: raiseBuffers, or a test's stand-in
	// for a kernel that refuses.
	raise   func(pc net.PacketConn, want int) (rcv, snd int, ok bool)
	retried atomic.Uint64
	// handler is cfg.Handler behind bodyDeadlines.
	handler http.Handler
}

// Stats are counts since New. A plain value.
type Stats struct {
	// Retried counts Initial packets without a token answered with a
	// Retry (address validation, Config.RetryAbove); a ClientHello can
	// span two.
	Retried uint64
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats { return Stats{Retried: s.retried.Load()} }

// mustValidate returns the Transport's VerifySourceAddress for one Serve:
// true (send a Retry) past cfg.RetryAbove attempts per second.
func (s *Server) mustValidate() func(net.Addr) bool {
	n := s.cfg.RetryAbove
	if n < 0 {
		return func(net.Addr) bool { s.retried.Add(1); return true }
	}
	lim := rate.NewLimiter(rate.Limit(n), n)
	return func(net.Addr) bool {
		if lim.Allow() {
			return false
		}
		s.retried.Add(1)
		return true
	}
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Handler == nil:
		return nil, fmt.Errorf("%w: no Handler", ErrInvalidConfig)
	case cfg.TLS == nil:
		return nil, fmt.Errorf("%w: no TLS config", ErrInvalidConfig)
	case cfg.IdleTimeout < 0 || cfg.ShutdownTimeout < 0 || cfg.MaxHeaderBytes < 0 || cfg.ReadHeaderTimeout < 0 || cfg.MaxStreams < 0:
		return nil, fmt.Errorf("%w: negative IdleTimeout, ReadHeaderTimeout, ShutdownTimeout, MaxHeaderBytes or MaxStreams", ErrInvalidConfig)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.BodyIdleTimeout == 0 {
		cfg.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	if cfg.RetryAbove == 0 {
		cfg.RetryAbove = DefaultRetryAbove
	}
	s := &Server{cfg: cfg, log: cfg.Logger, raise: raiseBuffers, handler: bodyDeadlines(cfg.Handler, max(cfg.BodyIdleTimeout, 0))}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("h3")
	src := cfg.TLS
	// The config handed to quic-go only points at src: each handshake
	// clones src as it is then (http3.ConfigureTLSConfig clones what
	// GetConfigForClient returns), so new certificates and rotated
	// ticket keys are seen. A clone made once here would keep the keys
	// of this moment for ever.
	s.tls = http3.ConfigureTLSConfig(&tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if src.GetConfigForClient != nil {
				c, err := src.GetConfigForClient(hello)
				if err != nil || c != nil {
					return c, err
				}
			}
			return src, nil
		},
	})
	s.quic = &quic.Config{
		// No 0-RTT: a replayed request would reach the handler twice.
		Allow0RTT:          false,
		MaxIncomingStreams: int64(cfg.MaxStreams),
		// The QUIC idle timeout (no packet at all) is quic-go's 30 s;
		// clients keep it alive with PINGs as they wish, IdleTimeout
		// bounds a connection without requests.
	}
	return s, nil
}

// Serve serves HTTP/3 on pc until ctx ends or reading pc fails. When ctx
// ends it stops accepting connections, closes at once the connections
// with no request open and each of the others as soon as its last
// request is done, refusing new ones with H3_REQUEST_REJECTED (RFC 9114
// §8.1: the client may send them again elsewhere), lets requests in
// flight finish for ShutdownTimeout, closes what is left and returns nil
// once every goroutine it started has ended. It does not close pc. pc
// should be a *net.UDPConn (or what net.ListenPacket returns for "udp"):
// quic-go then reads in batches, with ECN and GSO.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn) error {
	s.sizeBuffers(pc)
	tr := &quic.Transport{Conn: pc, VerifySourceAddress: s.mustValidate()}
	defer tr.Close() // waits for the goroutine reading pc
	ln, err := tr.ListenEarly(s.tls, s.quic)
	if err != nil {
		return fmt.Errorf("h3: %w", err)
	}
	defer ln.Close()
	srv := &http3.Server{
		Handler:        s.handler,
		MaxHeaderBytes: s.cfg.MaxHeaderBytes,
		IdleTimeout:    s.cfg.IdleTimeout,
		Logger:         slogFor(s.log),
	}
	sh := newShutdown()
	var conns sync.WaitGroup
	accepted := make(chan error, 1)
	go func() {
		for {
			conn, err := ln.Accept(context.Background())
			if err != nil {
				accepted <- err
				return
			}
			conns.Go(func() { s.serveConn(sh, srv, conn) })
		}
	}()
	select {
	case err = <-accepted:
		ln.Close()
		sh.stop()
		sh.closeAll()
	case <-ctx.Done():
		ln.Close()
		<-accepted // no conns.Go after this
		err = nil
		sh.stop()
	}
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	grace := time.NewTimer(s.cfg.ShutdownTimeout)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		sh.closeAll()
		<-done
	}
	if err == nil || errors.Is(err, quic.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("h3: %w", err)
}

// AltSvc returns next with an Alt-Svc field (RFC 7838 §3) advertising
// HTTP/3 on UDP port port of the same host, for maxAge (zero means
// DefaultAltSvcMaxAge), added to responses to requests that came over
// TLS on TCP (r.TLS set, HTTP/1.1 or HTTP/2). Plain-HTTP responses never
// carry it: HTTP/3 serves https URIs only (RFC 9114 §3.1). Nor do
// HTTP/3 responses, where it says nothing new. The handler is safe for
// concurrent use if next is.
func AltSvc(port int, maxAge time.Duration, next http.Handler) http.Handler {
	if maxAge <= 0 {
		maxAge = DefaultAltSvcMaxAge
	}
	v := []string{`h3=":` + strconv.Itoa(port) + `"; ma=` + strconv.FormatInt(int64(maxAge/time.Second), 10)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && r.ProtoMajor < 3 {
			w.Header()["Alt-Svc"] = v
		}
		next.ServeHTTP(w, r)
	})
}
