package acme_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edgekit/edgekit/internal/pebbletest"
	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/acme"
	"github.com/edgekit/edgekit/tlsfront/redisstorage"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pebbletest.IgnoreGoroutines()...) }

// waitTimeout bounds every wait on the loopback CA.
const waitTimeout = 60 * time.Second

// node is one edge: a plain-HTTP listener (redirect plus HTTP-01), a TLS
// listener (a tlsfront.Front with the Manager as Source) and the Manager.
type node struct {
	m        *acme.Manager
	front    *tlsfront.Front
	httpAddr string
	tlsAddr  string
	events   chan acme.Event
	seen     map[acme.Event]bool // events await has read
}

type nodeOpts struct {
	http, tls bool // which challenges this node answers
	storage   certmagic.Storage
	dir       string
	cfg       acme.Config // RenewalWindow, CheckInterval
	files     []tlsfront.Pair
}

func startNode(t testing.TB, ca *pebbletest.CA, o nodeOpts) *node {
	t.Helper()
	n := &node{events: make(chan acme.Event, 64), seen: map[acme.Event]bool{}}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.httpAddr, n.tlsAddr = httpLn.Addr().String(), tlsLn.Addr().String()
	cfg := o.cfg
	cfg.CA, cfg.Roots, cfg.Storage, cfg.Dir = ca.URL, ca.Roots, o.storage, o.dir
	if o.http {
		cfg.HTTPAddr = n.httpAddr
	}
	if o.tls {
		cfg.TLSAddr = n.tlsAddr
	}
	cfg.Notify = func(e acme.Event) {
		select {
		case n.events <- e:
		default:
		}
	}
	if n.m, err = acme.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.m.Close() })
	if n.front, err = tlsfront.New(tlsfront.Config{Certificates: o.files, Source: n.m, PollInterval: -1, DisableOCSPStapling: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.front.Close() })
	_, port, _ := net.SplitHostPort(n.tlsAddr)
	p, _ := strconv.Atoi(port)
	quiet := log.New(io.Discard, "", 0)
	plain := &http.Server{Handler: n.m.HTTPChallengeHandler(tlsfront.Redirect(p)), ErrorLog: quiet}
	site := &http.Server{ErrorLog: quiet, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.TLS.ServerName) })}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); plain.Serve(httpLn) }()
	go func() { defer wg.Done(); site.Serve(tls.NewListener(tlsLn, n.front.TLSConfig())) }()
	t.Cleanup(func() { plain.Close(); site.Close(); wg.Wait() })
	return n
}

// await waits for an event of kind for name (or finds it among those
// already read). The test's goroutine alone calls it.
func (n *node) await(t testing.TB, kind acme.EventKind, name string) {
	t.Helper()
	want := acme.Event{Kind: kind, Name: name}
	if n.seen[want] {
		return
	}
	deadline := time.After(waitTimeout)
	for {
		select {
		case e := <-n.events:
			if e.Kind == acme.Failed {
				t.Logf("event: %s %s: %v", e.Kind, e.Name, e.Err)
				continue
			}
			n.seen[e] = true
			if e == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within %v", kind, name, waitTimeout)
		}
	}
}

// fetch makes an HTTPS request to the node for name, verifying the
// certificate against Pebble's root, and returns the leaf's serial.
func (n *node) fetch(t testing.TB, ca *pebbletest.CA, name string) string {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: ca.Issuers()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", n.tlsAddr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + name + "/")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "hello "+name {
		t.Fatalf("%s: body %q", name, b)
	}
	chain := resp.TLS.PeerCertificates
	if err := ca.VerifyChain(chain, name); err != nil {
		t.Fatal(err)
	}
	return chain[0].SerialNumber.String()
}

