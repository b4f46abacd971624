// Package httpsflags is the HTTPS side of edgekit's programs
// (examples/edge, examples/loadbalancer) from their command-line flags:
// the TLS listener with certificates from files (package tlsfront) and
// over ACME (package tlsfront/acme), the plain-HTTP listener that
// answers HTTP-01 challenges and redirects the rest to HTTPS, HSTS,
// SIGHUP reloads, and the listing at start of which certificate is
// served for which names. It is written once here so that each program
// adds a few lines, not a copy.
//
//	var o httpsflags.Options
//	o.Register(fs)
//	fs.Parse(args)
//	if err := o.Check(); err != nil { ... }
//	wait, err := o.Start(ctx, os.Stdout, logger, handler, serve)
//	defer wait()
//
// An Options is filled by flag parsing and read by Start; it is not safe
// for concurrent use while flags are parsed.
package httpsflags

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/acme"
	"go.uber.org/zap"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// Options are the HTTPS flags. Fields are set by Register's flags.
// A plain value: set it up before use and do not change it while in use.
type Options struct {
	Listen     string        // -tls-listen
	Redirect   string        // -redirect-listen
	Certs      []string      // -tls-cert
	Keys       []string      // -tls-key
	HSTS       time.Duration // -hsts
	HTTP3      bool          // -http3
	ACME       []string      // -acme (names)
	ACMECA     string        // -acme-ca
	ACMEEmail  string        // -acme-email
	ACMEDir    string        // -acme-dir
	ACMECARoot string        // -acme-ca-root
	// Storage, if set by the program before Start, replaces -acme-dir
	// (a fleet's shared storage, such as tlsfront/redisstorage's).
	Storage certmagic.Storage
	// ReadHeaderTimeout, BodyIdleTimeout and Grace, if set by the
	// program before Start, are its TCP front's (-header-timeout,
	// -body-idle-timeout, -grace): HTTP/3's wait for a request's
	// HEADERS, for each piece of a request body (negative: no limit),
	// and how long its requests in flight may finish at shutdown. Zero
	// means package h3's defaults.
	ReadHeaderTimeout, BodyIdleTimeout, Grace time.Duration

	managing atomic.Bool // Manage has returned: print Loaded events
}

// Register defines the flags on fs.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "tls-listen", "", "address to serve HTTPS on (TLS 1.2/1.3, HTTP/2 by ALPN); needs -tls-cert and -tls-key, or -acme")
	fs.Var((*list)(&o.Certs), "tls-cert", "certificate file, PEM, leaf first (repeatable, paired in order with -tls-key; the first is the default for clients without SNI); reloaded when it changes and on SIGHUP")
	fs.Var((*list)(&o.Keys), "tls-key", "private key file, PEM (repeatable, paired in order with -tls-cert)")
	fs.StringVar(&o.Redirect, "redirect-listen", "", "address of a plain-HTTP listener that redirects everything to HTTPS (308) and answers ACME HTTP-01 challenges; needs -tls-listen")
	fs.DurationVar(&o.HSTS, "hsts", 0, "send Strict-Transport-Security with this max-age on HTTPS responses (0: none)")
	fs.BoolVar(&o.HTTP3, "http3", false, "also serve HTTP/3 (QUIC) on the UDP port of -tls-listen, advertised with Alt-Svc on HTTPS responses")
	fs.Var((*list)(&o.ACME), "acme", "name to obtain and renew a certificate for over ACME (repeatable; needs -tls-listen, whose port the CA reaches as 443 for TLS-ALPN-01, and -redirect-listen as 80 for HTTP-01); names a -tls-cert covers are left to the file")
	fs.StringVar(&o.ACMECA, "acme-ca", acme.LetsEncrypt, "ACME directory URL (Let's Encrypt staging: "+acme.LetsEncryptStaging+"); using it means agreeing to the CA's terms")
	fs.StringVar(&o.ACMEEmail, "acme-email", "", "contact address of the ACME account (expiry warnings)")
	fs.StringVar(&o.ACMEDir, "acme-dir", "", "directory of the ACME account, certificates and locks; nodes sharing it order each name once (default: $XDG_DATA_HOME/certmagic or ~/.local/share/certmagic)")
	fs.StringVar(&o.ACMECARoot, "acme-ca-root", "", "PEM file of the authorities trusted for the ACME server's own HTTPS (a private CA; default: the system's)")
}

