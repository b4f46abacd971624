package origin

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/testcert"
)

// tlsOrigin starts an https origin with a certificate for origin.test
// signed by ca; requireClient makes it demand a client certificate
// signed by ca (mTLS).
func tlsOrigin(t *testing.T, ca *testcert.CA, requireClient bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "anonymous"
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		io.WriteString(w, who)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "origin.test").TLS(t)}}
	if requireClient {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = ca.Pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func getVia(t *testing.T, o Origin) (string, error) {
	t.Helper()
	p, err := New(Config{Origins: []Origin{o}, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req, _ := http.NewRequest("GET", "http://edge.test/", nil)
	resp, err := p.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

// RFC 9110 §4.3.4: an https origin's certificate is verified by default;
// one signed by an authority the edge does not trust is refused, and
// trusted through Origin.TLS's RootCAs. RFC 8446 §4.4.2: an origin that
// requires a client certificate gets the one configured per origin.
func TestOriginTLS(t *testing.T) {
	ca := testcert.NewCA(t)
	plain := tlsOrigin(t, ca, false)
	if _, err := getVia(t, Origin{URL: plain.URL}); err == nil || !errors.Is(err, ErrAllFailed) {
		t.Errorf("untrusted origin certificate: err %v, want refusal", err)
	}
	trust := &tls.Config{RootCAs: ca.Pool, ServerName: "origin.test"}
	if got, err := getVia(t, Origin{URL: plain.URL, TLS: trust}); err != nil || got != "anonymous" {
		t.Errorf("trusted origin: %q, %v", got, err)
	}
	mtls := tlsOrigin(t, ca, true)
	if _, err := getVia(t, Origin{URL: mtls.URL, TLS: trust}); err == nil {
		t.Error("an origin requiring a client certificate answered without one")
	}
	withCert := trust.Clone()
	withCert.Certificates = []tls.Certificate{ca.Leaf(t, "edge.client").TLS(t)}
	if got, err := getVia(t, Origin{URL: mtls.URL, TLS: withCert}); err != nil || got != "edge.client" {
		t.Errorf("mTLS origin: %q, %v", got, err)
	}
	// An http origin cannot take TLS settings, nor can a Transport of the
	// caller's own: refused, not ignored.
	for _, cfg := range []Config{
		{Origins: []Origin{{URL: "http://127.0.0.1:1", TLS: trust}}},
		{Origins: []Origin{{URL: mtls.URL, TLS: trust}}, Transport: http.DefaultTransport},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg.Origins[0], err)
		}
	}
}

// Health checks of an https origin use its TLS settings.
func TestOriginTLSHealthCheck(t *testing.T) {
	ca := testcert.NewCA(t)
	srv := tlsOrigin(t, ca, true)
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: "origin.test", Certificates: []tls.Certificate{ca.Leaf(t, "edge.client").TLS(t)}}
	for _, tc := range []struct {
		tls  *tls.Config
		want bool
	}{{nil, false}, {cfg, true}} {
		p, err := New(Config{Origins: []Origin{{URL: srv.URL, TLS: tc.tls}}})
		if err != nil {
			t.Fatal(err)
		}
		m := p.origins[0]
		if got := p.check(t.Context(), balancer.Backend{ID: m.u.Host}); got != tc.want {
			t.Errorf("TLS %v: check = %v, want %v", tc.tls != nil, got, tc.want)
		}
		p.Close()
	}
}
