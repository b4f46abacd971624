package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/goleak"
)

// With -http3 the edge serves HTTP/3 on the UDP port of -tls-listen from
// the same cache (a HIT over HTTP/3 for what HTTP/2 stored, then over
// HTTP/3 alone), and HTTPS responses over TCP (HTTP/1.1 and HTTP/2)
// advertise it with Alt-Svc (RFC 7838 §3); plain-HTTP responses and, without
// -http3, all responses do not. Shutdown leaves no goroutine behind.
func TestHTTP3(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) { testHTTP3(t, front) })
	}
}

func testHTTP3(t *testing.T, front string) {
	// Once the edge has stopped (cleanups run last first), nothing it or
	// quic-go started is left running.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	ca := testcert.NewCA(t)
	dir := t.TempDir()
	c, k := ca.Leaf(t, "www.example.com").Write(t, dir, "www")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "page "+r.URL.Path)
	}))
	defer origin.Close()

	for _, on := range []bool{false, true} {
		args := []string{"-front", front, "-origin", origin.URL, "-tls-listen", "127.0.0.1:0", "-tls-cert", c, "-tls-key", k, "-hsts", "1h"}
		if on {
			args = append(args, "-http3")
		}
		plain, out := startEdge(t, args...)
		m := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no https address in:\n%s", out)
		}
		https := m[1]
		_, port, _ := strings.Cut(https, ":")
		if got := strings.Contains(out.String(), "http3 on udp "+https); got != on {
			t.Errorf("-http3 %v: banner says http3: %v\n%s", on, got, out)
		}
		wantAltSvc := ""
		if on {
			wantAltSvc = `h3=":` + port + `"; ma=86400`
		}
		for _, h2 := range []bool{false, true} {
			cl := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: h2, TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com"}}}
			if !h2 {
				cl.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			resp, err := cl.Get("https://" + https + "/tcp")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cl.CloseIdleConnections()
			if got := resp.Header.Get("Alt-Svc"); got != wantAltSvc || (resp.ProtoMajor == 2) != h2 {
				t.Errorf("-http3 %v, %s: Alt-Svc %q, want %q", on, resp.Proto, got, wantAltSvc)
			}
		}
		if _, _, h := send(t, "GET", "http://"+plain+"/tcp"); h.Get("Alt-Svc") != "" {
			t.Errorf("-http3 %v: Alt-Svc on plain HTTP: %q", on, h.Get("Alt-Svc"))
		}
		if !on {
			continue
		}
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com"}}
		t.Cleanup(func() { tr.Close() }) // before the edge stops
		h3c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for _, tc := range []struct{ path, want string }{
			{"/tcp", "HIT"}, // stored by the HTTPS requests above
			{"/quic", "MISS"},
			{"/quic", "HIT"},
		} {
			resp, err := h3c.Get("https://" + https + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 3 || string(b) != "page "+tc.path || resp.Header.Get("X-Cache") != tc.want {
				t.Errorf("h3 GET %s: %s %q X-Cache %q, want %s", tc.path, resp.Proto, b, resp.Header.Get("X-Cache"), tc.want)
			}
			if resp.Header.Get("Alt-Svc") != "" || resp.Header.Get("Strict-Transport-Security") != "max-age=3600" {
				t.Errorf("h3 GET %s: Alt-Svc %q, HSTS %q", tc.path, resp.Header.Get("Alt-Svc"), resp.Header.Get("Strict-Transport-Security"))
			}
		}
	}
}

func TestHTTP3NeedsTLS(t *testing.T) {
	var out syncBuffer
	if err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-admin", "", "-http3"}, &out, nil); err == nil || !strings.Contains(err.Error(), "-http3 needs -tls-listen") {
		t.Errorf("-http3 without -tls-listen: %v", err)
	}
}
