// Package pebbletest runs Let's Encrypt's test ACME server, Pebble
// (github.com/letsencrypt/pebble/v2), inside the test process on loopback:
// its web front end over HTTPS on 127.0.0.1, its validation authority
// resolving every name to 127.0.0.1 through a DNS server of its own, and
// two forwarders standing for the challenge ports (80 and 443 in real
// life) that pass the validation connections on to the listeners the test
// names with Forward. Nothing outside the process is needed or reached.
//
// Pebble's validation authority starts a goroutine that is never stopped
// (va.VAImpl.processTasks: it ranges over a channel Pebble never closes);
// test mains that use this package ignore it with IgnoreGoroutines.
package pebbletest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// IgnoreGoroutines are the goleak options for goroutines that outlive a
// test through no fault of the code under test:
//   - Pebble's validation authority's task loop (va.New starts it, nothing
//     stops it);
//   - certmagic's rate limiter per CA and account (created on first use
//     and never stopped: "TODO: stop rate limiter when it is
//     garbage-collected" in certmagic's acmeclient.go);
//   - certmagic's lock-file refresher, which notices a released lock only
//     at its next 5 s tick (filestorage.go, keepLockfileFresh).
func IgnoreGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
	}
}

// Config configures a CA. The zero value issues certificates valid for
// Pebble's default of 90 days.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Validity is the lifetime of issued certificates (whole seconds);
	// zero means Pebble's default.
	Validity time.Duration
}

// CA is a running Pebble. Its methods are safe for concurrent use.
type CA struct {
	// URL is the ACME directory URL (RFC 8555 §7.1.1).
	URL string
	// Roots trusts the HTTPS certificate of the ACME server itself.
	Roots *x509.CertPool
	// RootsPEM is Roots as PEM, for programs that take a file.
	RootsPEM []byte

	ca           *ca.CAImpl
	orders       atomic.Int64
	httpF, tlsF  *forwarder
	validationMu sync.Mutex
	validations  map[string]int
}

// Start runs a Pebble for t, stopped at t's cleanup. It sets Pebble's
// environment (no random validation sleeps, no rejected nonces, no reuse
// of valid authorisations) with t.Setenv, so t must not be parallel.
func Start(t testing.TB, cfg Config) *CA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	logger := log.New(io.Discard, "", 0)
	c := &CA{validations: map[string]int{}}

	// DNS: every name is 127.0.0.1 (Pebble's VA asks over TCP).
	dnsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{Listener: dnsLn, Net: "tcp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	dnsSrv.NotifyStartedFunc = func() { close(started) }
	dnsDone := make(chan struct{})
	go func() { defer close(dnsDone); dnsSrv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { dnsSrv.Shutdown(); <-dnsDone })

	c.httpF = newForwarder(t, c, "http-01")
	c.tlsF = newForwarder(t, c, "tls-alpn-01")

	profiles := map[string]ca.Profile{"default": {Description: "edgekit tests", ValidityPeriod: uint64(cfg.Validity / time.Second)}}
	store := db.NewMemoryStore()
	c.ca = ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	v := va.New(logger, c.httpF.port(), c.tlsF.port(), false, dnsLn.Addr().String(), store)
	w := wfe.New(logger, store, v, c.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := w.Handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			c.orders.Add(1)
		}
		h.ServeHTTP(rw, r)
	}))
	srv.Config.ErrorLog = logger
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c.URL = srv.URL + wfe.DirectoryPath
	c.Roots = x509.NewCertPool()
	c.Roots.AddCert(srv.Certificate())
	c.RootsPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return c
}

// Orders returns how many new orders (RFC 8555 §7.4) the CA received.
func (c *CA) Orders() int { return int(c.orders.Load()) }

// Validations returns how many validation connections of kind ("http-01"
// or "tls-alpn-01") reached the forwarders.
func (c *CA) Validations(kind string) int {
	c.validationMu.Lock()
	defer c.validationMu.Unlock()
	return c.validations[kind]
}

// Issuers returns a pool with the CA's root, to which issued
// certificates chain.
func (c *CA) Issuers() *x509.CertPool {
	p := x509.NewCertPool()
	for i := 0; i < c.ca.GetNumberOfRootCerts(); i++ {
		p.AddCert(c.ca.GetRootCert(i).Cert)
	}
	return p
}

// Forward sends the validation authority's HTTP-01 connections to
// httpAddr and its TLS-ALPN-01 connections to tlsAddr (host:port of the
// listeners under test). Connections that arrive before Forward wait for
// it (a few seconds at most).
func (c *CA) Forward(httpAddr, tlsAddr string) {
	c.httpF.set(httpAddr)
	c.tlsF.set(tlsAddr)
}

// WriteRoots writes RootsPEM to a file in dir and returns its path.
func (c *CA) WriteRoots(t testing.TB, dir string) string {
	p := filepath.Join(dir, "acme-ca.pem")
	if err := os.WriteFile(p, c.RootsPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// forwarder passes connections on to a target set later.
type forwarder struct {
	ln     net.Listener
	kind   string
	c      *CA
	target atomic.Pointer[string]
	ready  chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newForwarder(t testing.TB, c *CA, kind string) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, kind: kind, c: c, ready: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) port() int {
	_, p, _ := net.SplitHostPort(f.ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func (f *forwarder) set(addr string) {
	f.target.Store(&addr)
	f.once.Do(func() { close(f.ready) })
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.c.validationMu.Lock()
		f.c.validations[f.kind]++
		f.c.validationMu.Unlock()
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *forwarder) serve(c net.Conn) {
	defer f.wg.Done()
	defer f.untrack(c)
	select {
	case <-f.ready:
	case <-time.After(5 * time.Second):
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp", *f.target.Load())
	if err != nil {
		return
	}
	if !f.track(up) {
		up.Close()
		return
	}
	defer f.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	io.Copy(c, up)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
}

func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.once.Do(func() { close(f.ready) })
	f.wg.Wait()
}

// ErrNotVerified is returned by VerifyChain when a chain does not lead to
// the CA's root.
var ErrNotVerified = errors.New("pebbletest: certificate does not chain to Pebble's root")

// VerifyChain checks that the certificate chain a server sent for name
// leads to the CA's root.
func (c *CA) VerifyChain(chain []*x509.Certificate, name string) error {
	if len(chain) == 0 {
		return ErrNotVerified
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: strings.TrimSuffix(name, "."), Roots: c.Issuers(), Intermediates: inter})
	if err != nil {
		return errors.Join(ErrNotVerified, err)
	}
	return nil
}
