package resolver

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestForwarder(t *testing.T) {
	h := newHierarchy(t)
	upstream := newResolver(t, h.config())
	srv, _ := NewServer(ServerConfig{Resolver: upstream})
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	ds := &dns.Server{PacketConn: pc, Handler: srv}
	started := make(chan struct{})
	ds.NotifyStartedFunc = func() { close(started) }
	go ds.ActivateAndServe()
	<-started
	defer ds.Shutdown()
	fwd := newResolver(t, Config{Forward: []string{"127.0.0.1:1", pc.LocalAddr().String()}, Timeout: 200 * time.Millisecond, DisableDNSSEC: true})
	if got := answers(resolve(t, fwd, "www.example.com.", dns.TypeA)); len(got) != 3 {
		t.Fatalf("forwarded answer %v", got)
	}
	if m := resolve(t, fwd, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Fatalf("forwarded NXDOMAIN %v", m)
	}
}

func TestForwarderOverTLSAndHTTPS(t *testing.T) {
	h := newHierarchy(t)
	upstream := newResolver(t, h.config())
	srv, _ := NewServer(ServerConfig{Resolver: upstream})
	// DNS over HTTPS (RFC 8484), with httptest's self-signed certificate.
	doh := httptest.NewTLSServer(DoHHandler(srv))
	defer doh.Close()
	roots := doh.Client().Transport.(*http.Transport).TLSClientConfig
	viaDoH := newResolver(t, Config{Forward: []string{doh.URL + "/dns-query"}, TLSConfig: roots, Timeout: 2 * time.Second, DisableDNSSEC: true})
	if got := answers(resolve(t, viaDoH, "www.example.com.", dns.TypeA)); len(got) != 3 {
		t.Fatalf("DoH answer %v", got)
	}
	// GET form of the DoH handler.
	q := new(dns.Msg)
	q.SetQuestion("mx.example.com.", dns.TypeA)
	wire, _ := q.Pack()
	resp, err := doh.Client().Get(doh.URL + "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(wire))
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dns-message" {
		t.Fatalf("DoH GET: %v %v", resp, err)
	}
	resp.Body.Close()
	// DNS over TLS (RFC 7858) with the same certificate.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: doh.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	dot := &dns.Server{Listener: ln, Net: "tcp-tls", Handler: srv}
	started := make(chan struct{})
	dot.NotifyStartedFunc = func() { close(started) }
	go dot.ActivateAndServe()
	<-started
	defer dot.Shutdown()
	tlsCfg := roots.Clone()
	tlsCfg.ServerName = "example.com" // httptest's certificate names example.com
	viaDoT := newResolver(t, Config{Forward: []string{"tls://" + ln.Addr().String()}, TLSConfig: tlsCfg, Timeout: 2 * time.Second, DisableDNSSEC: true})
	if m := resolve(t, viaDoT, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("DoT rcode %d", m.Rcode)
	}
	if _, err := New(Config{Forward: []string{"https://"}}); err == nil {
		t.Fatal("bad DoH URL accepted")
	}
}
