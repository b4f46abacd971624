package resolver

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/miekg/dns"
)

// RFC 8484 §6 and RFC 1035 §4.2.2: a DNS message is at most 65,535
// octets. A hostile client's larger POST body, or a larger message in
// GET's dns parameter, is not a DNS message: it is refused (413, 414),
// never cut to 65,535 octets and answered as if the cut were the query.
func TestRFC8484_OversizedMessagesRefused(t *testing.T) {
	h := newHierarchy(t)
	srv, _ := NewServer(ServerConfig{Resolver: newResolver(t, h.config())})
	ts := httptest.NewServer(DoHHandler(srv))
	defer ts.Close()
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	wire, _ := q.Pack()
	// A real query followed by padding octets up to 65,536: a body one
	// octet past the largest DNS message.
	big := append(wire, make([]byte, 65536-len(wire))...)
	resp, err := http.Post(ts.URL+"/dns-query", dohType, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of %d bytes: %d, want 413", len(big), resp.StatusCode)
	}
	resp, err = http.Get(ts.URL + "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("GET of a %d-byte message: %d, want 414", len(big), resp.StatusCode)
	}
	// The largest message still goes through the parser (here: trailing
	// octets after the question make it malformed, 400, not a size error).
	resp, err = http.Post(ts.URL+"/dns-query", dohType, bytes.NewReader(big[:65535]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 65,535 bytes refused as too large")
	}
}
