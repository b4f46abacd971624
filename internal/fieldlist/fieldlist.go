// Package fieldlist reads the list-valued HTTP fields that carry
// directives, Cache-Control (RFC 9111 §5.2) and Surrogate-Control (W3C
// Edge Architecture 1.0): it splits a field value into its members
// outside quoted strings (RFC 9110 §5.6.1, §5.6.4) and reads
// delta-seconds (RFC 9111 §1.2.2). Package cache and package surrogate
// both call it, so the two read directive lists the same way.
package fieldlist

import (
	"strconv"
	"strings"
)

// MaxDelta is the value of a delta-seconds that overflows: RFC 9111
// §1.2.2 says a cache uses 2147483648 (2^31).
const MaxDelta = 1 << 31

// Split splits a field value at sep outside quoted strings (a backslash
// inside quotes escapes the next byte, RFC 9110 §5.6.4), trims white space
// around each member and drops empty members (RFC 9110
// §5.6.1: a recipient ignores them).
func Split(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = appendMember(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start <= len(s) {
		out = appendMember(out, s[start:])
	}
	return out
}

func appendMember(out []string, m string) []string {
	if m = strings.TrimSpace(m); m != "" {
		out = append(out, m)
	}
	return out
}

// DeltaSeconds parses delta-seconds (RFC 9111 §1.2.2): digits only,
// capped at MaxDelta when the value overflows. ok is false for an empty
// value or one with anything but digits.
func DeltaSeconds(s string) (v int64, ok bool) {
	if s == "" {
		return -1, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1, false
		}
	}
	if len(s) > 10 {
		return MaxDelta, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > MaxDelta {
		return MaxDelta, true
	}
	return v, true
}
