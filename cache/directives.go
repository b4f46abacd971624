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
			if f, bit := d.seconds(name); f != nil {
				dup := seen&bit != 0
				seen |= bit
				switch {
				case name == "max-age" || name == "s-maxage":
					*f = d.parseFreshness(*f, value, hasValue, dup)
				case name == "max-stale" && !hasValue:
					*f = MaxStaleAny
				default:
					if v, ok := parseDelta(value); ok && hasValue && !dup {
						*f = v
					}
				}
				continue
			}
			if (name == "no-cache" || name == "private") && hasValue && unquote(value) != "" {
				// The qualified form names fields (RFC 9111 §5.2.2.4, §5.2.2.7).
				if name == "no-cache" {
					d.NoCacheFields = append(d.NoCacheFields, fieldNames(value)...)
				} else {
					d.PrivateFields = append(d.PrivateFields, fieldNames(value)...)
				}
				continue
			}
			if f := d.flag(name); f != nil {
				*f = true
			}
		}
	}
	return d
}

// seconds returns the field of d that the delta-seconds directive name
// sets, and a bit of its own to find duplicates; nil for other names.
func (d *Directives) seconds(name string) (*Seconds, uint16) {
	switch name {
	case "max-age":
		return &d.MaxAge, 1
	case "s-maxage":
		return &d.SMaxAge, 2
	case "max-stale":
		return &d.MaxStale, 4
	case "min-fresh":
		return &d.MinFresh, 8
	case "stale-while-revalidate":
		return &d.StaleWhileRevalidate, 16
	case "stale-if-error":
		return &d.StaleIfError, 32
	}
	return nil, 0
}

// flag returns the field of d that the valueless directive name sets;
// nil for other names.
func (d *Directives) flag(name string) *bool {
	switch name {
	case "no-store":
		return &d.NoStore
	case "no-cache":
		return &d.NoCache
	case "private":
		return &d.Private
	case "public":
		return &d.Public
	case "must-revalidate":
		return &d.MustRevalidate
	case "proxy-revalidate":
		return &d.ProxyRevalidate
	case "must-understand":
		return &d.MustUnderstand
	case "no-transform":
		return &d.NoTransform
	case "only-if-cached":
		return &d.OnlyIfCached
	case "immutable":
		return &d.Immutable
	}
	return nil
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
		return cur // a duplicate keeps the first value, as §4.2.1 allows
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
		// The directives mean what they mean in Cache-Control (RFC 9213
		// §2.1); a qualified no-cache or private ("...") counts unqualified.
		if f, _ := d.seconds(m.key); f != nil {
			*f = secs
		} else if f := d.flag(m.key); f != nil {
			*f = true
		}
	}
	return d, true
}
