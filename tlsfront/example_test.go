package tlsfront_test

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
	"os"
	"path/filepath"
	"time"

	"github.com/edgekit/edgekit/httpfront"
	"github.com/edgekit/edgekit/tlsfront"
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

// HTTPS with httpfront: HTTP/2 by ALPN, HSTS on HTTPS responses.
func ExampleFront() {
	dir, _ := os.MkdirTemp("", "tlsfront")
	defer os.RemoveAll(dir)
	pair, roots := writeSelfSigned(dir, "www.example.com")

	front, err := tlsfront.New(tlsfront.Config{Certificates: []tlsfront.Pair{pair}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer front.Close()
	for _, s := range front.Certificates() {
		fmt.Println("serving", s.Names, "default:", s.Default)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	h := tlsfront.HSTS(365*24*time.Hour, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto)
	}))
	done := make(chan error, 1)
	go func() { done <- (&httpfront.Server{Handler: h}).Serve(ctx, tls.NewListener(ln, front.TLSConfig())) }()
	defer func() { stop(); <-done }()

	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "www.example.com"}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	fmt.Println("Strict-Transport-Security:", resp.Header.Get("Strict-Transport-Security"))
	// Output:
	// serving [www.example.com] default: true
	// hello over HTTP/2.0
	// Strict-Transport-Security: max-age=31536000
}
