package firewall

import (
	"net/http"
	"strings"
	"testing"
)

type spoofProxy struct{ prefix, header string }

// spoofHandler is the HTTP filter the spoofing table runs against.
func spoofHandler(t *testing.T, proxies []spoofProxy, rules string, lim *Limiter) http.Handler {
	t.Helper()
	var tp []TrustedProxy
	for _, p := range proxies {
		tp = append(tp, TrustedProxy{Prefix: pfx(p.prefix), Header: p.header})
	}
	ri, err := NewRealIP(tp)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules(strings.NewReader(rules))
	if err != nil {
		t.Fatal(err)
	}
	fw, err := New(Config{Rules: rs})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	return mustHTTPFilter(t, HTTPConfig{Filter: fw, Limiter: lim, RealIP: ri}).Wrap(ok)
}
