package h3

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// AltSvc on every HTTPS response over TCP: one field set, no allocation,
// beside the handler alone.
func BenchmarkAltSvc(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"handler", next}, {"AltSvc", AltSvc(443, 0, next)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

func TestAltSvcAllocatesNothing(t *testing.T) {
	h := AltSvc(443, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("AltSvc allocates %v times per response", n)
	}
}
