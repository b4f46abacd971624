package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/httpfront"
	"github.com/edgekit/edgekit/internal/testcert"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// newFront writes the leaves to a temporary directory and returns a Front
// serving them (the first is the default), with polling off.
func newFront(t *testing.T, leaves ...testcert.Leaf) (*Front, []Pair) {
	t.Helper()
	dir := t.TempDir()
	var pairs []Pair
	for i, l := range leaves {
		c, k := l.Write(t, dir, string(rune('a'+i)))
		pairs = append(pairs, Pair{CertFile: c, KeyFile: k})
	}
	f, err := New(Config{Certificates: pairs, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, pairs
}

// RFC 6066 §3 (server_name) and RFC 6125 §6.4.3 (a wildcard matches one
// whole left-most label).
func TestSNISelection(t *testing.T) {
	ca := testcert.NewCA(t)
	def := ca.Leaf(t, "default.test")
	exact := ca.Leaf(t, "www.example.com", "example.com")
	wild := ca.Leaf(t, "*.example.com")
	other := ca.Leaf(t, "api.example.com") // exact beats the wildcard
	f, _ := newFront(t, def, exact, wild, other)
	for _, tc := range []struct {
		sni  string
		want string // the leaf's first name
	}{
		{"", "default.test"},
		{"www.example.com", "www.example.com"},
		{"WWW.Example.COM", "www.example.com"},
		{"www.example.com.", "www.example.com"},
		{"example.com", "www.example.com"},
		{"api.example.com", "api.example.com"},
		{"img.example.com", "*.example.com"},
		{"a.b.example.com", "default.test"}, // one label only
		{"unknown.test", "default.test"},
		{"default.test", "default.test"},
	} {
		c, err := f.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Leaf.DNSNames[0]; got != tc.want {
			t.Errorf("SNI %q: served %q, want %q", tc.sni, got, tc.want)
		}
	}
	served := f.Certificates()
	if len(served) != 4 || !served[0].Default || served[1].Default || served[2].Names[0] != "*.example.com" {
		t.Errorf("Certificates() = %+v", served)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("no certificates: %v", err)
	}
	dir := t.TempDir()
	if _, err := New(Config{Certificates: []Pair{{dir + "/x.crt", dir + "/x.key"}}}); !errors.Is(err, ErrLoad) {
		t.Errorf("missing files: %v", err)
	}
}

// serveTLS serves h over f's TLS config with httpfront on loopback and
// returns the address; the server stops at cleanup.
func serveTLS(t *testing.T, f *Front, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &httpfront.Server{Handler: h, ShutdownTimeout: time.Second}
	go func() { done <- srv.Serve(ctx, tls.NewListener(ln, f.TLSConfig())) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func client(ca *testcert.CA, sni string, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: sni}, ForceAttemptHTTP2: h2}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// A certificate replaced by one that does not load keeps the old one in
// service; Reload says why and logs it.
func TestReloadBadCertificateKeepsOld(t *testing.T) {
	ca := testcert.NewCA(t)
	old := ca.Leaf(t, "www.example.com")
	dir := t.TempDir()
	c, k := old.Write(t, dir, "site")
	core, logs := observer.New(zap.ErrorLevel)
	f, err := New(Config{Certificates: []Pair{{c, k}}, PollInterval: -1, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A new certificate whose key does not match it.
	testcert.WriteFile(t, c, ca.Leaf(t, "www.example.com").CertPEM)
	err = f.Reload(context.Background())
	if !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("Reload = %v, want ErrLoad for the mismatched key", err)
	}
	if logs.Len() != 1 {
		t.Errorf("%d error logs, want 1", logs.Len())
	}
	got, _ := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.example.com"})
	if !got.Leaf.Equal(old.Cert) {
		t.Error("the old certificate is no longer served")
	}
	// Garbage: the same.
	testcert.WriteFile(t, c, []byte("not a certificate"))
	if err := f.Reload(context.Background()); !errors.Is(err, ErrLoad) {
		t.Fatalf("Reload = %v", err)
	}
	// A good pair: served.
	next := ca.Leaf(t, "www.example.com", "new.example.com")
	next.Write(t, dir, "site")
	if err := f.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = f.GetCertificate(&tls.ClientHelloInfo{ServerName: "new.example.com"})
	if !got.Leaf.Equal(next.Cert) {
		t.Error("the new certificate is not served")
	}
}

// Polling sees changed files and reloads them, on the injected clock.
func TestPollReloads(t *testing.T) {
	ca := testcert.NewCA(t)
	first, second := ca.Leaf(t, "a.test"), ca.Leaf(t, "a.test", "b.test")
	dir := t.TempDir()
	c, k := first.Write(t, dir, "site")
	synctest.Test(t, func(t *testing.T) {
		f, err := New(Config{Certificates: []Pair{{c, k}}, PollInterval: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		second.Write(t, dir, "site")
		// Files written within the same second and of the same size are
		// still told apart by size or mtime here; make sure the stamp
		// differs whatever the file system's granularity.
		os.Chtimes(c, time.Time{}, time.Now().Add(time.Hour))
		time.Sleep(time.Minute) // fake time: one poll
		synctest.Wait()
		got, _ := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.test"})
		if !got.Leaf.Equal(second.Cert) {
			t.Error("the poll did not reload the changed pair")
		}
	})
}

// Session ticket keys rotate each period and the previous key still
// resumes sessions (RFC 8446 §4.6.1): a ticket issued before a rotation
// resumes after one, not after two.
func TestTicketKeyRotation(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				tc := tls.Server(c, f.TLSConfig())
				if tc.Handshake() == nil {
					tc.Write([]byte{1}) // after the TLS 1.3 tickets
					io.Copy(io.Discard, tc)
				}
				tc.Close()
			}()
		}
	}()
	for _, vers := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(4)
		dial := func() bool {
			t.Helper()
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "a.test", ClientSessionCache: cache, MinVersion: vers, MaxVersion: vers})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// TLS 1.3 tickets arrive after the handshake, before the
			// server's first byte.
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			return c.ConnectionState().DidResume
		}
		now := f.rotated
		dial()
		if !dial() {
			t.Fatalf("version %x: no resumption with the same key", vers)
		}
		f.tick(now.Add(DefaultTicketRotation)) // one rotation: the old key decrypts
		if !dial() {
			t.Errorf("version %x: no resumption after one rotation", vers)
		}
		cache2 := tls.NewLRUClientSessionCache(4)
		cache = cache2
		dial()
		now = f.rotated
		f.tick(now.Add(DefaultTicketRotation))
		f.tick(now.Add(2 * DefaultTicketRotation))
		if dial() {
			t.Errorf("version %x: resumed with a key two rotations old", vers)
		}
	}
}

