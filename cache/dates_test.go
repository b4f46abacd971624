package cache

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// TestRFC9111_5_3_InvalidExpiresIsAlreadyExpired: HTTP-date is parsed per
// RFC 9110 §5.6.7; values http.ParseTime tolerates (runs of spaces, a
// one-digit hour, a two-digit year in IMF form) are invalid, so expired.
func TestRFC9111_5_3_InvalidExpiresIsAlreadyExpired(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	date := fc.Now().UTC().Format(http.TimeFormat)
	c, _ := New(Config{Shared: true, Now: fc.Now})
	for _, exp := range []string{
		"Thu, 18  Aug  2050 02:01:18 GMT",
		"Thu, 18 Aug 2050 2:01:18 GMT",
		"Thu, 18 Aug 50 02:01:18 GMT",
		"Thu, 18 Aug 2050 02:01:18 UTC",
	} {
		h := http.Header{"Date": {date}, "Expires": {exp}}
		if got, _ := c.lifetime(200, h, c.directives(h), fc.Now()); got != 0 {
			t.Errorf("Expires %q: lifetime %v, want 0 (already expired)", exp, got)
		}
	}
	for _, exp := range []string{
		"Thu, 18 Aug 2050 02:01:18 gMT",
		"Thursday, 18-Aug-50 02:01:18 GMT",
		"Thu Aug 18 02:01:18 2050",
	} {
		h := http.Header{"Date": {date}, "Expires": {exp}}
		if got, _ := c.lifetime(200, h, c.directives(h), fc.Now()); got <= 0 {
			t.Errorf("Expires %q: lifetime %v, want the time until 2050", exp, got)
		}
	}
}

// TestRFC9111_5_3_FarFutureExpiresIsStored: an Expires after 2262 (past
// time.Time's UnixNano range) must not overflow into "expired at once".
func TestRFC9111_5_3_FarFutureExpiresIsStored(t *testing.T) {
	h := newHarness(t, Config{Shared: true})
	o := newOrigin(t, h.fc, counter("Expires", "Sun, 21 Nov 2286 04:46:39 GMT"))
	h.get(o.URL)
	h.fc.Advance(time.Hour)
	if r := h.get(o.URL); r.xcache != "HIT" || r.body != "body 1" {
		t.Fatalf("Expires in 2286: %+v, want a HIT", r)
	}
	// max-age at the RFC 9111 §1.2.2 cap too.
	o.Set(counter("Cache-Control", "max-age=2147483648"))
	h.get(o.URL + "/cap")
	h.fc.Advance(time.Hour)
	if r := h.get(o.URL + "/cap"); r.xcache != "HIT" {
		t.Fatalf("max-age=2^31: %+v, want a HIT", r)
	}
}

// TestLookupResponseStatusLine: http.Response.Status is "200 OK", as
// net/http's client sets it, not the reason phrase alone.
func TestLookupResponseStatusLine(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=60"))
	h.get(o.URL)
	req, _ := http.NewRequest(http.MethodGet, o.URL, nil)
	l := h.cache.Lookup(req)
	resp := l.Response(req)
	resp.Body.Close()
	if resp.Status != "200 OK" {
		t.Fatalf("Status %q, want \"200 OK\"", resp.Status)
	}
}
