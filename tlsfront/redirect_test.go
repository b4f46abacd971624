package tlsfront

import (
	"net/http"
	"net/http/httptest"
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