// RFC 8996: TLS 1.0 and 1.1 are refused.
func TestOldTLSRefused(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	addr := serveTLS(t, f, http.NotFoundHandler())
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test", MinVersion: v, MaxVersion: v})
		if err == nil {
			c.Close()
			t.Errorf("version %x accepted", v)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %x, want TLS 1.3", v)
	}
	c.Close()
}

// RFC 9113 §3.2: "h2" by ALPN is served with HTTP/2 by httpfront, and
// "http/1.1" with httpfront's own HTTP/1.1; both see r.TLS.
func TestALPNOnHTTPFront(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	addr := serveTLS(t, f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.ServerName != "a.test" {
			w.WriteHeader(500)
		}
		io.WriteString(w, r.Proto)
	}))
	for _, tc := range []struct {
		h2   bool
		want string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		cl := client(ca, "a.test", tc.h2)
		for range 3 {
			resp, err := cl.Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != tc.want || resp.Proto != tc.want {
				t.Errorf("h2=%v: %d %q over %s, want 200 %q", tc.h2, resp.StatusCode, b, resp.Proto, tc.want)
			}
		}
		cl.CloseIdleConnections()
	}
}

// net/http's server with the Front's config negotiates and serves h2 too.
func TestALPNOnNetHTTP(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
	go srv.Serve(tls.NewListener(ln, f.TLSConfig()))
	defer srv.Close()
	cl := client(ca, "a.test", true)
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0" {
		t.Errorf("served over %q, want HTTP/2.0", b)
	}
}

// Certificates change under many keep-alive clients, HTTP/1.1 and h2,
// without one failed request; new connections get the new certificate.
func TestReloadUnderLoad(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	c, k := ca.Leaf(t, "a.test").Write(t, dir, "site")
	f, err := New(Config{Certificates: []Pair{{c, k}}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := serveTLS(t, f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	var (
		failed, done atomic.Int64
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	for i := range 8 {
		cl := client(ca, "a.test", i%2 == 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.CloseIdleConnections()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n%50 == 49 {
					cl.CloseIdleConnections() // some new handshakes too
				}
				resp, err := cl.Get("https://" + addr + "/")
				if err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	var last testcert.Leaf
	for i := range 20 {
		// Let requests run between reloads (bounded: the clients stop
		// after 2000 requests each).
		for done.Load() < int64(i*40) && failed.Load() == 0 {
			runtime.Gosched()
		}
		last = ca.Leaf(t, "a.test")
		last.Write(t, dir, "site")
		if err := f.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across reloads", failed.Load(), done.Load())
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !conn.ConnectionState().PeerCertificates[0].Equal(last.Cert) {
		t.Error("a new connection does not get the last certificate")
	}
	t.Logf("%d requests across 20 reloads", done.Load())
}

// An idle h2 connection gets GOAWAY when httpfront's Serve ends, and
// Serve returns without waiting out ShutdownTimeout (RFC 9113 §6.8).
func TestH2Shutdown(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &httpfront.Server{Handler: http.NotFoundHandler(), ShutdownTimeout: time.Hour}
	go func() { done <- srv.Serve(ctx, tls.NewListener(ln, f.TLSConfig())) }()
	cl := client(ca, "a.test", true)
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s", resp.Proto)
	}
	cancel()
	if err := <-done; err != nil { // the test's deadline catches a hang
		t.Fatal(err)
	}
}

// A client that opens a connection and never starts its handshake is cut
// after httpfront's ReadHeaderTimeout; one that is mid-handshake when
// Serve ends does not hold the shutdown for ShutdownTimeout.
func TestHandshakeStallers(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &httpfront.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 200 * time.Millisecond, ShutdownTimeout: time.Hour}
	go func() { done <- srv.Serve(ctx, tls.NewListener(ln, f.TLSConfig())) }()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(10 * time.Second)) // the test's bound, not the server's
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("silent client: read %d, %v; want EOF from the server's head timeout", n, err)
	}
	// A handshake started and left hanging, then a shutdown.
	srv2 := &httpfront.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Hour, ShutdownTimeout: time.Hour}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- srv2.Serve(ctx2, tls.NewListener(ln2, f.TLSConfig())) }()
	half, err := net.Dial("tcp", ln2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x80}) // a record header, then nothing
	// A full exchange on a later connection: the stalled one was accepted
	// before it and its handshake is under way.
	cl := client(ca, "a.test", false)
	resp, err := cl.Get("https://" + ln2.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cl.CloseIdleConnections()
	cancel2()
	if err := <-done2; err != nil { // the test's deadline catches a hang
		t.Fatal(err)
	}
	cancel()
	<-done
}