// Check reports flags that do not go together.
func (o *Options) Check() error {
	acmeSet := o.ACMEEmail != "" || o.ACMEDir != "" || o.ACMECARoot != "" || o.ACMECA != acme.LetsEncrypt && o.ACMECA != ""
	switch {
	case len(o.Certs) != len(o.Keys):
		return fmt.Errorf("%d -tls-cert but %d -tls-key: give them in pairs", len(o.Certs), len(o.Keys))
	case o.Listen != "" && len(o.Certs) == 0 && len(o.ACME) == 0:
		return errors.New("-tls-listen needs -tls-cert and -tls-key, or -acme")
	case o.Listen == "" && (len(o.Certs) > 0 || o.Redirect != "" || o.HSTS != 0 || len(o.ACME) > 0 || o.HTTP3):
		return o.needListen()
	case len(o.ACME) == 0 && acmeSet:
		return errors.New("-acme-ca, -acme-email, -acme-dir and -acme-ca-root need -acme")
	case o.HSTS < 0:
		return errors.New("-hsts must not be negative")
	}
	for _, n := range o.ACME {
		if err := acme.CheckName(n); err != nil {
			return fmt.Errorf("-acme: %w", err)
		}
	}
	return nil
}

// needListen names the flags given that need -tls-listen.
func (o *Options) needListen() error {
	var set []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"-tls-cert", len(o.Certs) > 0}, {"-tls-key", len(o.Keys) > 0}, {"-redirect-listen", o.Redirect != ""}, {"-hsts", o.HSTS != 0}, {"-http3", o.HTTP3}, {"-acme", len(o.ACME) > 0}} {
		if f.on {
			set = append(set, f.name)
		}
	}
	verb := "need"
	if len(set) == 1 {
		verb = "needs"
	}
	return fmt.Errorf("%s %s -tls-listen", strings.Join(set, ", "), verb)
}

