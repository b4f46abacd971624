package surrogate

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/edgekit/edgekit/internal/fieldlist"
)

// Header field names that carry surrogate keys.
const (
	SurrogateKey = "Surrogate-Key" // space-separated (Fastly)
	CacheTag     = "Cache-Tag"     // comma-separated (Cloudflare)
	XKey         = "Xkey"          // space-separated (Varnish xkey)
	XKeyAlt      = "X-Key"         // space-separated (Varnish xkey)
)

// KeyConfig says which fields carry keys and bounds them. The zero value
// reads all four fields, at most 256 keys of at most 1024 bytes.
// A plain value, safe for concurrent use while no goroutine changes it.
type KeyConfig struct {
	// Fields lists the key fields to read. Nil means all of SurrogateKey,
	// CacheTag, XKey and XKeyAlt.
	Fields []string
	// MaxKeys bounds the keys read from one response. Zero means 256.
	MaxKeys int
	// MaxKeyLen bounds one key's length in bytes. Zero means 1024.
	MaxKeyLen int
}

// ParseKeys returns the distinct surrogate keys in h, in order of first
// appearance. It returns the keys it could read together with an error
// wrapping ErrTooManyKeys or ErrKeyTooLong when limits were hit.
func ParseKeys(h http.Header, cfg KeyConfig) ([]string, error) {
	fields := cfg.Fields
	if fields == nil {
		fields = []string{SurrogateKey, CacheTag, XKey, XKeyAlt}
	}
	maxKeys, maxLen := cfg.MaxKeys, cfg.MaxKeyLen
	if maxKeys <= 0 {
		maxKeys = 256
	}
	if maxLen <= 0 {
		maxLen = 1024
	}
	var keys []string
	var seen map[string]struct{}
	var err error
	for _, f := range fields {
		sep := func(r rune) bool { return r == ' ' || r == '\t' }
		if http.CanonicalHeaderKey(f) == CacheTag {
			sep = func(r rune) bool { return r == ',' }
		}
		for _, line := range h.Values(f) {
			for _, raw := range strings.FieldsFunc(line, sep) {
				k := decodeKey(strings.TrimSpace(raw))
				if k == "" {
					continue
				}
				if len(k) > maxLen {
					err = fmt.Errorf("%w: %d bytes (limit %d)", ErrKeyTooLong, len(k), maxLen)
					continue
				}
				if _, dup := seen[k]; dup {
					continue
				}
				if len(keys) >= maxKeys {
					return keys, fmt.Errorf("%w: limit %d", ErrTooManyKeys, maxKeys)
				}
				if seen == nil {
					seen = map[string]struct{}{}
				}
				seen[k] = struct{}{}
				keys = append(keys, k)
			}
		}
	}
	return keys, err
}

// decodeKey percent-decodes a key when it holds valid escapes that decode
// to valid UTF-8, and returns it unchanged otherwise.
func decodeKey(k string) string {
	if !strings.Contains(k, "%") {
		return k
	}
	d, err := url.PathUnescape(k)
	if err != nil || !utf8.ValidString(d) {
		return k
	}
	return d
}

// Control is a parsed Surrogate-Control field (W3C Edge Architecture 1.0)
// as it applies to one device.
// A plain value, safe for concurrent use while no goroutine changes it.
type Control struct {
	// MaxAge is the freshness lifetime in seconds, -1 when absent. Values
	// that overflow are capped at 2^31.
	MaxAge int64
	// Stale is the "+stale" extension of max-age (seconds the response
	// may be served stale), -1 when absent.
	Stale int64
	// NoStore forbids storing; NoStoreRemote forbids storing in caches
	// that are not close to the origin.
	NoStore, NoStoreRemote bool
	// Content lists the content capabilities the response requires.
	Content []string
}

// maxDelta caps an overflowing delta-seconds (RFC 9111 §1.2.2).
const maxDelta = fieldlist.MaxDelta

// ParseControl parses Surrogate-Control field values for the device named
// device (an empty device reads only untargeted directives). Directives
// targeted at another device ("max-age=60;other") are ignored, as are
// malformed ones: a directive name and "=" must not be separated by white
// space, nor "=" and its value. ok reports whether any directive applied.
func ParseControl(values []string, device string) (c Control, ok bool) {
	c = Control{MaxAge: -1, Stale: -1}
	for _, line := range values {
		for _, item := range fieldlist.Split(line, ',') {
			if i := strings.LastIndexByte(item, ';'); i >= 0 && !strings.Contains(item[i:], `"`) {
				target := strings.TrimSpace(item[i+1:])
				item = strings.TrimSpace(item[:i])
				if target != "" && !strings.EqualFold(target, device) {
					continue
				}
			}
			name, value, hasValue := strings.Cut(item, "=")
			if name != strings.TrimRight(name, " \t") || (hasValue && value != strings.TrimLeft(value, " \t")) {
				continue // "max-age =1" and "max-age= 1" are malformed
			}
			switch strings.ToLower(name) {
			case "max-age":
				if !hasValue {
					continue
				}
				fresh, stale, _ := strings.Cut(value, "+")
				f, okF := fieldlist.DeltaSeconds(fresh)
				if !okF {
					continue
				}
				c.MaxAge, ok = f, true
				if s, okS := fieldlist.DeltaSeconds(stale); okS {
					c.Stale = s
				}
			case "no-store":
				c.NoStore, ok = true, true
			case "no-store-remote":
				c.NoStoreRemote, ok = true, true
			case "content":
				if hasValue {
					c.Content = append(c.Content, strings.Fields(strings.Trim(value, `"`))...)
					ok = true
				}
			}
		}
	}
	return c, ok
}

// StripHeaders removes Surrogate-Control and the key fields from a header
// sent to clients, which have no use for them: the fields HeaderFields
// names.
func StripHeaders(h http.Header) {
	for _, f := range HeaderFields() {
		delete(h, f)
	}
}

// HeaderFields returns the canonical names of the fields Surrogate-Control
// and surrogate keys travel in (Surrogate-Control, Surrogate-Key,
// Cache-Tag, Xkey, X-Key), which StripHeaders removes. Each call returns a
// new slice.
func HeaderFields() []string {
	return []string{"Surrogate-Control", SurrogateKey, CacheTag, XKey, XKeyAlt}
}
