package h3

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/edgekit/edgekit/tlsfront"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// serve starts a Server for h with cfg's other settings on a loopback UDP
// socket and returns its address; the test's cleanup stops it and checks
// that Serve returned nil.
func serve(t testing.TB, cfg Config) string {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its ctx ended")
		}
		pc.Close()
	})
	return pc.LocalAddr().String()
}

// client returns an HTTP/3 client trusting ca for name, closed at cleanup.
func client(t *testing.T, ca *testcert.CA, name string) *http.Client {
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: name}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// A request over HTTP/3 reaches the handler as HTTP/3.0 with r.TLS and
// the client's address; the certificate is the Front's, chosen by SNI,
// and a reloaded certificate is served to the next connection.
func TestServeFrontCertificates(t *testing.T) {
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	c1, k1 := ca.Leaf(t, "www.example.com").Write(t, dir, "www")
	c2, k2 := ca.Leaf(t, "*.example.net").Write(t, dir, "wild")
	front, err := tlsfront.New(tlsfront.Config{Certificates: []tlsfront.Pair{{CertFile: c1, KeyFile: k1}, {CertFile: c2, KeyFile: k2}}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.ProtoMajor != 3 || r.TLS.NegotiatedProtocol != "h3" || r.TLS.Version != tls.VersionTLS13 {
			t.Errorf("request %s, TLS %+v", r.Proto, r.TLS)
		}
		if _, err := net.ResolveUDPAddr("udp", r.RemoteAddr); err != nil || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
			t.Errorf("RemoteAddr %q", r.RemoteAddr)
		}
		io.WriteString(w, "hello "+r.TLS.ServerName)
	})
	addr := serve(t, Config{Handler: h, TLS: front.TLSConfig()})
	for _, sni := range []string{"www.example.com", "img.example.net"} {
		resp, body := get(t, client(t, ca, sni), "https://"+addr+"/")
		if resp.ProtoMajor != 3 || body != "hello "+sni {
			t.Errorf("%s: %s %q", sni, resp.Proto, body)
		}
		if got := resp.TLS.PeerCertificates[0].DNSNames[0]; got != strings.Replace(sni, "img", "*", 1) {
			t.Errorf("%s: served %s", sni, got)
		}
	}
	// Reload: a new certificate for www.example.com, seen by the next
	// connection.
	l := ca.Leaf(t, "www.example.com", "new.example.com")
	c3, k3 := l.Write(t, t.TempDir(), "new")
	for _, p := range [][2]string{{c3, c1}, {k3, k1}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		testcert.WriteFile(t, p[1], b)
	}
	if err := front.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, client(t, ca, "www.example.com"), "https://"+addr+"/")
	if names := resp.TLS.PeerCertificates[0].DNSNames; len(names) != 2 || names[1] != "new.example.com" {
		t.Errorf("after reload: served %v", names)
	}
}

// Session ticket keys are read at each handshake: a client resumes with a
// ticket of the Front's current keys (a clone made once would keep the
// first keys for ever).
func TestServeResumesWithFrontKeys(t *testing.T) {
	ca := testcert.NewCA(t)
	leaf := ca.Leaf(t, "www.example.com")
	src := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}}
	var key [32]byte
	src.SetSessionTicketKeys([][32]byte{key})
	addr := serve(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.DidResume {
			io.WriteString(w, "resumed")
		}
	}), TLS: src})
	cache := tls.NewLRUClientSessionCache(4)
	fetch := func() string {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com", ClientSessionCache: cache}}
		defer tr.Close()
		_, body := get(t, &http.Client{Transport: tr}, "https://"+addr+"/")
		return body
	}
	fetch()
	if got := fetch(); got != "resumed" {
		t.Fatalf("second connection did not resume: %q", got)
	}
	key[0] = 1 // rotated: tickets of the old key no longer decrypt
	src.SetSessionTicketKeys([][32]byte{key})
	if got := fetch(); got == "resumed" {
		t.Error("resumed with a ticket of a key no longer in the config")
	}
}

