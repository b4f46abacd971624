package httpsflags

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/edgekit/edgekit/tlsfront/h3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// listen binds addr over TCP and, with -http3, the same port over UDP
// (pc is nil without it).
func (o *Options) listen(addr string) (ln net.Listener, pc net.PacketConn, err error) {
	if !o.HTTP3 {
		ln, err = net.Listen("tcp", addr)
		return ln, nil, err
	}
	return h3.Listen(addr)
}

// startH3 serves h over HTTP/3 on pc, counted in wg, until ctx ends, and
// returns the handler for the TCP side, which advertises it (Alt-Svc).
// Without -http3 it returns h.
func (o *Options) startH3(ctx context.Context, wg *sync.WaitGroup, out io.Writer, log *zap.Logger, pc net.PacketConn, cfg *tls.Config, h http.Handler) (http.Handler, error) {
	if !o.HTTP3 {
		return h, nil
	}
	// quic-go prints its own warning about small UDP buffers through the
	// standard log package; the h3 server says it once through the logger,
	// whose warnings reach out even when -v is off.
	if os.Getenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING") == "" {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
	if !log.Core().Enabled(zap.WarnLevel) {
		warn := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(out), zap.WarnLevel)
		log = zap.New(zapcore.NewTee(log.Core(), warn))
	}
	srv, err := h3.New(h3.Config{Handler: h, TLS: cfg, Logger: log, ReadHeaderTimeout: o.ReadHeaderTimeout, BodyIdleTimeout: o.BodyIdleTimeout, ShutdownTimeout: o.Grace})
	if err != nil {
		return nil, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	fmt.Fprintf(out, "http3 on udp %s (QUIC, TLS 1.3), advertised with Alt-Svc: h3=\":%d\"\n", pc.LocalAddr(), port)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer pc.Close()
		if err := srv.Serve(ctx, pc); err != nil {
			fmt.Fprintln(out, "http3:", err)
		}
	}()
	return h3.AltSvc(port, 0, h), nil
}
