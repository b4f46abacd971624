package fieldlist

import (
	"slices"
	"strings"
	"testing"
)

// RFC 9110 §5.6.1: empty list members are ignored; §5.6.4: a comma inside
// a quoted string, or an escaped quote, does not end a member.
func TestSplitRFC9110Section5_6(t *testing.T) {
	for in, want := range map[string][]string{
		"":                             nil,
		" , ,":                         nil,
		"max-age=60, no-cache":         {"max-age=60", "no-cache"},
		`private="a, b", public`:       {`private="a, b"`, "public"},
		`no-cache="x\", y", max-age=1`: {`no-cache="x\", y"`, "max-age=1"},
		"a,,\tb\t,":                    {"a", "b"},
		`unterminated="a, b`:           {`unterminated="a, b`},
	} {
		if got := Split(in, ','); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Split("a;b;c", ';'); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Split with ';' = %q", got)
	}
}

// RFC 9111 §1.2.2: delta-seconds is digits only; a value too large is
// read as 2^31.
func TestDeltaSecondsRFC9111Section1_2_2(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"60", 60, true},
		{"2147483648", MaxDelta, true},
		{"2147483649", MaxDelta, true},
		{"99999999999999999999999", MaxDelta, true},
		{"", -1, false},
		{"-1", -1, false},
		{"+1", -1, false},
		{"1.5", -1, false},
		{" 1", -1, false},
	} {
		if v, ok := DeltaSeconds(tc.in); v != tc.want || ok != tc.ok {
			t.Errorf("DeltaSeconds(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.want, tc.ok)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"max-age=60, no-cache", `private="a, b", public`, `a="\"",b`, ",,", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range Split(s, ',') {
			if m == "" || m != strings.TrimSpace(m) || !strings.Contains(s, m) {
				t.Fatalf("Split(%q): bad member %q", s, m)
			}
		}
	})
}

func FuzzDeltaSeconds(f *testing.F) {
	for _, s := range []string{"0", "60", "2147483648", "", "-1", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := DeltaSeconds(s)
		if ok != (v >= 0) || v > MaxDelta {
			t.Fatalf("DeltaSeconds(%q) = %d, %v", s, v, ok)
		}
	})
}
