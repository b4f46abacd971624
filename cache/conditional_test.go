package cache

import "testing"

// FuzzMatchETag: matching never panics on hostile lists, and a tag always
// matches a list holding only itself.
func FuzzMatchETag(f *testing.F) {
	for _, s := range []string{`"a"`, `W/"a", "b"`, `*`, `"a`, `W/`, `,,"x",`, `"a,b", "c"`} {
		f.Add(s, `"a"`)
	}
	f.Fuzz(func(t *testing.T, list, etag string) {
		matchETag(list, etag, true)
		matchETag(list, etag, false)
		if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' && !containsQuote(etag[1:len(etag)-1]) {
			if !matchETag(etag, etag, true) {
				t.Fatalf("%s does not match itself", etag)
			}
		}
	})
}

func containsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return true
		}
	}
	return false
}
