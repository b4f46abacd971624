package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edgekit/edgekit/tlsfront"
	"go.uber.org/zap"
)

// Directory URLs of Let's Encrypt (RFC 8555 §7.1.1).
const (
	LetsEncrypt        = certmagic.LetsEncryptProductionCA
	LetsEncryptStaging = certmagic.LetsEncryptStagingCA
)

// Defaults of Config's zero values.
const (
	DefaultRenewalWindow = 1.0 / 3.0
	DefaultCheckInterval = 10 * time.Minute
)

// Config configures a Manager. HTTPAddr or TLSAddr is required; every
// other zero value is a documented default.
// A plain value, safe for concurrent use while no goroutine changes it.
type Config struct {
	// CA is the ACME directory URL. Empty means LetsEncrypt (production);
	// try LetsEncryptStaging first, whose rate limits are generous and
	// whose certificates no browser trusts. Configuring a CA means
	// agreeing to its subscriber agreement (terms of service).
	CA string
	// Email is the account's contact (RFC 8555 §7.3), where the CA sends
	// expiry warnings. Empty means no contact.
	Email string
	// Storage holds the account, the certificates and their keys, the
	// locks and the challenges in progress. Nodes that share it (the same
	// directory on a shared file system, or package
	// tlsfront/redisstorage's Redis) share certificates: one of them
	// orders a name at a time, and any of them answers its challenges.
	// Nil means a directory, Dir.
	Storage certmagic.Storage
	// Dir is the storage directory when Storage is nil. Empty means
	// certmagic's default: $XDG_DATA_HOME/certmagic, else
	// ~/.local/share/certmagic.
	Dir string
	// Roots are the authorities trusted for the CA's own HTTPS
	// certificate. Nil means the system's (a private CA such as Pebble
	// or step-ca needs its root here).
	Roots *x509.CertPool
	// HTTPAddr is the address (host:port, as bound) of the plain-HTTP
	// listener that answers HTTP-01 challenges (RFC 8555 §8.3) through
	// HTTPChallengeHandler; the CA connects to port 80, so it must be
	// reachable there. Empty turns HTTP-01 off.
	HTTPAddr string
	// TLSAddr is the address (host:port, as bound) of the TLS listener
	// whose tlsfront.Front (with this Manager as its Source) answers
	// TLS-ALPN-01 challenges (RFC 8737); the CA connects to port 443.
	// Empty turns TLS-ALPN-01 off.
	TLSAddr string
	// RenewalWindow is the part of a certificate's lifetime, at its end,
	// in which it is renewed: 1/3 renews a 90-day certificate 30 days
	// before it expires. Zero means DefaultRenewalWindow. The CA's
	// renewal information (ARI), when it offers it, may ask for earlier.
	RenewalWindow float64
	// CheckInterval is how often the certificates are checked for
	// renewal. Zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// Notify, if set, is called when a certificate comes into service
	// (Loaded: from storage, or after it was obtained; then Obtained if
	// this node ordered it), is renewed (Renewed: stored, and put in
	// service by the same job right after), or fails to be obtained or
	// renewed. It runs synchronously inside certmagic's work, possibly
	// on several goroutines at once: it must return quickly and must not
	// call the Manager.
	Notify func(Event)
	// Logger receives certmagic's logs. Nil means zap.NewNop().
	Logger *zap.Logger
}

// EventKind says what happened to a certificate.
type EventKind int

// Event kinds.
const (
	// Loaded: a certificate from storage is in service.
	Loaded EventKind = iota
	// Obtained: a certificate this node ordered is in service.
	Obtained
	// Renewed: a renewed certificate was issued and stored; the job
	// that renewed it puts it in service next.
	Renewed
	// Failed: obtaining or renewing failed (retried later).
	Failed
)

