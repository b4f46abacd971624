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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/tlsfront"
	"go.uber.org/zap"
)

// tlsOptions are the encrypted transports: -listen-tls (DNS over TLS,
// RFC 7858) and -listen-https (DNS over HTTPS, RFC 8484), with the
// -tls-cert/-tls-key pairs they serve.
type tlsOptions struct {
	dot, doh    string
	certs, keys listFlag
}

func (o *tlsOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.dot, "listen-tls", "", "address to serve DNS over TLS on (RFC 7858; port 853); needs -tls-cert and -tls-key")
	fs.StringVar(&o.doh, "listen-https", "", "address to serve DNS over HTTPS on (RFC 8484: /dns-query, GET and POST, HTTP/2); needs -tls-cert and -tls-key")
	fs.Var(&o.certs, "tls-cert", "certificate file for -listen-tls and -listen-https, PEM, leaf first (repeatable, paired in order with -tls-key; the first is the default for clients without SNI); reloaded when it changes and on SIGHUP")
	fs.Var(&o.keys, "tls-key", "private key file, PEM (repeatable, paired in order with -tls-cert)")
}

func (o *tlsOptions) check() error {
	switch {
	case len(o.certs) != len(o.keys):
		return fmt.Errorf("%d -tls-cert but %d -tls-key: give them in pairs", len(o.certs), len(o.keys))
	case (o.dot != "" || o.doh != "") && len(o.certs) == 0:
		return errors.New("-listen-tls and -listen-https need -tls-cert and -tls-key")
	case o.dot == "" && o.doh == "" && len(o.certs) > 0:
		return errors.New("-tls-cert and -tls-key need -listen-tls or -listen-https")
	}
	return nil
}

// DNS over HTTPS server timeouts: net/http's and HAProxy's defaults, as
// the other examples use.
const (
	dohHeaderTimeout = 10 * time.Second
	dohIdleTimeout   = 120 * time.Second
)

// start serves srv over TLS and HTTPS, as the flags ask, until ctx ends,
// counted in wg; SIGHUP reloads the certificates. Every listener is bound
// before it returns; on an error nothing is left running.
//
// Both answer through srv, so its access list (-allow) applies: a client
// it does not admit gets REFUSED, as over UDP and TCP. DNS over TLS is
// srv.ServeTCP over TLS connections (RFC 7858 §3.3: the TCP framing,
// pipelined queries answered as they are ready, out of order; idle
// connections closed after 30 s, §3.4); DNS over HTTPS is
// resolver.DoHHandler at /dns-query behind net/http's server (HTTP/2 by
// ALPN, RFC 8484 §5.2).
func (o *tlsOptions) start(ctx context.Context, wg *sync.WaitGroup, out io.Writer, log *zap.Logger, srv *resolver.Server) error {
	if o.dot == "" && o.doh == "" {
		return nil
	}
	var pairs []tlsfront.Pair
	for i := range o.certs {
		pairs = append(pairs, tlsfront.Pair{CertFile: o.certs[i], KeyFile: o.keys[i]})
	}
	front, err := tlsfront.New(tlsfront.Config{Certificates: pairs, Logger: log})
	if err != nil {
		return err
	}
	var dotLn, dohLn net.Listener
	fail := func(err error) error {
		for _, ln := range []net.Listener{dotLn, dohLn} {
			if ln != nil {
				ln.Close()
			}
		}
		front.Close()
		return err
	}
	if o.dot != "" {
		if dotLn, err = net.Listen("tcp", o.dot); err != nil {
			return fail(fmt.Errorf("-listen-tls: %w", err))
		}
		fmt.Fprintf(out, "dns over tls on %s (RFC 7858)\n", dotLn.Addr())
	}
	if o.doh != "" {
		if dohLn, err = net.Listen("tcp", o.doh); err != nil {
			return fail(fmt.Errorf("-listen-https: %w", err))
		}
		fmt.Fprintf(out, "dns over https on https://%s/dns-query (RFC 8484, h2 and http/1.1)\n", dohLn.Addr())
	}
	for _, s := range front.Certificates() {
		def := ""
		if s.Default {
			def = " (default)"
		}
		fmt.Fprintf(out, "  certificate %s%s for %s, expires %s\n", s.Pair.CertFile, def, strings.Join(s.Names, ", "), s.NotAfter.Format(time.DateOnly))
	}
	var serving sync.WaitGroup
	if dotLn != nil {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := srv.ServeTCP(ctx, tls.NewListener(dotLn, withALPN(front.TLSConfig(), "dot"))); err != nil {
				fmt.Fprintln(out, "dns over tls:", err)
			}
		}()
	}
	if dohLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/dns-query", resolver.DoHHandler(srv))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: dohHeaderTimeout, IdleTimeout: dohIdleTimeout,
			ErrorLog: zap.NewStdLog(log.Named("doh"))}
		serving.Add(1)
		go func() {
			defer serving.Done()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(tls.NewListener(dohLn, front.TLSConfig())) }()
			select {
			case err := <-errc:
				fmt.Fprintln(out, "dns over https:", err)
				return
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if hs.Shutdown(shutdown) != nil {
				hs.Close()
			}
			<-errc
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // from now on SIGHUP reloads
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer front.Close()
		defer serving.Wait()
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
	return nil
}

// withALPN returns a server configuration that is cfg, as it is at each
// handshake (a tlsfront.Front rotates its ticket keys in place), offering
// protos by ALPN instead of cfg's: "dot" for DNS over TLS (RFC 7858 has
// none; the IANA registry has "dot"), so that a client offering it is
// not refused for want of "h2", and one offering "h2" alone is.
func withALPN(cfg *tls.Config, protos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := cfg.Clone()
			c.NextProtos = protos
			return c, nil
		},
	}
}
