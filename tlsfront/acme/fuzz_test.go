package acme

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
)

// Names Manage accepts are lower-case DNS names certmagic also accepts,
// with no wildcard and no IP address, and never panic the check.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"www.example.com", "a.b", "localhost", "*.example.com", "a..b", "-a.b", "a-.b", "xn--bcher-kva.example", "A.B", "a_b.c", "192.0.2.1", "1.2.3.4.5", "a.b1", "::1", strings.Repeat("a.", 127) + "a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validName(s) {
			return
		}
		if _, err := netip.ParseAddr(s); err == nil || s != strings.ToLower(s) || strings.ContainsAny(s, "*_ ") || len(s) > 253 || !certmagic.SubjectQualifiesForCert(s) {
			t.Fatalf("accepted %q", s)
		}
	})
}
