package httpfront

import (
	"fmt"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// newProxy returns a balancer.Proxy over the backends at addrs (round
// robin), the handler Server is built to front. It is the one place the
// tests reach package balancer: a test-only import, httpfront itself
// imports no edgekit package.
func newProxy(t testing.TB, cfg balancer.ProxyConfig, addrs ...string) *balancer.Proxy {
	t.Helper()
	pool, err := balancer.New(balancer.Config{Policy: balancer.RoundRobin()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	for i, addr := range addrs {
		if err := pool.Add(balancer.Backend{ID: fmt.Sprintf("b%d", i), Addr: addr}); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Pool = pool
	px, err := balancer.NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.CloseIdleConnections)
	return px
}