// RFC 8555 §8.3: the certificate is obtained with HTTP-01, answered on
// the plain-HTTP listener in front of the redirect; the served chain
// leads to the CA's root.
func TestIssueHTTP01(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	n := startNode(t, ca, nodeOpts{http: true, dir: t.TempDir()})
	ca.Forward(n.httpAddr, n.tlsAddr)
	start := time.Now()
	if err := n.m.Manage(context.Background(), []string{"www.example.test"}); err != nil {
		t.Fatal(err)
	}
	n.await(t, acme.Loaded, "www.example.test")
	t.Logf("issued over HTTP-01 in %v", time.Since(start))
	n.fetch(t, ca, "www.example.test")
	if ca.Validations("http-01") == 0 || ca.Validations("tls-alpn-01") != 0 {
		t.Errorf("validations: http-01 %d, tls-alpn-01 %d", ca.Validations("http-01"), ca.Validations("tls-alpn-01"))
	}
	if got := ca.Orders(); got != 1 {
		t.Errorf("%d orders, want 1", got)
	}
	// The redirect still answers everything else, challenge paths of
	// other hosts included.
	for _, host := range []string{"www.example.test", "other.example.test"} {
		req, _ := http.NewRequest("GET", "http://"+n.httpAddr+"/.well-known/acme-challenge/abc", nil)
		req.Host = host
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect {
			t.Errorf("%s: %d, want the redirect", host, resp.StatusCode)
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

// RFC 8737: the certificate is obtained with TLS-ALPN-01, answered by the
// TLS listener's Front (ALPN "acme-tls/1"); there is no HTTP listener.
func TestIssueTLSALPN01(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	n := startNode(t, ca, nodeOpts{tls: true, dir: t.TempDir()})
	ca.Forward(n.httpAddr, n.tlsAddr)
	start := time.Now()
	if err := n.m.Manage(context.Background(), []string{"alpn.example.test"}); err != nil {
		t.Fatal(err)
	}
	n.await(t, acme.Loaded, "alpn.example.test")
	t.Logf("issued over TLS-ALPN-01 in %v", time.Since(start))
	n.fetch(t, ca, "alpn.example.test")
	if ca.Validations("tls-alpn-01") == 0 || ca.Validations("http-01") != 0 {
		t.Errorf("validations: http-01 %d, tls-alpn-01 %d", ca.Validations("http-01"), ca.Validations("tls-alpn-01"))
	}
	// A client offering only acme-tls/1 for a name without a challenge
	// in progress is refused; one offering it beside h2 gets h2.
	_, err := tls.Dial("tcp", n.tlsAddr, &tls.Config{ServerName: "alpn.example.test", NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true})
	if err == nil {
		t.Error("acme-tls/1 handshake without a challenge succeeded")
	}
	c, err := tls.Dial("tcp", n.tlsAddr, &tls.Config{ServerName: "alpn.example.test", NextProtos: []string{"acme-tls/1", "h2"}, RootCAs: ca.Issuers()})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("negotiated %q, want h2", p)
	}
	c.Close()
}

// Files win for the names they cover; the ACME certificate serves the
// rest, and is the default when there are no files.
func TestFilesWinAndDefault(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	n := startNode(t, ca, nodeOpts{tls: true, dir: t.TempDir()})
	ca.Forward(n.httpAddr, n.tlsAddr)
	if err := n.m.Manage(context.Background(), []string{"a.example.test", "b.example.test"}); err != nil {
		t.Fatal(err)
	}
	n.await(t, acme.Loaded, "a.example.test")
	n.await(t, acme.Loaded, "b.example.test")
	// No SNI: the first managed name's certificate.
	c, err := tls.Dial("tcp", n.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "a.example.test" {
		t.Errorf("default certificate for %v, want a.example.test", got)
	}
	c.Close()
	// An unmanaged name gets the default too (no files).
	c, err = tls.Dial("tcp", n.tlsAddr, &tls.Config{ServerName: "zzz.example.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := n.m.Certificates()
	if len(got) != 2 || !got[0].Ready || !got[1].Ready || got[1].Name != "b.example.test" {
		t.Errorf("Certificates() = %+v", got)
	}
}

// Renewal before expiry: with short-lived certificates (20 s) and a
// renewal window of 80% of the lifetime, the maintenance loop renews and
// the new certificate is served; clients handshaking all the while (a
// new connection per request) never fail.
func TestRenewalUnderLoad(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{Validity: 20 * time.Second})
	n := startNode(t, ca, nodeOpts{tls: true, dir: t.TempDir(), cfg: acme.Config{RenewalWindow: 0.8, CheckInterval: 200 * time.Millisecond}})
	ca.Forward(n.httpAddr, n.tlsAddr)
	if err := n.m.Manage(context.Background(), []string{"renew.example.test"}); err != nil {
		t.Fatal(err)
	}
	n.await(t, acme.Loaded, "renew.example.test")
	first := n.fetch(t, ca, "renew.example.test")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	requests, failures := 0, []error{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{ServerName: "renew.example.test", RootCAs: ca.Issuers()},
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "tcp", n.tlsAddr)
				}}
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := 0; i < 100000; i++ { // bounded; stop ends it first
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get("https://renew.example.test/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				requests++
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		}()
	}
	n.await(t, acme.Renewed, "renew.example.test")
	// The renewed certificate is stored, then put in service by the job
	// that renewed it: a handshake soon after sees it.
	deadline := time.Now().Add(waitTimeout)
	for n.fetch(t, ca, "renew.example.test") == first {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is never served")
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during the renewal, %d failed", requests, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the renewal, the first: %v", len(failures), requests, failures[0])
	}
	if ca.Orders() < 2 {
		t.Errorf("%d orders, want a renewal", ca.Orders())
	}
}

// Two nodes sharing a storage directory order a name once: one takes
// the lock and orders, the other waits and loads the stored
// certificate; both serve the same certificate.
func TestSharedDirectoryOrdersOnce(t *testing.T) {
	ca := pebbletest.Start(t, pebbletest.Config{})
	dir := t.TempDir()
	a := startNode(t, ca, nodeOpts{http: true, tls: true, dir: dir})
	b := startNode(t, ca, nodeOpts{http: true, tls: true, dir: dir})
	ca.Forward(a.httpAddr, a.tlsAddr) // the CA reaches a only: b's challenges are answered by a from storage
	testOrdersOnce(t, ca, a, b)
}

func testOrdersOnce(t *testing.T, ca *pebbletest.CA, a, b *node) {
	t.Helper()
	names := []string{"fleet.example.test", "fleet2.example.test"}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- n.m.Manage(context.Background(), names) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*node{a, b} {
		for _, name := range names {
			n.await(t, acme.Loaded, name)
		}
	}
	for _, name := range names {
		if sa, sb := a.fetch(t, ca, name), b.fetch(t, ca, name); sa != sb {
			t.Errorf("%s: the nodes serve different certificates (%s, %s)", name, sa, sb)
		}
	}
	if got := ca.Orders(); got != len(names) {
		t.Errorf("%d orders for %d names, want one each", got, len(names))
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []acme.Config{
		{},
		{HTTPAddr: "nohost"},
		{TLSAddr: "127.0.0.1:99999"},
		{TLSAddr: "127.0.0.1:443", RenewalWindow: 1},
		{TLSAddr: "127.0.0.1:443", CheckInterval: -1},
	} {
		if m, err := acme.New(cfg); !errors.Is(err, acme.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
			if m != nil {
				m.Close()
			}
		}
	}
	m, err := acme.New(acme.Config{TLSAddr: "127.0.0.1:443", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range []string{"", "localhost", "*.example.com", "a..b", "-a.example.com", "a_b.example.com", "a b.com"} {
		if err := m.Manage(context.Background(), []string{name}); !errors.Is(err, acme.ErrInvalidName) {
			t.Errorf("%q: %v", name, err)
		}
	}
	m.Close()
	if err := m.Manage(context.Background(), []string{"www.example.com"}); !errors.Is(err, acme.ErrClosed) {
		t.Errorf("Manage after Close: %v", err)
	}
}

// The same over Redis (package redisstorage): one order per name for two
// nodes, the challenges of either answered by the node the CA reaches.
func TestSharedRedisOrdersOnce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ca := pebbletest.Start(t, pebbletest.Config{})
	var nodes []*node
	for range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
		st, err := redisstorage.New(redisstorage.Config{Client: rdb, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, startNode(t, ca, nodeOpts{http: true, tls: true, storage: st}))
	}
	ca.Forward(nodes[0].httpAddr, nodes[0].tlsAddr)
	testOrdersOnce(t, ca, nodes[0], nodes[1])
}
