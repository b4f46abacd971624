package tlsfront

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/edgekit/edgekit/internal/testcert"
)

// fakeSource serves one certificate per name, its first one as default,
// and a challenge certificate for "chal.example.org".
type fakeSource struct {
	certs map[string]*tls.Certificate
	first string
	chal  *tls.Certificate
}

func (s *fakeSource) Certificate(name string) *tls.Certificate {
	if name == "" {
		name = s.first
	}
	return s.certs[name]
}

func (s *fakeSource) ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "chal.example.org" {
		return s.chal, nil
	}
	return nil, errors.New("no challenge")
}

func leafTLS(t *testing.T, ca *testcert.CA, names ...string) *tls.Certificate {
	c := ca.Leaf(t, names...).TLS(t)
	return &c
}

// Files win for the names they cover, exactly or by wildcard (as Caddy);
// the Source answers the rest; the default is the first file's, or the
// Source's when there are no files.
func TestSourceSelection(t *testing.T) {
	ca := testcert.NewCA(t)
	src := &fakeSource{first: "acme.example.org", certs: map[string]*tls.Certificate{
		"acme.example.org": leafTLS(t, ca, "acme.example.org"),
		"www.example.com":  leafTLS(t, ca, "www.example.com"), // a file covers it exactly
		"img.example.net":  leafTLS(t, ca, "img.example.net"), // a file covers it by wildcard
	}}
	dir := t.TempDir()
	c1, k1 := ca.Leaf(t, "www.example.com").Write(t, dir, "www")
	c2, k2 := ca.Leaf(t, "*.example.net").Write(t, dir, "wild")
	withFiles, err := New(Config{Certificates: []Pair{{c1, k1}, {c2, k2}}, Source: src, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer withFiles.Close()
	onlySource, err := New(Config{Source: src, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer onlySource.Close()
	for _, tc := range []struct {
		f         *Front
		sni, want string
	}{
		{withFiles, "www.example.com", "www.example.com"},
		{withFiles, "img.example.net", "*.example.net"},
		{withFiles, "ACME.example.org.", "acme.example.org"},
		{withFiles, "", "www.example.com"},
		{withFiles, "unknown.example.org", "www.example.com"},
		{onlySource, "", "acme.example.org"},
		{onlySource, "unknown.example.org", "acme.example.org"},
		{onlySource, "img.example.net", "img.example.net"},
	} {
		c, err := tc.f.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if err != nil || c.Leaf.DNSNames[0] != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.sni, c.Leaf.DNSNames, err, tc.want)
		}
	}
	if !withFiles.Covers("x.example.net") || withFiles.Covers("acme.example.org") || withFiles.Covers("") {
		t.Error("Covers disagrees with the files")
	}
	empty, err := New(Config{Source: &fakeSource{}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := empty.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("nothing to serve: %v", err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("no files and no source: %v", err)
	}
}

// RFC 8737 §3: a handshake offering only "acme-tls/1" with a server name
// gets the challenge certificate and negotiates acme-tls/1; other
// clients never negotiate it; without SNI it is an ordinary handshake.
func TestChallengeHandshake(t *testing.T) {
	ca := testcert.NewCA(t)
	src := &fakeSource{first: "acme.example.org", chal: leafTLS(t, ca, "chal.example.org"), certs: map[string]*tls.Certificate{
		"acme.example.org": leafTLS(t, ca, "acme.example.org"),
	}}
	f, err := New(Config{Source: src, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		sni       string
		protos    []string
		wantName  string // "" means the handshake fails
		wantProto string
	}{
		{"chal.example.org", []string{ALPNACME}, "chal.example.org", ALPNACME},
		{"other.example.org", []string{ALPNACME}, "", ""},
		{"chal.example.org", []string{ALPNACME, "h2"}, "acme.example.org", "h2"},
		{"chal.example.org", []string{"h2"}, "acme.example.org", "h2"},
	} {
		state, err := handshake(t, f.TLSConfig(), &tls.Config{ServerName: tc.sni, NextProtos: tc.protos, InsecureSkipVerify: true})
		if tc.wantName == "" {
			if err == nil {
				t.Errorf("%s %v: handshake succeeded", tc.sni, tc.protos)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.sni, tc.protos, err)
			continue
		}
		if got := state.PeerCertificates[0].DNSNames[0]; got != tc.wantName || state.NegotiatedProtocol != tc.wantProto {
			t.Errorf("%s %v: %s %q, want %s %q", tc.sni, tc.protos, got, state.NegotiatedProtocol, tc.wantName, tc.wantProto)
		}
	}
}

// handshake runs a TLS handshake over an in-memory pipe and returns the
// client's view of it.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan error, 1)
	go func() {
		sc := tls.Server(s, server)
		done <- sc.Handshake()
		sc.Close()
	}()
	cc := tls.Client(c, client)
	err := cc.Handshake()
	state := cc.ConnectionState()
	cc.Close()
	<-done
	return state, err
}