func (k EventKind) String() string {
	switch k {
	case Loaded:
		return "loaded"
	case Obtained:
		return "obtained"
	case Renewed:
		return "renewed"
	case Failed:
		return "failed"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what Config.Notify receives.
// A plain value, safe for concurrent use while no goroutine changes it.
type Event struct {
	Kind EventKind
	Name string
	Err  error // set for Failed
}

// Served describes the certificate in service for a managed name.
// A plain value, safe for concurrent use while no goroutine changes it.
type Served struct {
	Name     string
	Ready    bool // false while no certificate has been obtained yet
	NotAfter time.Time
	Issuer   string // the issuing certificate's common name
}

// servedTTL is how long Certificate trusts its cached answer.
const servedTTL = time.Second

type servedCert struct {
	cert *tls.Certificate
	at   time.Time
}

// names is the set of managed names, replaced whole.
type names struct {
	set   map[string]struct{}
	order []string
}

// Manager obtains and renews certificates over ACME with certmagic, and
// serves them to a tlsfront.Front as its Source.
//
// A Manager is safe for concurrent use by multiple goroutines and must not
// be copied. New starts certmagic's maintenance goroutine (renewal
// checks); Manage starts one goroutine per name to obtain; Close stops
// them all and waits.
type Manager struct {
	cfg    Config
	log    *zap.Logger
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	names  atomic.Pointer[names]

	ordered sync.Map // name → true: certmagic issued it; Obtained once in service

	// served caches, per name, the certificate Certificate returns, so
	// that a handshake reads a map instead of certmagic's cache (5 µs and
	// 6 allocations). An entry is trusted for servedTTL; a certificate
	// coming into service (Loaded) drops its entry at once, and one
	// renewed is picked up within servedTTL of certmagic reloading it.
	served   atomic.Pointer[map[string]servedCert]
	servedMu sync.Mutex // serialises rebuilding served

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex // serialises Manage and Close
	closed  bool
	closeMu sync.Once
}

var (
	_ tlsfront.Source          = (*Manager)(nil)
	_ tlsfront.ChallengeSource = (*Manager)(nil)
)

// New validates cfg and sets certmagic up; nothing is ordered before
// Manage.
func New(cfg Config) (*Manager, error) {
	if cfg.HTTPAddr == "" && cfg.TLSAddr == "" {
		return nil, fmt.Errorf("%w: neither HTTPAddr nor TLSAddr: no challenge could be answered", ErrInvalidConfig)
	}
	var hosts []string
	var httpPort, tlsPort int
	for _, a := range []struct {
		addr string
		port *int
	}{{cfg.HTTPAddr, &httpPort}, {cfg.TLSAddr, &tlsPort}} {
		if a.addr == "" {
			continue
		}
		h, p, err := net.SplitHostPort(a.addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalidConfig, a.addr, err)
		}
		if *a.port, err = strconv.Atoi(p); err != nil || *a.port <= 0 || *a.port > 65535 {
			return nil, fmt.Errorf("%w: %q: not a port number", ErrInvalidConfig, a.addr)
		}
		hosts = append(hosts, h)
	}
	if cfg.RenewalWindow < 0 || cfg.RenewalWindow >= 1 {
		return nil, fmt.Errorf("%w: RenewalWindow %v not in [0, 1)", ErrInvalidConfig, cfg.RenewalWindow)
	}
	if cfg.RenewalWindow == 0 {
		cfg.RenewalWindow = DefaultRenewalWindow
	}
	if cfg.CheckInterval < 0 {
		return nil, fmt.Errorf("%w: negative CheckInterval", ErrInvalidConfig)
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.CA == "" {
		cfg.CA = LetsEncrypt
	}
	if cfg.Storage == nil {
		if cfg.Dir != "" {
			cfg.Storage = &certmagic.FileStorage{Path: cfg.Dir}
		} else {
			cfg.Storage = certmagic.Default.Storage
		}
	}
	m := &Manager{cfg: cfg, log: cfg.Logger}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	m.log = m.log.Named("acme")
	m.names.Store(&names{set: map[string]struct{}{}})
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: cfg.CheckInterval,
		Logger:             m.log,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: cfg.RenewalWindow,
		Storage:            cfg.Storage,
		Logger:             m.log,
		OnEvent:            m.onEvent,
	})
	// certmagic starts a challenge server of its own unless it finds the
	// port taken, as it is by ours: ListenHost:port must conflict with
	// our listeners. One host for both, or all addresses, which
	// conflicts with any specific one.
	listenHost := ""
	if len(hosts) == 1 || len(hosts) == 2 && hosts[0] == hosts[1] {
		listenHost = hosts[0]
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      cfg.CA,
		Email:                   cfg.Email,
		Agreed:                  true,
		TrustedRoots:            cfg.Roots,
		DisableHTTPChallenge:    cfg.HTTPAddr == "",
		DisableTLSALPNChallenge: cfg.TLSAddr == "",
		ListenHost:              listenHost,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          tlsPort,
		Logger:                  m.log,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// Manage puts names under management: each certificate is loaded from
// storage now if it is there (renewed in the background if due),
// otherwise obtained in the background, retried with certmagic's backoff
// (1 minute, then longer) until it succeeds or the Manager is closed.
// Names are DNS names (no wildcards: those need DNS-01); a name already
// managed is ignored. It returns an error for an invalid name or a stored
// certificate that cannot be read; ctx bounds the loading.
func (m *Manager) Manage(ctx context.Context, list []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	old := m.names.Load()
	next := &names{set: make(map[string]struct{}, len(old.set)+len(list)), order: slices.Clone(old.order)}
	for n := range old.set {
		next.set[n] = struct{}{}
	}
	var added []string
	for _, n := range list {
		if err := CheckName(n); err != nil {
			return err
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if _, dup := next.set[n]; dup {
			continue
		}
		next.set[n] = struct{}{}
		next.order = append(next.order, n)
		added = append(added, n)
	}
	renew := false
	var missing []string
	for _, n := range added {
		c, err := m.magic.CacheManagedCertificate(ctx, n)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, n)
		case err != nil:
			return fmt.Errorf("acme: %s: stored certificate: %w", n, err)
		case c.NeedsRenewal(m.magic):
			renew = true
		}
	}
	m.names.Store(next)
	for _, n := range missing {
		m.wg.Add(1)
		go m.obtain(n)
	}
	if renew {
		// Queues the renewals (certmagic's job queue, bound to m.ctx)
		// rather than waiting for the first check interval.
		m.cache.RenewManagedCertificates(m.ctx)
	}
	return nil
}

// obtain gets name's certificate (or finds that another node sharing the
// storage got it meanwhile) and puts it in service.
func (m *Manager) obtain(name string) {
	defer m.wg.Done()
	err := m.magic.ObtainCertAsync(m.ctx, name) // retries until m.ctx ends
	if err == nil {
		// Loaded is notified from here (certmagic's event), then
		// Obtained if this node ordered it rather than found it stored.
		_, err = m.magic.CacheManagedCertificate(m.ctx, name)
		if _, ordered := m.ordered.LoadAndDelete(name); err == nil && ordered {
			m.notify(Event{Kind: Obtained, Name: name})
		}
	}
	if err != nil && m.ctx.Err() == nil {
		m.log.Error("certificate not obtained", zap.String("name", name), zap.Error(err))
		m.notify(Event{Kind: Failed, Name: name, Err: err})
	}
}

// CheckName returns an error wrapping ErrInvalidName if Manage would
// refuse name: what is not a DNS name of two labels or more, of letters,
// digits and '-' (in any case, a final dot allowed), such as a wildcard
// or an IP address. A program checks its command line with it before it
// starts anything.
func CheckName(name string) error {
	if !validName(strings.ToLower(strings.TrimSuffix(name, "."))) {
		return fmt.Errorf("%w: %q is not a DNS name of two labels or more, of letters, digits and '-' (no IP address, no wildcard)", ErrInvalidName, name)
	}
	return nil
}

// validName accepts a lower-case DNS name of at least two labels, of
// letters, digits and '-', whose last label is not all digits (an IPv4
// address, or a top-level domain that cannot be: RFC 3696 §2).
func validName(n string) bool {
	if len(n) == 0 || len(n) > 253 || !strings.Contains(n, ".") {
		return false
	}
	if tld := n[strings.LastIndexByte(n, '.')+1:]; strings.Trim(tld, "0123456789") == "" {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (m *Manager) notify(e Event) {
	if m.cfg.Notify != nil {
		m.cfg.Notify(e)
	}
}

// onEvent turns certmagic's events into Events.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	if m.cfg.Notify == nil {
		if event == "cached_managed_cert" {
			sans, _ := data["sans"].([]string)
			m.forget(sans)
		}
		return nil
	}
	switch event {
	case "cert_obtained":
		name, _ := data["identifier"].(string)
		if r, _ := data["renewal"].(bool); r {
			m.notify(Event{Kind: Renewed, Name: name})
		} else {
			m.ordered.Store(name, true) // notified by obtain once in service
		}
	case "cert_failed":
		name, _ := data["identifier"].(string)
		err, _ := data["error"].(error)
		m.notify(Event{Kind: Failed, Name: name, Err: err})
	case "cached_managed_cert":
		sans, _ := data["sans"].([]string)
		m.forget(sans)
		for _, n := range sans {
			m.notify(Event{Kind: Loaded, Name: n})
		}
	}
	return nil
}

// current returns the certificate in service for a managed name: of
// those certmagic holds, the one that expires last.
func (m *Manager) current(name string) (certmagic.Certificate, bool) {
	var best certmagic.Certificate
	ok := false
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf == nil || c.Empty() {
			continue
		}
		if !ok || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			best, ok = c, true
		}
	}
	return best, ok
}

