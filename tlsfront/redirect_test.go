package tlsfront

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 9110 §15.4.9: 308 keeps the method; the path and query are kept,
// the port is the TLS listener's unless 443.
func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		port       int
		host, uri  string
		code       int
		wantTarget string
	}{
		{443, "example.com", "/a/b?x=1&y=%20", 308, "https://example.com/a/b?x=1&y=%20"},
		{0, "example.com:80", "/", 308, "https://example.com/"},
		{8443, "example.com:8080", "/p%2Fq?z", 308, "https://example.com:8443/p%2Fq?z"},
		{8443, "[::1]:8080", "/x", 308, "https://[::1]:8443/x"},
		{443, "127.0.0.1:8080", "//evil.test/x", 308, "https://127.0.0.1//evil.test/x"},
		{443, "", "/", 400, ""},
		{443, "evil.test/x", "/", 400, ""},
		{443, "a@evil.test", "/", 400, ""},
		{443, "x:y:z", "/", 400, ""},
		{443, "[fe80::1%25eth0]", "/", 400, ""},
		{443, "ex%41mple.com", "/", 400, ""},
	} {
		r := httptest.NewRequest("POST", "http://placeholder"+tc.uri, nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		Redirect(tc.port).ServeHTTP(w, r)
		if w.Code != tc.code || w.Header().Get("Location") != tc.wantTarget {
			t.Errorf("port %d Host %q %s: %d %q, want %d %q", tc.port, tc.host, tc.uri, w.Code, w.Header().Get("Location"), tc.code, tc.wantTarget)
		}
		if w.Header().Get("Strict-Transport-Security") != "" {
			t.Error("HSTS on a plain-HTTP response")
		}
	}
}

// RFC 6797 §7.2: Strict-Transport-Security only over secure transport.
func TestHSTSOnlyOverTLS(t *testing.T) {
	h := HSTS(365*24*time.Hour, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if v := w.Header().Get("Strict-Transport-Security"); v != "" {
		t.Errorf("plain HTTP got %q", v)
	}
	r = httptest.NewRequest("GET", "https://example.com/", nil) // sets r.TLS
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if v := w.Header().Get("Strict-Transport-Security"); v != "max-age=31536000" {
		t.Errorf("HTTPS got %q", v)
	}
	if HSTS(0, true, http.NotFoundHandler()) == nil {
		t.Error("HSTS(0) returned nil")
	}
}

// FuzzRedirect: whatever the Host and target, Redirect never panics, and
// a 308's Location is an https URL for the request's host with the path
// and query as sent.
func FuzzRedirect(f *testing.F) {
	for _, s := range [][2]string{{"example.com", "/a?b"}, {"[::1]:80", "/"}, {"a@b", "/"}, {"x:y:z", "//p"}, {"", "/%2F"}} {
		f.Add(s[0], s[1], 8443)
	}
	f.Fuzz(func(t *testing.T, host, target string, port int) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		Redirect(port).ServeHTTP(w, r)
		if w.Code != http.StatusPermanentRedirect {
			return
		}
		u, err := url.Parse(w.Header().Get("Location"))
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("Host %q target %q: Location %q (%v)", host, target, w.Header().Get("Location"), err)
		}
		if u.EscapedPath() != r.URL.EscapedPath() && !(r.URL.Path == "" && u.Path == "/") || u.RawQuery != r.URL.RawQuery {
			t.Fatalf("Host %q target %q: Location %q", host, target, w.Header().Get("Location"))
		}
	})
}