// RFC 7838 §3: Alt-Svc advertises h3 on responses over TLS on TCP only:
// not over plain HTTP (RFC 9114 §3.1: https URIs only), not over HTTP/3.
func TestRFC7838_AltSvcOnTLSOverTCPOnly(t *testing.T) {
	h := AltSvc(8443, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		name  string
		major int
		tls   bool
		want  string
	}{
		{"h1 over TLS", 1, true, `h3=":8443"; ma=86400`},
		{"h2", 2, true, `h3=":8443"; ma=86400`},
		{"plain h1", 1, false, ""},
		{"h3", 3, true, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.ProtoMajor = tc.major
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("Alt-Svc"); got != tc.want {
			t.Errorf("%s: Alt-Svc %q, want %q", tc.name, got, tc.want)
		}
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	AltSvc(443, time.Hour, http.NotFoundHandler()).ServeHTTP(w, r)
	if got := w.Header().Get("Alt-Svc"); got != `h3=":443"; ma=3600` {
		t.Errorf("Alt-Svc %q", got)
	}
}

// rawConn dials addr over QUIC with ALPN h3, as a hostile client that
// writes its own frames would.
func rawConn(t *testing.T, ca *testcert.CA, addr string) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com", NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseWithError(0, "") })
	return c
}

// frame returns an HTTP/3 frame (RFC 9114 §7.1).
func frame(typ uint64, payload []byte) []byte {
	b := quicvarint.Append(nil, typ)
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}

// headers returns a HEADERS frame of the fields, QPACK-encoded without
// the dynamic table.
func headers(fields ...string) []byte {
	var buf bytes.Buffer
	enc := qpack.NewEncoder(&buf)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(qpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return frame(0x01, buf.Bytes())
}

// RFC 9114 §4.2 and §4.1.2: a request with connection-specific fields,
// upper-case names or a wrong TE is malformed: the stream is reset with
// H3_MESSAGE_ERROR and the handler never runs. These are the fields that
// smuggle a second request past an HTTP/1.1 hop (Transfer-Encoding),
// strip fields (Connection) or switch protocols (Upgrade). RFC 9114
// §4.1.2: a body longer or shorter than Content-Length is malformed too,
// and the handler reading it sees an error, never a complete body.
func TestRFC9114_4_2_MalformedRequestsNeverReachHandler(t *testing.T) {
	ca := testcert.NewCA(t)
	var calls atomic.Int32
	var bodyErrs atomic.Int32
	addr := serve(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if _, err := io.ReadAll(r.Body); err != nil {
				bodyErrs.Add(1)
			}
		})})
	base := []string{":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", "/"}
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"connection", []string{"connection", "close"}},
		{"keep-alive", []string{"keep-alive", "timeout=5"}},
		{"proxy-connection", []string{"proxy-connection", "keep-alive"}},
		{"transfer-encoding", []string{"transfer-encoding", "chunked"}},
		{"upgrade", []string{"upgrade", "websocket"}},
		{"te gzip", []string{"te", "gzip"}},
		{"upper-case name", []string{"Content-Type", "text/plain"}},
		{"space in name", []string{"x foo", "1"}},
		{"CR LF in value", []string{"x-foo", "a\r\nx-injected: 1"}},
		{"two content-lengths", []string{"content-length", "1", "content-length", "2"}},
		{"pseudo after regular", []string{"x-foo", "1", ":protocol", "x"}},
	} {
		c := rawConn(t, ca, addr)
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		str.Write(headers(append(append([]string{}, base...), tc.fields...)...))
		str.Close()
		str.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(str)
		var se *quic.StreamError
		if !errors.As(err, &se) || se.ErrorCode != quic.StreamErrorCode(http3.ErrCodeMessageError) {
			t.Errorf("%s: read %v, want the stream reset with H3_MESSAGE_ERROR", tc.name, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times for malformed requests", n)
	}
	// te: trailers is allowed (RFC 9114 §4.2).
	for _, tc := range []struct {
		name        string
		fields      []string
		body        []byte
		wantBodyErr bool
	}{
		{"te trailers", []string{"te", "trailers"}, nil, false},
		{"body longer than content-length", []string{"content-length", "3"}, frame(0x00, []byte("abcdef")), true},
		{"body shorter than content-length", []string{"content-length", "9"}, frame(0x00, []byte("abc")), true},
	} {
		calls.Store(0)
		bodyErrs.Store(0)
		c := rawConn(t, ca, addr)
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		str.Write(append(headers(append(append([]string{}, base...), tc.fields...)...), tc.body...))
		str.Close()
		str.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(str)
		if calls.Load() != 1 || (bodyErrs.Load() == 1) != tc.wantBodyErr {
			t.Errorf("%s: handler ran %d times, body error %v, want error %v", tc.name, calls.Load(), bodyErrs.Load() == 1, tc.wantBodyErr)
		}
	}
}

// Shutdown: a request in flight when ctx ends finishes (new requests refused, then the
// grace), Serve returns nil, and no goroutine of quic-go's is left.
func TestServeShutdownGraceful(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ca := testcert.NewCA(t)
	started, release := make(chan struct{}), make(chan struct{})
	s, err := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "www.example.com").TLS(t)}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			io.WriteString(w, "finished")
		})})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com"}}
	got := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + pc.LocalAddr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	close(release)
	if b := <-got; b != "finished" {
		t.Errorf("request in flight at shutdown: %q", b)
	}
	tr.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// The buffers quic-go wants are set before it looks; when the kernel
