package cache

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/edgekit/edgekit/internal/fieldlist"
)

// maxDelta is the value a cache uses for a delta-seconds that overflows:
// RFC 9111 §1.2.2 says 2147483648 (2^31).
const maxDelta = fieldlist.MaxDelta

// Seconds is a delta-seconds directive value: -1 when the directive is
// absent, otherwise 0..2^31.
type Seconds int64

// Present reports whether the directive was given.
func (s Seconds) Present() bool { return s >= 0 }

// Directives is a parsed Cache-Control (or targeted, RFC 9213) field. The
// zero value is not meaningful; use ParseDirectives. Request and response
// directives share the type; each side reads the fields that apply to it
// (RFC 9111 §5.2).
type Directives struct {
	MaxAge, SMaxAge Seconds // max-age, s-maxage
	// MaxStale is the request's max-stale: -1 absent; MaxStaleAny when
	// given without a value (any staleness is acceptable).
	MaxStale             Seconds
	MinFresh             Seconds
	StaleWhileRevalidate Seconds // RFC 5861 §3
	StaleIfError         Seconds // RFC 5861 §4, request or response

	NoStore, NoCache, Private, Public bool
	MustRevalidate, ProxyRevalidate   bool
	MustUnderstand, NoTransform       bool
	OnlyIfCached, Immutable           bool
	NoCacheFields, PrivateFields      []string // qualified forms, canonical names
	// Invalid is set when a freshness directive (max-age, s-maxage) had an
	// invalid or conflicting value; RFC 9111 §4.2.1 encourages treating
	// such a response as stale.
	Invalid bool
}

// MaxStaleAny is Directives.MaxStale for a max-stale without a value.
const MaxStaleAny Seconds = maxDelta

func newDirectives() Directives {
	return Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
}

// ParseDirectives parses the values of one or more Cache-Control field
// lines. It never fails: unknown directives are ignored (RFC 9111 §5.2.3),
// and malformed ones get the conservative reading: an invalid max-age or
// s-maxage marks the response stale, a duplicated one keeps its first
// value (§4.2.1), values that overflow are capped at 2^31 (§1.2.2), and
// quoted forms of token-valued directives are accepted.
func ParseDirectives(lines []string) Directives {
	d := newDirectives()
	var seen uint16 // bit per freshness-bearing directive already seen
	for _, line := range lines {
		for _, item := range splitList(line) {
			name, value, hasValue := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = strings.TrimSpace(value)
			if name == "" {
				continue
			}
			bit := directiveBit(name)
			dup := seen&bit != 0
			seen |= bit
			switch name {
			case "max-age":
				d.MaxAge = d.parseFreshness(d.MaxAge, value, hasValue, dup)
			case "s-maxage":
				d.SMaxAge = d.parseFreshness(d.SMaxAge, value, hasValue, dup)
			case "max-stale":
				if !hasValue {
					d.MaxStale = MaxStaleAny
				} else if v, ok := parseDelta(value); ok && !dup {
					d.MaxStale = v
				}
			case "min-fresh":
				if v, ok := parseDelta(value); ok && hasValue && !dup {
					d.MinFresh = v
				}
			case "stale-while-revalidate":
				if v, ok := parseDelta(value); ok && hasValue && !dup {
					d.StaleWhileRevalidate = v
				}
			case "stale-if-error":
				if v, ok := parseDelta(value); ok && hasValue && !dup {
					d.StaleIfError = v
				}
			case "no-store":
				d.NoStore = true
			case "no-cache":
				if hasValue && unquote(value) != "" {
					d.NoCacheFields = append(d.NoCacheFields, fieldNames(value)...)
				} else {
					d.NoCache = true
				}
			case "private":
				if hasValue && unquote(value) != "" {
					d.PrivateFields = append(d.PrivateFields, fieldNames(value)...)
				} else {
					d.Private = true
				}
			case "public":
				d.Public = true
			case "must-revalidate":
				d.MustRevalidate = true
			case "proxy-revalidate":
				d.ProxyRevalidate = true
			case "must-understand":
				d.MustUnderstand = true
			case "no-transform":
				d.NoTransform = true
			case "only-if-cached":
				d.OnlyIfCached = true
			case "immutable":
				d.Immutable = true
			}
		}
	}
	return d
}

func directiveBit(name string) uint16 {
	switch name {
	case "max-age":
		return 1
	case "s-maxage":
		return 2
	case "max-stale":
		return 4
	case "min-fresh":
		return 8
	case "stale-while-revalidate":
		return 16
	case "stale-if-error":
		return 32
	}
	return 0
}

func (d *Directives) parseFreshness(cur Seconds, value string, hasValue, dup bool) Seconds {
	v, ok := parseDelta(value)
	if !hasValue || !ok {
		d.Invalid = true
		if cur.Present() {
			return cur
		}
		return 0
	}
	if dup {
		if cur != v {
			// Conflicting duplicates: keep the first, as §4.2.1 allows.
			return cur
		}
		return cur
	}
	return v
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2), accepting a quoted
// form, capping overflow at 2^31 and refusing anything but digits.
func parseDelta(s string) (Seconds, bool) {
	v, ok := fieldlist.DeltaSeconds(unquote(s))
	return Seconds(v), ok
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `\`, "")
	}
	return s
}

func fieldNames(v string) []string {
	var out []string
	for _, f := range strings.Split(unquote(v), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, textproto.CanonicalMIMEHeaderKey(f))
		}
	}
	return out
}

// splitList splits a comma-separated field value, honouring quoted strings.
func splitList(s string) []string { return fieldlist.Split(s, ',') }

// parseTargeted parses an RFC 9213 targeted field (a Structured Fields
// Dictionary, RFC 8941). It reports ok == false when the field is absent,
// empty or not a valid dictionary, in which case RFC 9213 §2.1 says to
// ignore it and fall back to Cache-Control. Several field lines are one
// dictionary (RFC 8941 §4.2: joined with commas). A directive whose value
// has the wrong type (max-age="60", max-age=1.5) is ignored, the rest of the
// field kept; a negative max-age fails the whole field, as Cache-Control's
// parser treats it as invalid.
func parseTargeted(h http.Header, name string) (Directives, bool) {
	lines := h.Values(name)
	if len(lines) == 0 {
		return Directives{}, false
	}
	members, ok := parseSFDictionary(strings.Join(lines, ","))
	if !ok || len(members) == 0 {
		return Directives{}, false
	}
	d := newDirectives()
	for _, m := range members {
		if m.kind == sfBoolean && !m.b {
			continue // a false boolean is no directive
		}
		var secs Seconds = -1
		if m.kind == sfInteger {
			if m.n < 0 {
				return Directives{}, false
			}
			secs = Seconds(min(m.n, maxDelta))
		}
		switch m.key {
		case "max-age":
			d.MaxAge = secs
		case "s-maxage":
			d.SMaxAge = secs
		case "stale-while-revalidate":
			d.StaleWhileRevalidate = secs
		case "stale-if-error":
			d.StaleIfError = secs
		case "no-store":
			d.NoStore = true
		case "no-cache":
			d.NoCache = true
		case "private":
			d.Private = true
		case "public":
			d.Public = true
		case "must-revalidate":
			d.MustRevalidate = true
		case "proxy-revalidate":
			d.ProxyRevalidate = true
		}
	}
	return d, true
}
