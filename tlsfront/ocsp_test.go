package tlsfront

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"golang.org/x/crypto/ocsp"
)

// responder is a loopback OCSP responder signed by the test CA.
type responder struct {
	ca      *testcert.CA
	mu      sync.Mutex
	status  int
	garbage bool
	this    time.Time
	next    time.Duration
	calls   atomic.Int64
}

func (rs *responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.garbage {
		io.WriteString(w, "not OCSP")
		return
	}
	resp, err := ocsp.CreateResponse(rs.ca.Cert(), rs.ca.Cert(), ocsp.Response{
		Status: rs.status, SerialNumber: req.SerialNumber,
		ThisUpdate: rs.this, NextUpdate: rs.this.Add(rs.next),
	}, rs.ca.Key())
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

func stapled(t *testing.T, f *Front) []byte {
	t.Helper()
	c, _ := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.test"})
	return c.OCSPStaple
}

// RFC 6066 §8 and RFC 6960: a certificate naming a responder is served
// with the responder's Good answer stapled, refreshed halfway to its
// NextUpdate; a failed refresh keeps the staple until it expires, and
// an expired or revoked one is never stapled.
func TestOCSPStapling(t *testing.T) {
	ca := testcert.NewCA(t)
	start := time.Now().Truncate(time.Second)
	rs := &responder{ca: ca, status: ocsp.Good, this: start, next: 4 * time.Hour}
	srv := httptest.NewServer(rs)
	defer srv.Close()
	leaf := ca.LeafWith(t, testcert.Options{OCSPServer: srv.URL}, "a.test")
	dir := t.TempDir()
	c, k := leaf.Write(t, dir, "site")
	testcert.WriteFile(t, c, append(leaf.CertPEM, ca.PEM...)) // with its issuer
	now := start
	var nowMu sync.Mutex
	clock := func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now }
	set := func(d time.Duration) { nowMu.Lock(); now = start.Add(d); nowMu.Unlock() }
	f, err := New(Config{Certificates: []Pair{{c, k}}, PollInterval: -1, Now: clock, OCSPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first := stapled(t, f)
	if first == nil || rs.calls.Load() != 1 {
		t.Fatalf("no staple after New (%d calls)", rs.calls.Load())
	}
	// Over the wire, the client gets it.
	addr := serveTLS(t, f, http.NotFoundHandler())
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ocsp.ParseResponse(conn.ConnectionState().OCSPResponse, ca.Cert()); err != nil || r.Status != ocsp.Good {
		t.Errorf("client saw staple %v, %v", r, err)
	}
	conn.Close()

	refresh := func(d time.Duration) {
		set(d)
		f.mu.Lock()
		f.refreshStaples(context.Background(), clock())
		f.expireStaples(clock())
		f.mu.Unlock()
	}
	refresh(time.Hour) // before halfway: no fetch
	if rs.calls.Load() != 1 {
		t.Errorf("fetched before halfway to NextUpdate")
	}
	rs.mu.Lock()
	rs.this = start.Add(2 * time.Hour)
	rs.mu.Unlock()
	refresh(2 * time.Hour) // halfway: a new response
	second := stapled(t, f)
	if rs.calls.Load() != 2 || string(second) == string(first) {
		t.Errorf("no refresh at halfway (%d calls)", rs.calls.Load())
	}
	rs.mu.Lock()
	rs.garbage = true
	rs.mu.Unlock()
	refresh(4 * time.Hour) // due again; the responder fails: keep it
	if string(stapled(t, f)) != string(second) {
		t.Error("a failed fetch dropped a valid staple")
	}
	refresh(6 * time.Hour) // NextUpdate (start+2h+4h) reached: dropped
	if stapled(t, f) != nil {
		t.Error("an expired staple is still served")
	}
	// Good again, then revoked: the staple in service goes at once.
	rs.mu.Lock()
	rs.garbage, rs.this = false, start.Add(7*time.Hour)
	rs.mu.Unlock()
	refresh(7 * time.Hour)
	if stapled(t, f) == nil {
		t.Fatal("no staple once the responder answers again")
	}
	rs.mu.Lock()
	rs.status, rs.this = ocsp.Revoked, start.Add(9*time.Hour)
	rs.mu.Unlock()
	refresh(9 * time.Hour)
	if stapled(t, f) != nil {
		t.Error("a staple is still served after the responder said revoked")
	}
}

// A certificate without a responder is served without a staple and
// nothing is fetched.
func TestOCSPNoResponder(t *testing.T) {
	ca := testcert.NewCA(t)
	f, _ := newFront(t, ca.Leaf(t, "a.test"))
	if stapled(t, f) != nil {
		t.Error("staple without a responder")
	}
}
