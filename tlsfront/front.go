package tlsfront

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/zap"
)

// Pair names a certificate file (PEM: the leaf first, then its chain) and
// its private key file (PEM).
// A plain value, safe for concurrent use while no goroutine changes it.
type Pair struct {
	CertFile, KeyFile string
}

// Defaults of Config's zero values.
const (
	DefaultPollInterval   = time.Minute
	DefaultTicketRotation = time.Hour
)

// Config configures a Front. Certificates is required; every other zero
// value is a documented default.
// A plain value, safe for concurrent use while no goroutine changes it.
// New copies it.
type Config struct {
	// Certificates are the pairs served, chosen by SNI (see the package
	// documentation). The first one is the default certificate, served to
	// clients that send no server name or one no certificate covers.
	// Every pair must load when New runs. It may be empty when Source is
	// set.
	Certificates []Pair
	// Source supplies certificates for the names no file certificate
	// covers: package tlsfront/acme's Manager obtains them over ACME.
	// Files win for the names they cover, exactly or by wildcard (as
	// Caddy, which does not manage a name a loaded certificate covers);
	// see the package documentation. Nil means files only. A Source that
	// also implements ChallengeSource answers TLS-ALPN-01 challenges
	// (RFC 8737).
	Source Source
	// PollInterval is how often the files are checked for changes (size,
	// modification time, then a hash of the contents): a changed pair is
	// reloaded. Zero means DefaultPollInterval; negative means never (Reload
	// alone reloads).
	PollInterval time.Duration
	// TicketRotation is how often a new session ticket key is made
	// (RFC 8446 §4.6.1 resumption, RFC 5077 for TLS 1.2). The previous
	// key still decrypts tickets for one more period, so a ticket lives at
	// most two periods. Zero means DefaultTicketRotation; negative leaves
	// ticket keys to crypto/tls (random per process, rotated daily).
	TicketRotation time.Duration
	// NextProtos are the ALPN protocols offered, in order of preference.
	// Nil means "h2", "http/1.1".
	NextProtos []string
	// DisableOCSPStapling turns OCSP stapling off. When on (the zero
	// value), a certificate that names an OCSP responder and whose file
	// holds its issuer after it gets the responder's answer stapled
	// (RFC 6066 §8): fetched at New and on reload, refreshed halfway to
	// its NextUpdate on the poll schedule, never stapled once expired,
	// and none stapled while the status is not good.
	DisableOCSPStapling bool
	// OCSPClient fetches OCSP responses. Nil means an http.Client with
	// a 10 s timeout per fetch.
	OCSPClient *http.Client
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives reloads (info) and failed loads (error). Nil means
	// zap.NewNop().
	Logger *zap.Logger
}

// Front holds the certificates, session ticket keys and TLS settings of a
// TLS-terminating server: serve with the *tls.Config of TLSConfig.
//
// A Front is safe for concurrent use by multiple goroutines and must not
// be copied. New starts one goroutine (polling files, rotating ticket
// keys), which Close stops.
type Front struct {
	cfg  Config
	now  func() time.Time
	log  *zap.Logger
	tls  *tls.Config
	snap atomic.Pointer[snapshot]

	ocspClient *http.Client
	ocspOwn    *http.Transport // the default client's, closed by Close

	mu       sync.Mutex // serialises reloads and key rotation
	keys     [][32]byte // current first, then the previous one
	rotated  time.Time
	closed   chan struct{}
	done     chan struct{}
	closeOne sync.Once
}

// loaded is one pair's certificate in service and what its files were.
type loaded struct {
	pair   Pair
	cert   *tls.Certificate
	names  []string // DNS names of the leaf, lower case
	stamp  stamp    // the files last looked at (loaded or not)
	sum    [32]byte // hash of the files whose certificate is in service
	staple staple   // the OCSP response cert carries, if any
}

// stamp identifies a version of a pair's files cheaply.
type stamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

// snapshot is what GetCertificate reads: immutable once published.
type snapshot struct {
	pairs []loaded
	exact map[string]*tls.Certificate // by DNS name
	wild  map[string]*tls.Certificate // by the parent of "*.parent"
	def   *tls.Certificate
}

