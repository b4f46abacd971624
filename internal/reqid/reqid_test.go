package reqid

import (
	"net/http"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"abc-123", true},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"", false},
		{"a b", false},
		{"a\"b", false},
		{"a\\b", false},
		{"a\nb", false},
		{"é", false},
		{strings.Repeat("a", MaxLen), true},
		{strings.Repeat("a", MaxLen+1), false},
	} {
		if got := Valid(c.s); got != c.ok {
			t.Errorf("Valid(%q) = %v", c.s, got)
		}
	}
}

func TestGeneratorOf(t *testing.T) {
	g := New()
	a, b := g.Next(), g.Next()
	if a == b || !Valid(a) || !Valid(b) {
		t.Fatalf("ids %q %q", a, b)
	}
	if New().Next() == a {
		t.Fatal("two generators made the same first id")
	}
	r := &http.Request{Header: http.Header{Header: {"client-id-1"}}}
	if id, own := g.Of(r); id != "client-id-1" || !own {
		t.Fatalf("Of = %q %v", id, own)
	}
	r.Header.Set(Header, "bad id")
	if id, own := g.Of(r); own || !Valid(id) {
		t.Fatalf("Of(invalid) = %q %v", id, own)
	}
}
