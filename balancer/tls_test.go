package balancer_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/testcert"
)

// Backends over TLS: verified by default (an untrusted certificate gets
// 502), trusted through BackendTLS's RootCAs, and a backend that
// requires a client certificate gets BackendTLS's (mTLS, RFC 8446
// §4.4.2).
func TestProxyBackendTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "backend.test").TLS(t)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	backend.StartTLS()
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "https://")
	withCert := &tls.Config{RootCAs: ca.Pool, ServerName: "backend.test", Certificates: []tls.Certificate{ca.Leaf(t, "lb.client").TLS(t)}}
	noCert := &tls.Config{RootCAs: ca.Pool, ServerName: "backend.test"}
	untrusted := &tls.Config{ServerName: "backend.test", Certificates: withCert.Certificates}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		code int
		body string
	}{
		{"mtls", withCert, 200, "hello lb.client"},
		{"no client certificate", noCert, 502, ""},
		{"untrusted backend", untrusted, 502, ""},
	} {
		pool, err := balancer.New(balancer.Config{Policy: balancer.RoundRobin()})
		if err != nil {
			t.Fatal(err)
		}
		pool.Add(balancer.Backend{ID: "b", Addr: addr})
		px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool, BackendTLS: tc.cfg, Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		px.ServeHTTP(w, httptest.NewRequest("GET", "http://lb.test/", nil))
		if w.Code != tc.code || (tc.body != "" && w.Body.String() != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, w.Code, w.Body, tc.code, tc.body)
		}
		px.CloseIdleConnections()
		pool.Close()
	}
	if _, err := balancer.NewProxy(balancer.ProxyConfig{Routes: []balancer.Route{{}}, BackendTLS: noCert, Transport: http.DefaultTransport}); !errors.Is(err, balancer.ErrInvalidConfig) {
		t.Errorf("BackendTLS with a Transport of its own: %v", err)
	}
}
