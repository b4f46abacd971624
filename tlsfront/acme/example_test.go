package acme_test

import (
	"context"
	"crypto/tls"
	"log"
	"net"
	"net/http"

	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/acme"
)

// Serving a site over HTTPS with certificates from Let's Encrypt's
// staging CA: HTTP-01 answered on port 80 in front of the redirect,
// TLS-ALPN-01 on port 443. (Not run: it needs the Internet and DNS
// pointing here; the tests run the same against a loopback Pebble.)
func ExampleManager() {
	httpLn, err := net.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", ":443")
	if err != nil {
		log.Fatal(err)
	}
	m, err := acme.New(acme.Config{
		CA: acme.LetsEncryptStaging, Email: "ops@example.com", Dir: "/var/lib/site/acme",
		HTTPAddr: httpLn.Addr().String(), TLSAddr: tlsLn.Addr().String(),
		Notify: func(e acme.Event) { log.Printf("%s: %s %v", e.Name, e.Kind, e.Err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	front, err := tlsfront.New(tlsfront.Config{Source: m})
	if err != nil {
		log.Fatal(err)
	}
	defer front.Close()
	if err := m.Manage(context.Background(), []string{"www.example.com", "example.com"}); err != nil {
		log.Fatal(err)
	}
	go http.Serve(httpLn, m.HTTPChallengeHandler(tlsfront.Redirect(443)))
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello over HTTPS\n")) })
	log.Fatal(http.Serve(tls.NewListener(tlsLn, front.TLSConfig()), site))
}