// New loads every pair of cfg.Certificates and starts polling and ticket
// rotation. It fails if any pair does not load.
func New(cfg Config) (*Front, error) {
	if len(cfg.Certificates) == 0 && cfg.Source == nil {
		return nil, fmt.Errorf("%w: no certificates", ErrInvalidConfig)
	}
	cfg.Certificates = slices.Clone(cfg.Certificates)
	cfg.NextProtos = slices.Clone(cfg.NextProtos)
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.TicketRotation == 0 {
		cfg.TicketRotation = DefaultTicketRotation
	}
	f := &Front{cfg: cfg, now: clock.Or(cfg.Now), log: cfg.Logger, closed: make(chan struct{}), done: make(chan struct{})}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	f.log = f.log.Named("tlsfront")
	f.ocspClient = cfg.OCSPClient
	if f.ocspClient == nil {
		f.ocspOwn = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
		f.ocspClient = &http.Client{Transport: f.ocspOwn}
	}
	pairs := make([]loaded, len(cfg.Certificates))
	for i, p := range cfg.Certificates {
		l, err := load(p, loaded{pair: p})
		if err != nil {
			return nil, err
		}
		pairs[i] = l
	}
	f.snap.Store(index(pairs))
	f.tls = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		MaxVersion:     tls.VersionTLS13,
		NextProtos:     cfg.NextProtos,
		GetCertificate: f.GetCertificate,
	}
	if cs, ok := cfg.Source.(ChallengeSource); ok {
		f.tls.GetConfigForClient = challengeConfig(cs)
	}
	if cfg.TicketRotation > 0 {
		f.rotated = f.now()
		if err := f.rotateKeys(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	f.refreshStaples(context.Background(), f.now()) // logged there; serving goes on without
	f.mu.Unlock()
	go f.loop()
	return f, nil
}

// TLSConfig returns the server configuration to serve with: TLS 1.2 and
// 1.3 only, Go's default cipher suites, certificates by SNI from the
// Front, rotated session ticket keys and the ALPN protocols of
// Config.NextProtos. It is the same *tls.Config on every call, which
// the Front keeps updating (ticket keys); callers must not change it but
// may Clone it to add settings (a clone no longer sees key rotation).
func (f *Front) TLSConfig() *tls.Config { return f.tls }

// GetCertificate returns the certificate for hello's server name: a file
// certificate with that exact name, else a file certificate with a
// wildcard covering it (one label), else the Source's certificate for
// it, else the default certificate (the first file's, or without files
// the Source's default). It never blocks on a reload; it is
// tls.Config's hook of the same name. It fails with ErrNoCertificate
// when there is none to serve (a Source that has obtained nothing yet).
func (f *Front) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := f.snap.Load()
	name := normalize(hello.ServerName)
	if c := s.match(name); c != nil {
		return c, nil
	}
	src := f.cfg.Source
	if src != nil && name != "" {
		if c := src.Certificate(name); c != nil {
			return c, nil
		}
	}
	if s.def != nil {
		return s.def, nil
	}
	if src != nil {
		if c := src.Certificate(""); c != nil {
			return c, nil
		}
	}
	return nil, ErrNoCertificate
}

// Covers reports whether a file certificate in service covers name,
// exactly or by wildcard (the default certificate does not count).
func (f *Front) Covers(name string) bool {
	return f.snap.Load().match(normalize(name)) != nil
}

// normalize lower-cases a server name and drops a trailing dot.
func normalize(name string) string {
	name = strings.TrimSuffix(name, ".")
	if !isLower(name) {
		name = strings.ToLower(name)
	}
	return name
}

// match returns the file certificate naming name (normalized) exactly or
// by wildcard, or nil.
func (s *snapshot) match(name string) *tls.Certificate {
	if name == "" {
		return nil
	}
	if c := s.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := s.wild[name[i+1:]]; c != nil {
			return c
		}
	}
	return nil
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return false
		}
	}
	return true
}

// index builds the lookup tables; earlier pairs win a name both cover.
func index(pairs []loaded) *snapshot {
	s := &snapshot{pairs: pairs, exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, p := range pairs {
		if p.cert == nil {
			continue
		}
		if s.def == nil {
			s.def = p.cert
		}
		for _, n := range p.names {
			if parent, ok := strings.CutPrefix(n, "*."); ok {
				if _, dup := s.wild[parent]; !dup {
					s.wild[parent] = p.cert
				}
			} else if _, dup := s.exact[n]; !dup {
				s.exact[n] = p.cert
			}
		}
	}
	return s
}

// Served describes one certificate in service.
// A plain value, safe for concurrent use while no goroutine changes it.
type Served struct {
	Pair     Pair
	Names    []string // DNS names of the leaf certificate
	NotAfter time.Time
	Default  bool // served to clients without SNI or with an unknown name
}

// Certificates returns the certificates in service, in Config order.
func (f *Front) Certificates() []Served {
	s := f.snap.Load()
	var out []Served
	for _, p := range s.pairs {
		out = append(out, Served{Pair: p.pair, Names: slices.Clone(p.names), NotAfter: p.cert.Leaf.NotAfter, Default: p.cert == s.def})
	}
	return out
}

// Reload reads every pair whose files changed since they were last read
// and puts the new certificates in service; connections already open keep
// theirs. A pair that fails to load keeps its previous certificate; the
// error (wrapping ErrLoad, one per failed pair) says why, and is logged.
// ctx is checked between pairs.
func (f *Front) Reload(ctx context.Context) error {
	return f.reload(ctx, true)
}

// reload re-reads changed pairs; force ignores the stamps (SIGHUP: a file
// rewritten within the same second and size is still seen, through its
// hash).
func (f *Front) reload(ctx context.Context, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.snap.Load()
	pairs := slices.Clone(old.pairs)
	var errs []error
	changed := false
	for i, p := range pairs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if !force {
			st, err := stampOf(p.pair)
			if err == nil && st == p.stamp {
				continue
			}
		}
		l, err := load(p.pair, p)
		if err != nil {
			f.log.Error("certificate not reloaded; the previous one stays in service",
				zap.String("cert", p.pair.CertFile), zap.Error(err))
			errs = append(errs, err)
			pairs[i].stamp = l.stamp // log once per change of the files
			continue
		}
		if l.cert != p.cert {
			f.log.Info("certificate reloaded", zap.String("cert", p.pair.CertFile),
				zap.Strings("names", l.names), zap.Time("not_after", l.cert.Leaf.NotAfter))
			changed = true
		}
		pairs[i] = l
	}
	if changed || !slices.Equal(stamps(pairs), stamps(old.pairs)) {
		f.snap.Store(index(pairs))
	}
	if force {
		// An explicit Reload reports OCSP failures too.
		errs = append(errs, f.refreshStaples(ctx, f.now()))
	} else {
		f.refreshStaples(ctx, f.now()) // logged there
	}
	return errors.Join(errs...)
}

