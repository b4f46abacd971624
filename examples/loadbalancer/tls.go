package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/httpsflags"
	"go.uber.org/zap"
)

// tlsOptions are the HTTPS flags (package httpsflags: -tls-listen,
// -tls-cert/-tls-key, -redirect-listen, -hsts, -acme*) and the TLS
// settings toward backends.
type tlsOptions struct {
	https httpsflags.Options
	// toward backends
	backendTLS                         bool
	backendCA, backendCert, backendKey string
}

func (o *tlsOptions) register(fs *flag.FlagSet) {
	o.https.Register(fs)
	fs.BoolVar(&o.backendTLS, "backend-tls", false, "http mode: reach backends over TLS (https), their certificates verified (implied by -backend-ca and -backend-cert)")
	fs.StringVar(&o.backendCA, "backend-ca", "", "PEM file of the authorities trusted to sign backends' certificates (default: the system's)")
	fs.StringVar(&o.backendCert, "backend-cert", "", "client certificate presented to backends that require one (mTLS); needs -backend-key")
	fs.StringVar(&o.backendKey, "backend-key", "", "private key of -backend-cert")
}

// backendConfig returns the TLS settings toward backends, or nil for
// plain HTTP.
func (o *tlsOptions) backendConfig() (*tls.Config, error) {
	if !o.backendTLS && o.backendCA == "" && o.backendCert == "" && o.backendKey == "" {
		return nil, nil
	}
	cfg, err := tlsfront.ClientTLS{CAFile: o.backendCA, CertFile: o.backendCert, KeyFile: o.backendKey}.Config()
	if err != nil {
		return nil, fmt.Errorf("-backend-ca/-backend-cert/-backend-key: %w", err)
	}
	return cfg, nil
}

func (o *tlsOptions) check() error { return o.https.Check() }

// start serves h over HTTPS (and the redirect listener, ACME) until ctx
// ends; see httpsflags.Options.Start.
func (o *tlsOptions) start(ctx context.Context, out io.Writer, log *zap.Logger, h http.Handler, serve func(context.Context, net.Listener, http.Handler) error) (wait func(), err error) {
	return o.https.Start(ctx, out, log, h, serve)
}

// serveHTTP serves srv on ln until ctx ends, then shuts it down.
func serveHTTP(ctx context.Context, ln net.Listener, srv *http.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	<-errc
	return err
}
