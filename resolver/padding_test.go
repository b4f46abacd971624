package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/miekg/dns"
)

// paddedQuery asks name A with EDNS(0), and a Padding option when padded.
func paddedQuery(name string, padded bool) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	if padded {
		opt := q.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, 100)})
	}
	return q
}

func padding(m *dns.Msg) (int, bool) {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if p, ok := o.(*dns.EDNS0_PADDING); ok {
				return len(p.Padding), true
			}
		}
	}
	return 0, false
}

// RFC 7830 §4 and RFC 8467 §4.1: over DNS over TLS and DNS over HTTPS, a
// reply to a query with a Padding option is padded to a multiple of 468
// octets (both the cached and the resolved path); a query without one
// gets none, and over plain TCP and plain HTTP no reply is padded.
func TestRFC7830_PaddingOverEncryptedTransports(t *testing.T) {
	h := newHierarchy(t)
	srv, err := NewServer(ServerConfig{Resolver: newResolver(t, h.config())})
	if err != nil {
		t.Fatal(err)
	}
	ca := testcert.NewCA(t)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "dns.test").TLS(t)}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serve := func(ln net.Listener) string {
		done := make(chan struct{})
		go func() { srv.ServeTCP(ctx, ln); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return ln.Addr().String()
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain, dot := serve(plainLn), serve(tls.NewListener(tlsLn, tlsCfg))
	clientTLS := &tls.Config{RootCAs: ca.Pool, ServerName: "dns.test"}
	for _, tc := range []struct {
		net, addr    string
		padded, want bool
	}{
		{"tcp-tls", dot, true, true},
		{"tcp-tls", dot, true, true}, // now from the cache
		{"tcp-tls", dot, false, false},
		{"tcp", plain, true, false},
	} {
		var conn net.Conn
		if tc.net == "tcp-tls" {
			conn, err = tls.Dial("tcp", tc.addr, clientTLS)
		} else {
			conn, err = net.Dial("tcp", tc.addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		dc := &dns.Conn{Conn: conn}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := dc.WriteMsg(paddedQuery("www.example.com.", tc.padded)); err != nil {
			t.Fatal(err)
		}
		wire, err := dc.ReadMsgHeader(nil) // the reply as sent
		conn.Close()
		m := new(dns.Msg)
		if err != nil || m.Unpack(wire) != nil || len(m.Answer) == 0 {
			t.Fatalf("%s: %v %v", tc.net, m, err)
		}
		_, got := padding(m)
		if got != tc.want || got && len(wire)%paddingBlock != 0 {
			t.Errorf("%s, query padded %v: padding %v, %d bytes", tc.net, tc.padded, got, len(wire))
		}
	}
	// DNS over HTTPS, and the same handler in the clear.
	for _, tc := range []struct {
		ts   *httptest.Server
		want bool
	}{
		{httptest.NewTLSServer(DoHHandler(srv)), true},
		{httptest.NewServer(DoHHandler(srv)), false},
	} {
		defer tc.ts.Close()
		wire, _ := paddedQuery("www.example.com.", true).Pack()
		resp, err := tc.ts.Client().Post(tc.ts.URL+"/dns-query", "application/dns-message", bytes.NewReader(wire))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := new(dns.Msg)
		if resp.StatusCode != http.StatusOK || m.Unpack(body) != nil {
			t.Fatalf("DoH: %d %q", resp.StatusCode, body)
		}
		if _, got := padding(m); got != tc.want || got && len(body)%paddingBlock != 0 {
			t.Errorf("DoH over TLS %v: padding %v, %d bytes", tc.want, got, len(body))
		}
	}
}