func stamps(ps []loaded) []stamp {
	out := make([]stamp, len(ps))
	for i, p := range ps {
		out[i] = p.stamp
	}
	return out
}

func stampOf(p Pair) (stamp, error) {
	c, err := os.Stat(p.CertFile)
	if err != nil {
		return stamp{}, err
	}
	k, err := os.Stat(p.KeyFile)
	if err != nil {
		return stamp{}, err
	}
	return stamp{certSize: c.Size(), keySize: k.Size(), certMod: c.ModTime(), keyMod: k.ModTime()}, nil
}

// load reads p's files. It returns prev with the new stamp when the
// contents are those in service, a new loaded value when they parse, and
// prev with the new stamp and an error wrapping ErrLoad when they do not.
func load(p Pair, prev loaded) (loaded, error) {
	fail := func(err error) (loaded, error) {
		return prev, fmt.Errorf("%w: %s: %w", ErrLoad, p.CertFile, err)
	}
	st, err := stampOf(p)
	if err != nil {
		return fail(err)
	}
	prev.stamp = st
	certPEM, err := os.ReadFile(p.CertFile)
	if err != nil {
		return fail(err)
	}
	keyPEM, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return fail(err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [32]byte
	h.Sum(sum[:0])
	if prev.cert != nil && sum == prev.sum {
		return prev, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fail(err)
	}
	leaf := cert.Leaf // set by X509KeyPair since Go 1.23
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fail(err)
		}
		cert.Leaf = leaf
	}
	var names []string
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	if len(names) == 0 {
		return fail(errors.New("the certificate names no DNS host (subjectAltName)"))
	}
	return loaded{pair: p, cert: &cert, names: names, stamp: st, sum: sum}, nil
}

// rotateKeys puts a new session ticket key first and keeps the previous
// one for decryption. f.mu is held or f is not yet shared.
func (f *Front) rotateKeys() error {
	var k [32]byte
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return fmt.Errorf("tlsfront: session ticket key: %w", err)
	}
	keys := [][32]byte{k}
	if len(f.keys) > 0 {
		keys = append(keys, f.keys[0])
	}
	f.keys = keys
	f.tls.SetSessionTicketKeys(keys)
	return nil
}

// tick does what is due at now: a ticket key rotation.
func (f *Front) tick(now time.Time) {
	if f.cfg.TicketRotation <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.rotated) < f.cfg.TicketRotation {
		return
	}
	if err := f.rotateKeys(); err != nil {
		f.log.Error("session ticket keys not rotated", zap.Error(err))
		return
	}
	f.rotated = now
}

// loop polls the files and rotates ticket keys until Close.
func (f *Front) loop() {
	defer close(f.done)
	var rotate <-chan time.Time
	// Without file polling, the ticker still drives OCSP refreshes.
	every := f.cfg.PollInterval
	if every < 0 {
		every = DefaultPollInterval
	}
	pt := time.NewTicker(every)
	defer pt.Stop()
	poll := pt.C
	if f.cfg.TicketRotation > 0 {
		t := time.NewTicker(f.cfg.TicketRotation)
		defer t.Stop()
		rotate = t.C
	}
	for {
		select {
		case <-f.closed:
			return
		case <-poll:
			if f.cfg.PollInterval > 0 {
				f.reload(context.Background(), false) // logged there
			} else {
				f.mu.Lock()
				f.refreshStaples(context.Background(), f.now())
				f.mu.Unlock()
			}
			f.mu.Lock()
			f.expireStaples(f.now())
			f.mu.Unlock()
		case <-rotate:
			f.tick(f.now())
		}
	}
}

// Close stops polling and key rotation and waits for them. Connections
// and the *tls.Config keep working with what they have. It is idempotent.
func (f *Front) Close() error {
	f.closeOne.Do(func() { close(f.closed) })
	<-f.done
	if f.ocspOwn != nil {
		f.ocspOwn.CloseIdleConnections()
	}
	return nil
}