// Certificate implements tlsfront.Source: the certificate in service for
// a managed name, nil for any other name or while none has been
// obtained. The empty name asks for the first managed name's. It reads
// memory only.
func (m *Manager) Certificate(name string) *tls.Certificate {
	ns := m.names.Load()
	if name == "" {
		if len(ns.order) == 0 {
			return nil
		}
		name = ns.order[0]
	} else if _, ok := ns.set[name]; !ok {
		return nil
	}
	now := time.Now()
	if p := m.served.Load(); p != nil {
		if s, ok := (*p)[name]; ok && now.Sub(s.at) < servedTTL {
			return s.cert
		}
	}
	var cert *tls.Certificate
	if c, ok := m.current(name); ok {
		cert = &c.Certificate
	}
	if cert != nil {
		m.remember(name, servedCert{cert: cert, at: now})
	}
	return cert
}

// remember stores name's answer in served (copy on write).
func (m *Manager) remember(name string, s servedCert) {
	m.servedMu.Lock()
	defer m.servedMu.Unlock()
	next := map[string]servedCert{name: s}
	if p := m.served.Load(); p != nil {
		for k, v := range *p {
			if k != name {
				next[k] = v
			}
		}
	}
	m.served.Store(&next)
}

// forget drops names' cached answers: a certificate came into service.
func (m *Manager) forget(names []string) {
	m.servedMu.Lock()
	defer m.servedMu.Unlock()
	p := m.served.Load()
	if p == nil {
		return
	}
	next := make(map[string]servedCert, len(*p))
	for k, v := range *p {
		if !slices.Contains(names, k) {
			next[k] = v
		}
	}
	m.served.Store(&next)
}

