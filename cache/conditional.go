package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/httpdate"
)

// Answering a client's conditional and Range requests from a stored 200
// (RFC 9111 §4.3.2, RFC 9110 §13 and §14). http.ServeContent is not used:
// it adds a Last-Modified the origin never sent (Date standing in) and
// Accept-Ranges, and the node must send only what the stored response
// carries plus what RFC 9110 §15.4.5 and §15.3.7 require.

// precondition evaluates the request's preconditions against the stored
// header in the order of RFC 9110 §13.2.2 and returns 304, 412, or 0 to
// go on. now reads two-digit rfc850 years.
func precondition(r *http.Request, stored http.Header, now time.Time) int {
	etag := stored.Get("Etag")
	var mod time.Time
	hasMod := false
	if lm := stored.Get("Last-Modified"); lm != "" {
		mod, hasMod = httpdate.Parse(lm, now)
	}
	rh := r.Header
	if im := rh.Get("If-Match"); im != "" {
		if !matchETag(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius := rh.Get("If-Unmodified-Since"); ius != "" && hasMod {
		if t, ok := httpdate.Parse(ius, now); ok && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := rh.Get("If-None-Match"); inm != "" {
		if matchETag(inm, etag, false) {
			return http.StatusNotModified // GET and HEAD only reach here
		}
		return 0
	}
	if ims := rh.Get("If-Modified-Since"); ims != "" {
		last, ok := mod, hasMod
		if !ok && etag == "" {
			// Without validators the stored Date stands in for
			// Last-Modified (RFC 9111 §4.3.2).
			last, ok = httpdate.Parse(stored.Get("Date"), now)
		}
		if t, valid := httpdate.Parse(ims, now); ok && valid && !last.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// matchETag reports whether the list of entity-tags (or "*") in a
// conditional field matches etag, with strong comparison for If-Match and
// weak for If-None-Match (RFC 9110 §8.8.3.2).
func matchETag(list, etag string, strong bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true // a stored representation exists
	}
	if etag == "" || (strong && strings.HasPrefix(etag, "W/")) {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for s := list; s != ""; {
		s = strings.TrimLeft(s, " \t,")
		weak := strings.HasPrefix(s, "W/")
		if weak {
			s = s[2:]
		}
		if !strings.HasPrefix(s, `"`) {
			return false // malformed: nothing further is trusted
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return false
		}
		tag := s[:end+2]
		s = s[end+2:]
		if tag == want && !(strong && weak) {
			return true
		}
	}
	return false
}

// byteRange is a satisfiable single range [start, end] of a body.
type byteRange struct{ start, end int64 }

// rangeOf decides a GET's Range against a stored body of size n: ok false
// means serve the whole body (no Range, an If-Range that does not match,
// several ranges, or a range unit or syntax not understood, all of which
// RFC 9110 §14.2 lets a server ignore); unsatisfiable means 416.
func rangeOf(r *http.Request, stored http.Header, n int64, now time.Time) (br byteRange, ok, unsatisfiable bool) {
	spec := r.Header.Get("Range")
	if spec == "" || r.Method != http.MethodGet {
		return br, false, false
	}
	if ir := r.Header.Get("If-Range"); ir != "" && !ifRangeMatches(ir, stored, now) {
		return br, false, false
	}
	unit, set, found := strings.Cut(spec, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		return br, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(set), "-")
	if !found {
		return br, false, false
	}
	if first == "" { // suffix: the last N bytes
		suffix, err := strconv.ParseInt(last, 10, 64)
		if err != nil || last[0] == '+' || suffix < 0 {
			return br, false, false
		}
		if suffix == 0 || n == 0 {
			return br, false, true
		}
		return byteRange{max(n-suffix, 0), n - 1}, true, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || first[0] == '+' || start < 0 {
		return br, false, false
	}
	end := n - 1
	if last != "" {
		e, err := strconv.ParseInt(last, 10, 64)
		if err != nil || last[0] == '+' || e < start {
			return br, false, false
		}
		end = min(e, n-1)
	}
	if start >= n {
		return br, false, true
	}
	return byteRange{start, end}, true, false
}

// ifRangeMatches applies If-Range (RFC 9110 §13.1.5): a strong entity-tag
// match, or a date equal to a Last-Modified that is a strong validator.
func ifRangeMatches(v string, stored http.Header, now time.Time) bool {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		etag := stored.Get("Etag")
		return !strings.HasPrefix(v, "W/") && etag != "" && !strings.HasPrefix(etag, "W/") && v == etag
	}
	lm, ok := httpdate.Parse(stored.Get("Last-Modified"), now)
	if !ok {
		return false
	}
	t, ok := httpdate.Parse(v, now)
	if !ok || !t.Equal(lm) {
		return false
	}
	// §8.8.2.2: Last-Modified is strong only a second or more before Date.
	date, ok := httpdate.Parse(stored.Get("Date"), now)
	return ok && date.Sub(lm) >= time.Second
}

// notModifiedDrop lists what a 304 leaves out: RFC 9110 §15.4.5 has a
// sender keep Content-Location, Date, ETag, Vary, Cache-Control and
// Expires (and what else guides a cache's update) but not generate other
// representation metadata, nor content framing.
var notModifiedDrop = []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Language", "Content-Range", "Content-Md5", "Transfer-Encoding"}

// writeConditional answers a request carrying preconditions or Range
// from a stored 200 and reports whether it did; false means send the
// full response as usual. h already holds the stored fields.
func writeConditional(w http.ResponseWriter, r *http.Request, h, stored http.Header, body []byte, now time.Time) bool {
	switch code := precondition(r, stored, now); code {
	case http.StatusNotModified, http.StatusPreconditionFailed:
		for _, f := range notModifiedDrop {
			delete(h, f)
		}
		if code == http.StatusPreconditionFailed {
			h["Content-Length"] = []string{"0"}
		}
		w.WriteHeader(code)
		return true
	}
	n := int64(len(body))
	br, ok, unsatisfiable := rangeOf(r, stored, n, now)
	switch {
	case unsatisfiable:
		delete(h, "Content-Type")
		delete(h, "Content-Encoding")
		h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(n, 10)}
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return true
	case ok:
		h["Content-Range"] = []string{"bytes " + strconv.FormatInt(br.start, 10) + "-" + strconv.FormatInt(br.end, 10) + "/" + strconv.FormatInt(n, 10)}
		h["Content-Length"] = []string{strconv.FormatInt(br.end-br.start+1, 10)}
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body[br.start : br.end+1])
		return true
	}
	return false
}