// Start serves h over HTTPS with serve (the program's front) and the
// redirect listener, if set, until ctx ends; SIGHUP reloads the
// certificate files. It prints to out what it serves: the listeners, each
// file certificate with its names and expiry, each ACME name with its
// certificate or "ordering", and later each certificate obtained, renewed
// or failed. The returned func waits for all of it to stop; it is valid
// even when err is not nil.
func (o *Options) Start(ctx context.Context, out io.Writer, log *zap.Logger, h http.Handler, serve func(context.Context, net.Listener, http.Handler) error) (wait func(), err error) {
	var wg sync.WaitGroup
	wait = wg.Wait
	if o.Listen == "" {
		return wait, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	var closers []func() error
	fail := func(err error) (func(), error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		return wait, err
	}
	ln, pc, err := o.listen(o.Listen) // pc: UDP, with -http3
	if err != nil {
		return fail(fmt.Errorf("-tls-listen: %w", err))
	}
	closers = append(closers, ln.Close)
	if pc != nil {
		closers = append(closers, pc.Close)
	}
	var rln net.Listener
	if o.Redirect != "" {
		if rln, err = net.Listen("tcp", o.Redirect); err != nil {
			return fail(fmt.Errorf("-redirect-listen: %w", err))
		}
		closers = append(closers, rln.Close)
	}
	var m *acme.Manager
	var acmeSays string
	if len(o.ACME) > 0 {
		if m, acmeSays, err = o.manager(out, log, ln, rln); err != nil {
			return fail(err)
		}
		closers = append(closers, m.Close)
	}
	var pairs []tlsfront.Pair
	for i := range o.Certs {
		pairs = append(pairs, tlsfront.Pair{CertFile: o.Certs[i], KeyFile: o.Keys[i]})
	}
	cfg := tlsfront.Config{Certificates: pairs, Logger: log}
	if m != nil {
		cfg.Source = m
	}
	front, err := tlsfront.New(cfg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, front.Close)

	fmt.Fprintf(out, "https on %s (TLS 1.2/1.3, h2 and http/1.1)", ln.Addr())
	if o.HSTS > 0 {
		fmt.Fprintf(out, ", HSTS max-age=%d", int64(o.HSTS/time.Second))
	}
	fmt.Fprintln(out)
	for _, s := range front.Certificates() {
		def := ""
		if s.Default {
			def = " (default)"
		}
		fmt.Fprintf(out, "  certificate %s%s for %s, expires %s\n", s.Pair.CertFile, def, strings.Join(s.Names, ", "), s.NotAfter.Format(time.DateOnly))
	}
	if m != nil {
		fmt.Fprintln(out, acmeSays)
		var names []string
		for _, n := range o.ACME {
			if front.Covers(n) {
				fmt.Fprintf(out, "  acme %s: covered by a -tls-cert file, which is served; not ordered\n", n)
				continue
			}
			names = append(names, n)
		}
		err := m.Manage(ctx, names)
		o.managing.Store(true)
		if err != nil {
			return fail(fmt.Errorf("-acme: %w", err))
		}
		for i, s := range m.Certificates() {
			def := ""
			if i == 0 && len(pairs) == 0 {
				def = " (default)"
			}
			if s.Ready {
				fmt.Fprintf(out, "  certificate acme:%s%s for %s, from %s, expires %s\n", s.Name, def, s.Name, s.Issuer, s.NotAfter.Format(time.DateOnly))
			} else {
				fmt.Fprintf(out, "  certificate acme:%s%s for %s: ordering from %s\n", s.Name, def, s.Name, m.CA())
			}
		}
	}

	h = tlsfront.HSTS(o.HSTS, false, h)
	if h, err = o.startH3(ctx, &wg, out, log, pc, front.TLSConfig(), h); err != nil {
		return fail(fmt.Errorf("-http3: %w", err))
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer front.Close()
		if m != nil {
			defer m.Close()
		}
		if err := serve(ctx, tls.NewListener(ln, front.TLSConfig()), h); err != nil {
			fmt.Fprintln(out, "https:", err)
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // before Start returns: from then on SIGHUP reloads
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
		var rh http.Handler = tlsfront.Redirect(p)
		what := "redirect to https"
		if m != nil {
			rh = m.HTTPChallengeHandler(rh)
			what = "ACME HTTP-01 challenges and redirect to https"
		}
		fmt.Fprintf(out, "%s on http://%s\n", what, rln.Addr())
		srv := &http.Server{Handler: rh, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); serveHTTP(ctx, rln, srv) }()
	}
	return wait, nil
}

// manager makes the ACME manager of the -acme-* flags, answering
// TLS-ALPN-01 on ln and, when there is one, HTTP-01 on rln.
func (o *Options) manager(out io.Writer, log *zap.Logger, ln, rln net.Listener) (*acme.Manager, string, error) {
	cfg := acme.Config{CA: o.ACMECA, Email: o.ACMEEmail, Dir: o.ACMEDir, Storage: o.Storage, TLSAddr: ln.Addr().String(), Logger: log}
	if rln != nil {
		cfg.HTTPAddr = rln.Addr().String()
	}
	if o.ACMECARoot != "" {
		b, err := os.ReadFile(o.ACMECARoot)
		if err != nil {
			return nil, "", fmt.Errorf("-acme-ca-root: %w", err)
		}
		cfg.Roots = x509.NewCertPool()
		if !cfg.Roots.AppendCertsFromPEM(b) {
			return nil, "", fmt.Errorf("-acme-ca-root: %s: no PEM certificate", o.ACMECARoot)
		}
	}
	cfg.Notify = func(e acme.Event) {
		switch e.Kind {
		case acme.Loaded:
			// At start the listing says what storage held; later, a
			// certificate another node ordered.
			if o.managing.Load() {
				fmt.Fprintf(out, "acme: certificate for %s loaded from storage\n", e.Name)
			}
		case acme.Obtained, acme.Renewed:
			fmt.Fprintf(out, "acme: certificate for %s %s\n", e.Name, e.Kind)
		case acme.Failed:
			fmt.Fprintf(out, "acme: certificate for %s failed (retried later): %v\n", e.Name, e.Err)
		}
	}
	m, err := acme.New(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("-acme: %w", err)
	}
	challenges := "tls-alpn-01 on " + cfg.TLSAddr
	if cfg.HTTPAddr != "" {
		challenges = "http-01 on " + cfg.HTTPAddr + ", " + challenges
	}
	storage := "directory " + o.ACMEDir
	switch {
	case o.Storage != nil:
		storage = fmt.Sprint(o.Storage)
	case o.ACMEDir == "":
		storage = "certmagic's default directory"
	}
	return m, fmt.Sprintf("  acme from %s (challenges: %s; storage: %s)", m.CA(), challenges, storage), nil
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
