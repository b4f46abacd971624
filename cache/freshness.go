package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/httpdate"
)

// heuristicStatus lists the status codes that are heuristically cacheable
// by default (RFC 9110 §15.1, RFC 9111 §4.2.2).
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus lists the final status codes whose caching semantics
// this cache implements (used for must-understand, RFC 9111 §5.2.2.3).
// 206 (partial content) and 304 are never stored as such.
func understoodStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 500, 501, 502, 503, 504:
		return true
	}
	return false
}

// parseAge reads the Age field per RFC 9111 §5.1: the first member of a
// list is used, and an invalid value is ignored (0).
func parseAge(h http.Header) time.Duration {
	v := h.Get("Age")
	if v == "" {
		return 0
	}
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	// A parameter ("7200;foo=bar") does not hide the value.
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	s, ok := parseDelta(strings.TrimSpace(v))
	if !ok || strings.HasPrefix(strings.TrimSpace(v), `"`) {
		return 0
	}
	return time.Duration(s) * time.Second
}

// dateOf returns the Date field, or fallback when it is absent or invalid.
func dateOf(h http.Header, fallback time.Time) time.Time {
	if v := h.Get("Date"); v != "" {
		if t, ok := httpdate.Parse(v, fallback); ok {
			return t
		}
	}
	return fallback
}

// currentAge implements RFC 9111 §4.2.3.
func currentAge(h http.Header, requestTime, responseTime, now time.Time) time.Duration {
	apparent := responseTime.Sub(dateOf(h, responseTime))
	if apparent < 0 {
		apparent = 0
	}
	responseDelay := responseTime.Sub(requestTime)
	if responseDelay < 0 {
		responseDelay = 0
	}
	correctedAge := parseAge(h) + responseDelay
	initial := max(apparent, correctedAge)
	resident := now.Sub(responseTime)
	if resident < 0 {
		resident = 0
	}
	return initial + resident
}

// lifetime computes the freshness lifetime (RFC 9111 §4.2.1) and whether
// it is heuristic (§4.2.2). d are the directives in force (targeted or
// Cache-Control).
func (c *HTTPCache) lifetime(status int, h http.Header, d Directives, responseTime time.Time) (time.Duration, bool) {
	if c.shared && d.SMaxAge.Present() {
		return time.Duration(d.SMaxAge) * time.Second, false
	}
	if d.MaxAge.Present() {
		return time.Duration(d.MaxAge) * time.Second, false
	}
	if d.Invalid {
		return 0, false
	}
	if exp := h.Values("Expires"); len(exp) > 0 {
		// §5.3: an invalid date, "0" included, means already expired; so
		// do conflicting duplicates (§4.2.1).
		if len(exp) > 1 {
			return 0, false
		}
		t, ok := httpdate.Parse(exp[0], responseTime)
		if !ok {
			return 0, false
		}
		life := t.Sub(dateOf(h, responseTime)) // saturates, as far futures need
		if life < 0 {
			life = 0
		}
		return life, false
	}
	if !heuristicStatus(status) && !d.Public {
		return 0, false
	}
	lm := h.Get("Last-Modified")
	if lm == "" || c.heuristicFraction <= 0 {
		return 0, false
	}
	lmt, ok := httpdate.Parse(lm, responseTime)
	if !ok {
		return 0, false
	}
	since := dateOf(h, responseTime).Sub(lmt)
	if since <= 0 {
		return 0, false
	}
	life := time.Duration(float64(since) * c.heuristicFraction)
	if life > c.heuristicMax {
		life = c.heuristicMax
	}
	return life, true
}

// formatAge renders an Age value in whole seconds, capped per §1.2.2.
func formatAge(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	if s > maxDelta {
		s = maxDelta
	}
	return strconv.FormatInt(s, 10)
}