// keeps them smaller, the Server says so once through its logger.
func TestServeSizesUDPBuffers(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	ca := testcert.NewCA(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := New(Config{Handler: http.NotFoundHandler(), TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "a.test").TLS(t)}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	s.sizeBuffers(pc)
	rcv, snd, ok := raiseBuffers(pc, wantBuffer)
	switch {
	case !ok:
		t.Skip("no way to read the socket's buffer sizes here")
	case rcv >= wantBuffer && snd >= wantBuffer:
		if logs.Len() != 0 {
			t.Errorf("warned with buffers of %d and %d bytes: %v", rcv, snd, logs.All())
		}
	default:
		if logs.Len() != 1 || logs.All()[0].ContextMap()["receive_kib"] == nil {
			t.Errorf("buffers of %d and %d bytes: logged %v, want one warning", rcv, snd, logs.All())
		}
	}
	if os.Geteuid() == 0 && (rcv < wantBuffer || snd < wantBuffer) {
		t.Errorf("as root, buffers of %d and %d bytes, want %d (SO_RCVBUFFORCE)", rcv, snd, wantBuffer)
	}
}

// A kernel that keeps the buffers small (net.core.rmem_max below 7 MiB,
// unprivileged): one warning per Serve through the logger, with the sizes
// and the sysctl to raise.
func TestServeWarnsOnceOfSmallBuffers(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	ca := testcert.NewCA(t)
	s, err := New(Config{Handler: http.NotFoundHandler(), TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "a.test").TLS(t)}}, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	s.raise = func(net.PacketConn, int) (int, int, bool) { return 416 << 10, 416 << 10, true }
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	// A request proves Serve is past the sizing.
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"}}
	get(t, &http.Client{Transport: tr}, "https://"+pc.LocalAddr().String()+"/")
	tr.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	all := logs.All()
	if len(all) != 1 || all[0].ContextMap()["receive_kib"] != int64(416) || !strings.Contains(all[0].ContextMap()["raise_with"].(string), "net.core.rmem_max") {
		t.Errorf("logged %v, want one warning with the sizes", all)
	}
}

// RFC 9000 §8.1.2: past RetryAbove attempts per second, a client must
// prove its address with a Retry first; quic-go's client goes through it
// and the request is served. Below it, no Retry.
func TestRFC9000_8_1_2_RetryAboveRate(t *testing.T) {
	ca := testcert.NewCA(t)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "a.test").TLS(t)}}
	for _, tc := range []struct {
		above       int
		wantRetries uint64
	}{{-1, 3}, {1, 1}, {0, 0}} {
		s, err := New(Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), TLS: tlsCfg, RetryAbove: tc.above})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, pc) }()
		for range 3 { // three connections, within a second
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"}}
			if _, body := get(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://"+pc.LocalAddr().String()+"/"); body != "ok" {
				t.Errorf("RetryAbove %d: %q", tc.above, body)
			}
			tr.Close()
		}
		cancel()
		<-done
		pc.Close()
		// A ClientHello may span two Initial packets, each answered with
		// a Retry: at least one per connection that had to validate.
		if got := s.Stats().Retried; got < tc.wantRetries || tc.wantRetries == 0 && got != 0 {
			t.Errorf("RetryAbove %d: %d retries, want at least %d", tc.above, got, tc.wantRetries)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{TLS: &tls.Config{}},
		{Handler: http.NotFoundHandler()},
		{Handler: http.NotFoundHandler(), TLS: &tls.Config{}, IdleTimeout: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// Listen binds one port number over TCP and UDP; a port taken over UDP
// is refused when named, and drawn again when it was port 0.
func TestListenSamePort(t *testing.T) {
	ln, pc, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer pc.Close()
	_, tp, _ := net.SplitHostPort(ln.Addr().String())
	_, up, _ := net.SplitHostPort(pc.LocalAddr().String())
	if tp != up {
		t.Fatalf("tcp port %s, udp port %s", tp, up)
	}
	// A port taken over UDP only: named, it fails.
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if ln2, pc2, err := Listen(taken.LocalAddr().String()); err == nil {
		ln2.Close()
		pc2.Close()
		t.Error("Listen succeeded on a UDP port in use")
	}
}
