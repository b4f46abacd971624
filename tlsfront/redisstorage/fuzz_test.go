package redisstorage

import (
	"strings"
	"testing"
)

// guard maps only certificates/ISSUER/NAME/FILE to certmagic's issue
// lock for NAME, and never panics.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{"certificates/ca/www.example.com/www.example.com.crt", "certificates/ca/x", "certificates//x/y", "acme/ca/users/a/b", "", "/", "certificates/a/b/c/d/e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		key = cleanKey(key)
		name, ok := guard(key)
		if !ok {
			return
		}
		parts := strings.Split(key, "/")
		if len(parts) < 4 || parts[0] != "certificates" || name != "issue_cert_"+parts[2] || parts[2] == "" {
			t.Fatalf("guard(%q) = %q", key, name)
		}
	})
}
