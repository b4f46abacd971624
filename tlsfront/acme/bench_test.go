package acme_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/edgekit/edgekit/internal/pebbletest"
	"github.com/edgekit/edgekit/tlsfront/acme"
)

// The lookup each handshake makes for an ACME name (Manager.Certificate,
// through the Front's GetCertificate), beside the plain library's: a map
// from name to *tls.Certificate, as crypto/tls's NameToCertificate.
func BenchmarkCertificate(b *testing.B) {
	ca := pebbletest.Start(b, pebbletest.Config{})
	n := startNode(b, ca, nodeOpts{tls: true, dir: b.TempDir()})
	ca.Forward(n.httpAddr, n.tlsAddr)
	const name = "bench.example.test"
	if err := n.m.Manage(context.Background(), []string{name}); err != nil {
		b.Fatal(err)
	}
	n.await(b, acme.Loaded, name)
	baseline := map[string]*tls.Certificate{name: n.m.Certificate(name)}
	b.Run("Manager", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if n.m.Certificate(name) == nil {
					b.Fatal("nil")
				}
			}
		})
	})
	b.Run("map-baseline", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if baseline[name] == nil {
					b.Fatal("nil")
				}
			}
		})
	})
}
