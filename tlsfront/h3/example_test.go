package h3_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/edgekit/edgekit/tlsfront"
	"github.com/edgekit/edgekit/tlsfront/h3"
	"github.com/quic-go/quic-go/http3"
)

// writeSelfSigned writes a self-signed certificate for name to dir.
func writeSelfSigned(dir, name string) (tlsfront.Pair, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kder, _ := x509.MarshalECPrivateKey(key)
	p := tlsfront.Pair{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return p, pool
}

// A site over HTTPS and HTTP/3 on one port number: the certificates of a
// tlsfront.Front (by SNI, reloaded), TCP and UDP bound by Listen, the TCP
// side advertising HTTP/3 with AltSvc. Here only the HTTP/3 side is
// asked, with quic-go's client.
func ExampleServer() {
	dir, _ := os.MkdirTemp("", "h3example")
	defer os.RemoveAll(dir)
	pair, roots := writeSelfSigned(dir, "www.example.com")
	front, err := tlsfront.New(tlsfront.Config{Certificates: []tlsfront.Pair{pair}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer front.Close()
	site := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})
	ln, pc, err := h3.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pc.Close()
	srv, err := h3.New(h3.Config{Handler: site, TLS: front.TLSConfig()})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pc) }()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	tcp := &http.Server{Handler: h3.AltSvc(port, 0, site)}
	go tcp.Serve(tls.NewListener(ln, front.TLSConfig()))
	defer tcp.Close()

	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "www.example.com"}}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + pc.LocalAddr().String() + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.Close()
	cancel()
	fmt.Println(string(body), <-done)
	// Output: hello over HTTP/3.0 <nil>
}

// AltSvc advertises HTTP/3 on the TCP side: on responses over TLS, not
// over plain HTTP.
func ExampleAltSvc() {
	h := h3.AltSvc(443, 0, http.NotFoundHandler())
	for _, overTLS := range []bool{true, false} {
		r := httptest.NewRequest("GET", "/", nil)
		if overTLS {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("TLS %v: Alt-Svc %q\n", overTLS, w.Header().Get("Alt-Svc"))
	}
	// Output:
	// TLS true: Alt-Svc "h3=\":443\"; ma=86400"
	// TLS false: Alt-Svc ""
}
