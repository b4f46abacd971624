package cache

import (
	"net/http"
	"slices"
	"testing"
)

func TestRFC9111_5_2_DirectiveParsing(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		check func(Directives) bool
	}{
		{"max-age", []string{"max-age=60"}, func(d Directives) bool { return d.MaxAge == 60 }},
		{"case-insensitive names", []string{"MAX-AGE=60, No-Store"}, func(d Directives) bool { return d.MaxAge == 60 && d.NoStore }},
		{"quoted value accepted", []string{`max-age="60"`}, func(d Directives) bool { return d.MaxAge == 60 && !d.Invalid }},
		{"several lines combine", []string{"public", "s-maxage=5"}, func(d Directives) bool { return d.Public && d.SMaxAge == 5 }},
		{"§1.2.2 overflow caps at 2^31", []string{"max-age=99999999999999999999"}, func(d Directives) bool { return d.MaxAge == maxDelta }},
		{"§4.2.1 invalid max-age is stale", []string{"max-age=abc"}, func(d Directives) bool { return d.MaxAge == 0 && d.Invalid }},
		{"negative max-age is invalid", []string{"max-age=-1"}, func(d Directives) bool { return d.MaxAge == 0 && d.Invalid }},
		{"max-age without value is invalid", []string{"max-age"}, func(d Directives) bool { return d.Invalid }},
		{"§4.2.1 duplicate keeps the first", []string{"max-age=10, max-age=20"}, func(d Directives) bool { return d.MaxAge == 10 }},
		{"max-stale without value", []string{"max-stale"}, func(d Directives) bool { return d.MaxStale == MaxStaleAny }},
		{"qualified no-cache", []string{`no-cache="Set-Cookie, x-foo"`}, func(d Directives) bool {
			return !d.NoCache && slices.Equal(d.NoCacheFields, []string{"Set-Cookie", "X-Foo"})
		}},
		{"unqualified private", []string{"private"}, func(d Directives) bool { return d.Private && d.PrivateFields == nil }},
		{"comma inside quotes", []string{`private="a,b", max-age=3`}, func(d Directives) bool { return d.MaxAge == 3 && len(d.PrivateFields) == 2 }},
		{"RFC 5861 extensions", []string{"stale-while-revalidate=30, stale-if-error=600"}, func(d Directives) bool {
			return d.StaleWhileRevalidate == 30 && d.StaleIfError == 600
		}},
		{"unknown extension ignored", []string{"foo=bar, max-age=1"}, func(d Directives) bool { return d.MaxAge == 1 }},
		{"empty members", []string{",, ,max-age=2,"}, func(d Directives) bool { return d.MaxAge == 2 }},
		{"absent", nil, func(d Directives) bool { return !d.MaxAge.Present() && !d.SMaxAge.Present() && !d.MaxStale.Present() }},
	}
	for _, c := range cases {
		if d := ParseDirectives(c.lines); !c.check(d) {
			t.Errorf("%s: %q parsed as %+v", c.name, c.lines, d)
		}
	}
}

func TestRFC9213_TargetedFieldParsing(t *testing.T) {
	h := http.Header{}
	h.Set("CDN-Cache-Control", "max-age=600, stale-if-error=30;foo=1, must-revalidate")
	d, ok := parseTargeted(h, "CDN-Cache-Control")
	if !ok || d.MaxAge != 600 || d.StaleIfError != 30 || !d.MustRevalidate {
		t.Fatalf("got %+v, %v", d, ok)
	}
	for _, bad := range []string{"Max-Age=5", "max-age=-5", "max-age=@", "=5"} {
		h.Set("CDN-Cache-Control", bad)
		if _, ok := parseTargeted(h, "CDN-Cache-Control"); ok {
			t.Errorf("%q: invalid dictionary accepted", bad)
		}
	}
	if _, ok := parseTargeted(http.Header{}, "CDN-Cache-Control"); ok {
		t.Error("absent field reported present")
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b"`, "max-stale, s-maxage=99999999999999", `private="\"`, "max-age=\"", ",=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseDirectives([]string{s})
		for _, v := range []Seconds{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh, d.StaleWhileRevalidate, d.StaleIfError} {
			if v < -1 || v > maxDelta {
				t.Fatalf("%q: value %d out of range", s, v)
			}
		}
		// Parsing is a function of the text: the same input twice gives
		// the same result.
		if d2 := ParseDirectives([]string{s}); d2.MaxAge != d.MaxAge || d2.NoStore != d.NoStore || d2.Invalid != d.Invalid {
			t.Fatalf("%q: unstable parse", s)
		}
		h := http.Header{"Cdn-Cache-Control": {s}, "Age": {s}, "Vary": {s}}
		parseTargeted(h, "CDN-Cache-Control")
		if parseAge(h) < 0 {
			t.Fatalf("%q: negative age", s)
		}
		varyNames(h)
		normalizedField(h, "Vary")
	})
}

// RFC 9213 §2.1: a targeted field's directives mean what they mean in
// Cache-Control, so must-understand (RFC 9111 §5.2.2.3) and the other
// valueless directives count there too; before, the targeted parser knew
// only six of them and dropped must-understand.
func TestRFC9213_TargetedFieldKnowsEveryDirective(t *testing.T) {
	h := http.Header{}
	h.Set("CDN-Cache-Control", "max-age=60, no-store, must-understand, immutable, no-transform, no-cache=\"Set-Cookie\"")
	d, ok := parseTargeted(h, "CDN-Cache-Control")
	cc := ParseDirectives([]string{"max-age=60, no-store, must-understand, immutable, no-transform"})
	if !ok || d.MaxAge != cc.MaxAge || d.NoStore != cc.NoStore || d.MustUnderstand != cc.MustUnderstand ||
		d.Immutable != cc.Immutable || d.NoTransform != cc.NoTransform || !d.NoCache {
		t.Fatalf("targeted %+v, %v; Cache-Control %+v", d, ok, cc)
	}
}
