package cache

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// RFC 8941 §4.2.2: Dictionaries, parsed strictly; any error fails the
// whole field.
func TestRFC8941_DictionaryParsing(t *testing.T) {
	valid := map[string]string{ // input: members as key:kind[value]
		"":                                     "",
		"  max-age=60  ":                       "max-age:i60",
		"max-age=60,no-store":                  "max-age:i60 no-store:b1",
		"max-age=60 ,\tno-store":               "max-age:i60 no-store:b1",
		"a=?0, b, c;x=1, d=?1":                 "a:b0 b:b1 c:b1 d:b1",
		"max-age=600, max-age=1":               "max-age:i1", // §4.2.2: the last value wins
		`a="x,y\"z", b=tok/en:1, c=:AQ==:`:     "a:o b:o c:o",
		"a=1.5, b=-3, c=(1 \"two\" x);p, d=()": "a:o b:i-3 c:o d:o",
		"a=123456789012345":                    "a:i123456789012345",
		"*k=1":                                 "*k:i1",
	}
	for in, want := range valid {
		ms, ok := parseSFDictionary(in)
		if !ok {
			t.Errorf("%q: rejected", in)
			continue
		}
		var got []string
		for _, m := range ms {
			s := m.key + ":"
			switch m.kind {
			case sfBoolean:
				s += "b0"
				if m.b {
					s = s[:len(s)-1] + "1"
				}
			case sfInteger:
				s += "i" + strconv.FormatInt(m.n, 10)
			default:
				s += "o"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%q: got %q, want %q", in, g, want)
		}
	}
	for _, in := range []string{
		"max-age =100", "max-age= 100", // cache-tests cdn-max-age-space-{before,after}-equals
		"MaX-aGe=3600", "Max-Age=5", "=5", "max-age=@", "a=1,", "a=1,,b", ",a",
		"a=1234567890123456", "a=1.2345", "a=1234567890123.1", "a=1.", "a=-",
		`a="unterminated`, `a="bad\escape"`, "a=\"\x01\"", "a=:not base64!:", "a=?2", "a=?",
		"a=(1 2", "a=(1,2)", "a;=1", "a;B=1", "a b", "max-age=10000, &&&&&",
	} {
		if _, ok := parseSFDictionary(in); ok {
			t.Errorf("%q: accepted", in)
		}
	}
}

// RFC 9213 §2.1: a targeted field that does not parse as a Dictionary is
// ignored (the cache falls back to Cache-Control), even where a lenient
// reading would find a max-age in it.
func TestRFC9213_TargetedFieldStrictParse(t *testing.T) {
	for _, v := range []string{"max-age =100", "max-age= 100", "max-age=100,"} {
		h := http.Header{"Cdn-Cache-Control": {v}}
		if d, ok := parseTargeted(h, "CDN-Cache-Control"); ok {
			t.Errorf("%q: used as %+v", v, d)
		}
	}
	h := http.Header{"Cdn-Cache-Control": {"max-age=60", "no-cache, max-age=5"}}
	if d, ok := parseTargeted(h, "CDN-Cache-Control"); !ok || d.MaxAge != 5 || !d.NoCache {
		t.Errorf("two lines: %+v, %v", d, ok)
	}
	h = http.Header{"Cdn-Cache-Control": {`max-age="60", no-store=?0, private`}}
	if d, ok := parseTargeted(h, "CDN-Cache-Control"); !ok || d.MaxAge.Present() || d.NoStore || !d.Private {
		t.Errorf("typed values: %+v, %v", d, ok)
	}
	if _, ok := parseTargeted(http.Header{"Cdn-Cache-Control": {" "}}, "CDN-Cache-Control"); ok {
		t.Error("empty field used")
	}
}

func FuzzParseSFDictionary(f *testing.F) {
	for _, s := range []string{"max-age=60, no-store", `a="x\"", b=(1 2);q=?0`, "a=:AQ==:, b=1.5", "max-age =1", "a=(((", `a="\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := parseSFDictionary(s)
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if m.key == "" || seen[m.key] || strings.ToLower(m.key) != m.key {
				t.Fatalf("%q: bad member list %+v", s, ms)
			}
			seen[m.key] = true
			if !strings.Contains(s, m.key) {
				t.Fatalf("%q: key %q not in the input", s, m.key)
			}
		}
		// A valid dictionary stays valid with spaces around it, and
		// parses the same.
		ms2, ok2 := parseSFDictionary("  " + s + " ")
		if !ok2 || len(ms2) != len(ms) {
			t.Fatalf("%q: padding changed the parse", s)
		}
	})
}
