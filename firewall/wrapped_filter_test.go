package firewall

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// countingFilter is a user's Filter around a Firewall that forwards the
// optional RealIP method, as the Filter documentation says to.
type countingFilter struct {
	fw *Firewall
	n  int
}

func (c *countingFilter) Decide(f Flow) Verdict { c.n++; return c.fw.Decide(f) }
func (c *countingFilter) RealIP() *RealIP       { return c.fw.RealIP() }

// A Filter wrapping a *Firewall names the firewall's trusted proxies to
// an HTTPFilter by forwarding RealIP, so a client behind the trusted proxy
// (RFC 7239 §5.2, X-Forwarded-For) is judged by its own address.
func TestWrappedFirewallNamesTrustedProxies(t *testing.T) {
	rs, err := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.10\ntrust 10.0.0.0/8 header X-Forwarded-For\n"))
	if err != nil {
		t.Fatal(err)
	}
	fw, err := New(Config{Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	if fw.RealIP() != rs.RealIP() || fw.RealIP() == nil {
		t.Fatalf("Firewall.RealIP = %v, want the rule set's %v", fw.RealIP(), rs.RealIP())
	}
	cf := &countingFilter{fw: fw}
	h, err := NewHTTPFilter(HTTPConfig{Filter: cf})
	if err != nil {
		t.Fatal(err)
	}
	srv := h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:4000"
	r.Header.Set("X-Forwarded-For", "192.0.2.10")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || cf.n == 0 {
		t.Fatalf("denied client behind a trusted proxy got %d (filter asked %d times), want 403", rec.Code, cf.n)
	}
	var nilRules *RuleSet
	if nilRules.RealIP() != nil {
		t.Fatal("a nil RuleSet names proxies")
	}
}
