package balancer_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// NewProxy copies its config: a caller that reuses its Routes slice after
// NewProxy (to build another proxy, say) must not change where this one
// sends requests, nor race with the requests it serves.
func TestNewProxyCopiesRoutes(t *testing.T) {
	backend := func(name string) (*httptest.Server, *fixedBalancer) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		t.Cleanup(s.Close)
		return s, &fixedBalancer{b: balancer.Backend{ID: name, Addr: strings.TrimPrefix(s.URL, "http://")}}
	}
	_, a := backend("a")
	_, b := backend("b")
	routes := []balancer.Route{{PathPrefix: "/api/", Pool: a}}
	p, err := balancer.NewProxy(balancer.ProxyConfig{Pool: b, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	routes[0].Pool = b // the caller's slice changes after NewProxy
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example/api/x", nil))
	if got := rec.Body.String(); got != "a" {
		t.Fatalf("request for /api/ answered by %q, want the route's backend \"a\"", got)
	}
}

// Every constructor's config error is ErrInvalidConfig.
func TestProxyConfigErrorsAreErrInvalidConfig(t *testing.T) {
	if _, err := balancer.NewProxy(balancer.ProxyConfig{}); !errors.Is(err, balancer.ErrInvalidConfig) {
		t.Errorf("NewProxy without a pool: %v, want ErrInvalidConfig", err)
	}
	if _, err := balancer.NewTCPProxy(balancer.TCPProxyConfig{}); !errors.Is(err, balancer.ErrInvalidConfig) {
		t.Errorf("NewTCPProxy without a pool: %v, want ErrInvalidConfig", err)
	}
}
