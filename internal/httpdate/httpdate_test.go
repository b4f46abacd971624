package httpdate

import (
	"net/http"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

// TestParseRFC9110Section5_6_7 checks the three formats a recipient must
// accept and the malformed values it must not (cache-tests expires-parse).
func TestParseRFC9110Section5_6_7(t *testing.T) {
	d := func(y int, m time.Month, day, h, mi, s int) time.Time {
		return time.Date(y, m, day, h, mi, s, 0, time.UTC)
	}
	valid := []struct {
		in   string
		want time.Time
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", d(1994, 11, 6, 8, 49, 37)},
		{"Sunday, 06-Nov-94 08:49:37 GMT", d(1994, 11, 6, 8, 49, 37)},
		{"Sun Nov  6 08:49:37 1994", d(1994, 11, 6, 8, 49, 37)},
		{"Sun Nov 16 08:49:37 1994", d(1994, 11, 16, 8, 49, 37)},
		{"Tue, 19 Jan 2038 14:14:08 GMT", d(2038, 1, 19, 14, 14, 8)},
		{"Sun, 21 Nov 2286 04:46:39 GMT", d(2286, 11, 21, 4, 46, 39)},
		{"Thursday, 18-Aug-50 02:01:18 GMT", d(2050, 8, 18, 2, 1, 18)},
		{"Thursday, 18-Aug-77 02:01:18 GMT", d(1977, 8, 18, 2, 1, 18)}, // 2077 is > 50 years ahead
		{"Thursday, 18-Aug-76 02:01:18 GMT", d(2076, 8, 18, 2, 1, 18)},
		{"Thu Aug  8 02:01:18 2050", d(2050, 8, 8, 2, 1, 18)},
		// Letter case of names and GMT is not held against a value.
		{"THU, 18 Aug 2050 02:01:18 GMT", d(2050, 8, 18, 2, 1, 18)},
		{"Thu, 18 AUG 2050 02:01:18 GMT", d(2050, 8, 18, 2, 1, 18)},
		{"Thu, 18 Aug 2050 02:01:18 gMT", d(2050, 8, 18, 2, 1, 18)},
		{" Thu, 18 Aug 2050 02:01:18 GMT\t", d(2050, 8, 18, 2, 1, 18)},
		{"Thu, 29 Feb 2024 00:00:00 GMT", d(2024, 2, 29, 0, 0, 0)},
	}
	for _, c := range valid {
		got, ok := Parse(c.in, now)
		if !ok || !got.Equal(c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, ok, c.want)
		}
	}
	invalid := []string{
		"", "0", "-1", "now",
		"Thu, 18 Aug 2050 02:01:18 UTC",
		"Thu, 18 Aug 2050 02:01:18 AEST",
		"Thu, 18 Aug 50 02:01:18 GMT",
		"Thu 18 Aug 2050 02:01:18 GMT",
		"Thu, 18  Aug  2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02:01:18  GMT",
		"Thu, 18-Aug-2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02.01.18 GMT",
		"Thu, 18 Aug 2050 2:01:18 GMT",
		"Thu, 8 Aug 2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 24:00:00 GMT",
		"Thu, 18 Aug 2050 23:60:00 GMT",
		"Thu, 30 Feb 2050 00:00:00 GMT",
		"Thu, 00 Aug 2050 00:00:00 GMT",
		"Thu, 18 Aug 2050 02:01:18 +0000",
		"Thu, 18 Aug 2050 02:01:18",
		"Thu, +1 Aug 2050 02:01:18 GMT",
		"Xyz, 18 Aug 2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 02:01:18 GMT x",
		"Thurs, 18-Aug-50 02:01:18 GMT",
		"Thursday, 18-Aug-2050 02:01:18 GMT",
		"Thursday, 18 Aug 50 02:01:18 GMT",
		"Thu Aug 8 02:01:18 2050",
		"Thu Aug  8 02:01:18 2050 GMT",
		"Thu Aug  8  2:01:18 2050",
	}
	for _, in := range invalid {
		if got, ok := Parse(in, now); ok {
			t.Errorf("Parse(%q) = %v, accepted; want rejected", in, got)
		}
	}
}

// TestParseStricterThanNetHTTP pins the reason this package exists: values
// http.ParseTime accepts against the grammar.
func TestParseStricterThanNetHTTP(t *testing.T) {
	for _, in := range []string{"Thu, 18  Aug  2050 02:01:18 GMT", "Thu, 18 Aug 2050 2:01:18 GMT"} {
		if _, err := http.ParseTime(in); err != nil {
			t.Fatalf("net/http now rejects %q; this test's premise is gone", in)
		}
		if _, ok := Parse(in, now); ok {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
}

// FuzzParse: no panic; an accepted value round-trips through IMF-fixdate,
// and an accepted IMF-fixdate is what net/http reads too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Thu, 18  Aug  2050 02:01:18 GMT", "Thu, 18 Aug 2050 2:01:18 GMT", "Sun, 21 Nov 2286 04:46:39 GMT",
		"Wed, 31 Dec 9999 23:59:60 GMT", "Mon, 01 Jan 0000 00:00:00 gmt", "0", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Parse(s, now)
		if !ok {
			return
		}
		imf := got.Format(http.TimeFormat)
		again, ok := Parse(imf, now)
		if !ok || !again.Equal(got) {
			t.Fatalf("Parse(%q) = %v; its IMF-fixdate %q gives %v, %v", s, got, imf, again, ok)
		}
		if len(s) == 29 && s[3] == ',' {
			std, err := http.ParseTime(s)
			if err == nil && !std.Equal(got) {
				t.Fatalf("Parse(%q) = %v; net/http reads %v", s, got, std)
			}
		}
	})
}