// ChallengeCertificate implements tlsfront.ChallengeSource: the
// TLS-ALPN-01 certificate (RFC 8737 §3) of a challenge in progress for a
// managed name, started by this node or, through shared storage, by
// another. It fails for any other name.
func (m *Manager) ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.cfg.TLSAddr == "" {
		return nil, ErrNoChallenge
	}
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if _, ok := m.names.Load().set[name]; !ok {
		return nil, ErrNoChallenge
	}
	return m.magic.GetCertificate(hello)
}

// HTTPChallengeHandler returns next with HTTP-01 challenges (RFC 8555
// §8.3) answered first: a GET of /.well-known/acme-challenge/TOKEN for a
// managed name with a challenge in progress (this node's or, through
// shared storage, another's) gets the key authorisation; every other
// request, including other paths under /.well-known/acme-challenge/,
// goes to next. Put it in front of the redirect to HTTPS, which must not
// answer challenges. Safe for concurrent use if next is.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	if m.cfg.HTTPAddr == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if certmagic.LooksLikeHTTPChallenge(r) && m.manages(r.Host) && m.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// manages reports whether host (a Host field, maybe with a port) is a
// managed name; challenges for other hosts never reach storage.
func (m *Manager) manages(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	_, ok := m.names.Load().set[strings.ToLower(strings.TrimSuffix(host, "."))]
	return ok
}

// Names returns the managed names, in the order Manage got them.
func (m *Manager) Names() []string { return slices.Clone(m.names.Load().order) }

// Certificates returns the state of each managed name, in order.
func (m *Manager) Certificates() []Served {
	var out []Served
	for _, n := range m.names.Load().order {
		s := Served{Name: n}
		if c, ok := m.current(n); ok {
			s.Ready, s.NotAfter = true, c.Leaf.NotAfter
			s.Issuer = c.Leaf.Issuer.CommonName
		}
		out = append(out, s)
	}
	return out
}

// CA returns the ACME directory URL in use.
func (m *Manager) CA() string { return m.cfg.CA }

// Close stops obtaining and renewing, waits for the goroutines it owns
// and releases the locks they held (their operations end with ctx).
// Certificates already obtained stay in storage. It is idempotent.
func (m *Manager) Close() error {
	m.closeMu.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.cancel()
		m.wg.Wait()
		m.cache.Stop()
	})
	return nil
}
