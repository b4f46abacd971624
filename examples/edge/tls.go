package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/httpsflags"
	"github.com/edgekit/edgekit/tlsfront/redisstorage"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// tlsOptions are the HTTPS flags (package httpsflags: -tls-listen,
// -tls-cert/-tls-key, -redirect-listen, -hsts, -acme*) and the TLS
// settings toward origins.
type tlsOptions struct {
	https httpsflags.Options
	// toward https origins
	originCA, originCert, originKey string
}

func (o *tlsOptions) register(fs *flag.FlagSet) {
	o.https.Register(fs)
	fs.StringVar(&o.originCA, "origin-ca", "", "PEM file of the authorities trusted to sign https origins' certificates (default: the system's); origins are always verified")
	fs.StringVar(&o.originCert, "origin-cert", "", "client certificate presented to https origins that require one (mTLS); needs -origin-key")
	fs.StringVar(&o.originKey, "origin-key", "", "private key of -origin-cert")
}

// originTLS gives every https origin the -origin-* settings.
func (o *tlsOptions) originTLS(origins []origin.Origin) error {
	if o.originCA == "" && o.originCert == "" && o.originKey == "" {
		return nil
	}
	cfg, err := tlsfront.ClientTLS{CAFile: o.originCA, CertFile: o.originCert, KeyFile: o.originKey}.Config()
	if err != nil {
		return fmt.Errorf("-origin-ca/-origin-cert/-origin-key: %w", err)
	}
	n := 0
	for i := range origins {
		if strings.HasPrefix(strings.ToLower(origins[i].URL), "https://") {
			origins[i].TLS = cfg
			n++
		}
	}
	if n == 0 {
		return errors.New("-origin-ca/-origin-cert/-origin-key need an https -origin")
	}
	return nil
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

// redisStorage makes the fleet's Redis (-redis) the ACME storage when
// -acme is set, so that the nodes order each name once and answer each
// other's challenges; the returned func closes it (after the HTTPS side
// has stopped).
func (o *tlsOptions) redisStorage(rdb redis.UniversalClient, log *zap.Logger) (func() error, error) {
	if len(o.https.ACME) == 0 {
		return func() error { return nil }, nil
	}
	if o.https.ACMEDir != "" {
		return nil, errors.New("-acme-dir and -redis: with -redis the ACME storage is Redis; drop -acme-dir")
	}
	st, err := redisstorage.New(redisstorage.Config{Client: rdb, Logger: log})
	if err != nil {
		return nil, err
	}
	o.https.Storage = st
	return st.Close, nil
}
