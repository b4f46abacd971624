// Package httpdate parses HTTP-date values (RFC 9110 §5.6.7) strictly, for
// every place edgekit reads a date: Date, Expires, Last-Modified,
// If-Modified-Since, If-Unmodified-Since and If-Range.
//
// net/http's ParseTime is built on time.Parse, which accepts runs of
// spaces and one-digit hours, minutes and seconds that the grammar
// forbids; RFC 9111 §5.3 makes such an Expires "already expired", so the
// difference decides whether a response is reused. Parse accepts exactly
// the three formats a recipient must accept (IMF-fixdate, rfc850-date and
// asctime-date) and is lenient only in letter case of the day name, the
// month and "GMT", as the best caches are. The day name is checked for
// syntax and otherwise ignored, as time.Parse does.
package httpdate

import "time"

var dayNames = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

var longDayNames = [7]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// Parse parses an HTTP-date. now resolves the two-digit year of the
// obsolete rfc850 format (RFC 9110 §5.6.7: a year more than 50 years in
// the future is the most recent past year with those digits). Optional
// white space around the value is ignored. It never panics.
func Parse(s string, now time.Time) (time.Time, bool) {
	s = trimOWS(s)
	if len(s) < 4 {
		return time.Time{}, false
	}
	if s[3] == ',' {
		return parseIMF(s)
	}
	if s[3] == ' ' {
		return parseASCTime(s)
	}
	return parseRFC850(s, now)
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseIMF: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes).
func parseIMF(s string) (time.Time, bool) {
	if len(s) != 29 || !isDayName(s[:3]) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' || !isGMT(s[26:]) {
		return time.Time{}, false
	}
	year, ok := digits(s[12:16])
	if !ok {
		return time.Time{}, false
	}
	return build(year, s[8:11], s[5:7], s[17:25])
}

// parseRFC850: "Sunday, 06-Nov-94 08:49:37 GMT".
func parseRFC850(s string, now time.Time) (time.Time, bool) {
	comma := -1
	for i := 0; i < len(s) && i < 10; i++ {
		if s[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 || !isLongDayName(s[:comma]) {
		return time.Time{}, false
	}
	r := s[comma+1:] // " 06-Nov-94 08:49:37 GMT" (23 bytes)
	if len(r) != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r[19] != ' ' || !isGMT(r[20:]) {
		return time.Time{}, false
	}
	yy, ok := digits(r[8:10])
	if !ok {
		return time.Time{}, false
	}
	limit := now.UTC().Year() + 50
	year := limit - ((limit-yy)%100+100)%100
	return build(year, r[4:7], r[1:3], r[11:19])
}

// parseASCTime: "Sun Nov  6 08:49:37 1994" (24 bytes).
func parseASCTime(s string) (time.Time, bool) {
	if len(s) != 24 || !isDayName(s[:3]) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	day := s[8:10]
	if day[0] == ' ' {
		day = day[1:] // "Nov  6": a one-digit day is padded with a space
	}
	year, ok := digits(s[20:24])
	if !ok {
		return time.Time{}, false
	}
	return build(year, s[4:7], day, s[11:19])
}

// build reads the month name ("Nov"), the day ("06" or "6") and the
// time of day ("08:49:37") every format has, checks the ranges and
// returns the UTC time.
func build(year int, mon, dd, tod string) (time.Time, bool) {
	if tod[2] != ':' || tod[5] != ':' {
		return time.Time{}, false
	}
	m := indexFold(mon, monthNames[:])
	day, ok1 := digits(dd)
	hour, ok2 := digits(tod[0:2])
	minute, ok3 := digits(tod[3:5])
	sec, ok4 := digits(tod[6:8])
	if m < 0 || !ok1 || !ok2 || !ok3 || !ok4 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	month := time.Month(m + 1)
	if day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	// A leap second (":60") is read as the last second of its minute,
	// so the result stays within the date it names.
	sec = min(sec, 59)
	return time.Date(year, month, day, hour, minute, sec, 0, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// digits parses a run of ASCII digits (no sign, no spaces).
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

// indexFold returns the index of s in names, compared without regard to
// ASCII case, or -1.
func indexFold(s string, names []string) int {
	for i, n := range names {
		if equalFold(s, n) {
			return i
		}
	}
	return -1
}

func isDayName(s string) bool     { return indexFold(s, dayNames[:]) >= 0 }
func isLongDayName(s string) bool { return indexFold(s, longDayNames[:]) >= 0 }

func isGMT(s string) bool { return equalFold(s, "GMT") }

// equalFold compares ASCII letters without regard to case.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
