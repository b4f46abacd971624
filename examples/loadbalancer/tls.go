package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/tlsfront"
	"go.uber.org/zap"
)

// tlsOptions are the HTTPS flags: -tls-listen with -tls-cert/-tls-key
// pairs, -redirect-listen and -hsts.
type tlsOptions struct {
	listen, redirect string
	certs, keys      listFlag
	hsts             time.Duration
	h3               h3Options // -http3, in h3.go
	// toward backends
	backendTLS                         bool
	backendCA, backendCert, backendKey string
}

func (o *tlsOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "tls-listen", "", "address to serve HTTPS on (TLS 1.2/1.3, HTTP/2 by ALPN); needs -tls-cert and -tls-key")
	fs.Var(&o.certs, "tls-cert", "certificate file, PEM, leaf first (repeatable, paired in order with -tls-key; the first is the default for clients without SNI); reloaded when it changes and on SIGHUP")
	fs.Var(&o.keys, "tls-key", "private key file, PEM (repeatable, paired in order with -tls-cert)")
	fs.StringVar(&o.redirect, "redirect-listen", "", "address of a plain-HTTP listener that redirects everything to HTTPS (308); needs -tls-listen")
	o.h3.register(fs)
	fs.DurationVar(&o.hsts, "hsts", 0, "send Strict-Transport-Security with this max-age on HTTPS responses (0: none)")
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

func (o *tlsOptions) check() error {
	switch {
	case len(o.certs) != len(o.keys):
		return fmt.Errorf("%d -tls-cert but %d -tls-key: give them in pairs", len(o.certs), len(o.keys))
	case o.listen != "" && len(o.certs) == 0:
		return errors.New("-tls-listen needs -tls-cert and -tls-key")
	case o.listen == "" && (len(o.certs) > 0 || o.redirect != "" || o.hsts != 0):
		return errors.New("-tls-cert, -tls-key, -redirect-listen and -hsts need -tls-listen")
	case o.hsts < 0:
		return errors.New("-hsts must not be negative")
	}
	return o.h3.check(o.listen)
}

// start serves h over HTTPS with serve (the configured front) and the
// redirect listener, if set, until ctx ends; SIGHUP reloads the
// certificates. The returned func waits for all of it to stop.
func (o *tlsOptions) start(ctx context.Context, out io.Writer, log *zap.Logger, h http.Handler, serve func(context.Context, net.Listener, http.Handler) error) (wait func(), err error) {
	var wg sync.WaitGroup
	wait = wg.Wait
	if o.listen == "" {
		return wait, nil
	}
	var pairs []tlsfront.Pair
	for i := range o.certs {
		pairs = append(pairs, tlsfront.Pair{CertFile: o.certs[i], KeyFile: o.keys[i]})
	}
	front, err := tlsfront.New(tlsfront.Config{Certificates: pairs, Logger: log})
	if err != nil {
		return wait, err
	}
	ln, pc, err := o.h3.listen(o.listen) // pc: UDP, with -http3
	if err != nil {
		front.Close()
		return wait, fmt.Errorf("-tls-listen: %w", err)
	}
	var rln net.Listener
	if o.redirect != "" {
		if rln, err = net.Listen("tcp", o.redirect); err != nil {
			front.Close()
			ln.Close()
			if pc != nil {
				pc.Close()
			}
			return wait, fmt.Errorf("-redirect-listen: %w", err)
		}
	}
	fmt.Fprintf(out, "https on %s (TLS 1.2/1.3, h2 and http/1.1)", ln.Addr())
	if o.hsts > 0 {
		fmt.Fprintf(out, ", HSTS max-age=%d", int64(o.hsts/time.Second))
	}
	fmt.Fprintln(out)
	for _, s := range front.Certificates() {
		def := ""
		if s.Default {
			def = " (default)"
		}
		fmt.Fprintf(out, "  certificate %s%s for %s, expires %s\n", s.Pair.CertFile, def, strings.Join(s.Names, ", "), s.NotAfter.Format(time.DateOnly))
	}
	h = tlsfront.HSTS(o.hsts, false, h)
	if h, err = o.h3.start(ctx, &wg, out, log, pc, front.TLSConfig(), h); err != nil {
		front.Close()
		ln.Close()
		pc.Close()
		if rln != nil {
			rln.Close()
		}
		return wait, err
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer front.Close()
		if err := serve(ctx, tls.NewListener(ln, front.TLSConfig()), h); err != nil {
			fmt.Fprintln(out, "https:", err)
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // before start returns: from then on SIGHUP reloads
	go func() {
		defer wg.Done()
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := front.Reload(ctx); err != nil {
					fmt.Fprintln(out, "SIGHUP: reload:", err)
				} else {
					fmt.Fprintln(out, "SIGHUP: certificates reloaded")
				}
			}
		}
	}()
	if rln != nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		p, _ := strconv.Atoi(port)
		fmt.Fprintf(out, "redirect to https on http://%s\n", rln.Addr())
		srv := &http.Server{Handler: tlsfront.Redirect(p), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); serveHTTP(ctx, rln, srv) }()
	}
	return wait, nil
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
