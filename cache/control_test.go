package cache

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// RFC 9213 §2.1 (as an edge reads Surrogate-Control): directives the
// caller hands over in Exchange.Control take the place of the response's
// Cache-Control in a shared cache, keep doing so after a 304 freshens
// the response (RFC 9111 §4.3.4), and a private cache ignores them.
func TestRFC9213_ExchangeControlTakesPrecedence(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	req, _ := http.NewRequest(http.MethodGet, "http://o.test/x", nil)
	resp := func(status int) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{
			"Cache-Control": {"no-store"}, "Etag": {`"v1"`}, "Date": {fc.Now().UTC().Format(http.TimeFormat)}}}
	}
	control := ParseDirectives(nil)
	control.MaxAge = 60

	shared, _ := New(Config{Shared: true, Now: fc.Now})
	if res := shared.Store(Exchange{Request: req, Response: resp(200), Body: []byte("b"), Control: &control}); !res.Stored {
		t.Fatalf("shared cache did not store under Control: %v", res.Reason)
	}
	if l := shared.Lookup(req); l.Decision != Fresh || l.TTL != 60*time.Second {
		t.Fatalf("lookup: %v ttl %v", l.Decision, l.TTL)
	}
	fc.Advance(70 * time.Second)
	if l := shared.Lookup(req); l.Decision != Validate {
		t.Fatalf("after max-age: %v", l.Decision)
	}
	if res := shared.Store(Exchange{Request: req, Response: resp(http.StatusNotModified)}); !res.Stored {
		t.Fatalf("304 did not freshen: %v", res.Reason)
	}
	if l := shared.Lookup(req); l.Decision != Fresh || l.TTL != 60*time.Second {
		t.Fatalf("after 304 the Control directives no longer apply: %v ttl %v", l.Decision, l.TTL)
	}

	private, _ := New(Config{Now: fc.Now})
	if res := private.Store(Exchange{Request: req, Response: resp(200), Body: []byte("b"), Control: &control}); res.Stored {
		t.Fatal("private cache stored a no-store response because of Control")
	}
}

// RFC 9111 §5.2.1.4, §5.2.1.5: Lookup says when the request's
// Cache-Control asks for the origin's own answer (no-cache, no-store), so
// a caller need not parse the field again.
func TestRFC9111_5_2_1_LookupRefresh(t *testing.T) {
	c, _ := New(Config{Shared: true})
	for _, tc := range []struct {
		header http.Header
		want   bool
	}{
		{http.Header{}, false},
		{http.Header{"Cache-Control": {"no-cache"}}, true},
		{http.Header{"Cache-Control": {"max-age=0, no-store"}}, true},
		{http.Header{"Cache-Control": {"max-age=0"}}, false},
		{http.Header{"Cache-Control": {""}}, false},
		{http.Header{"Pragma": {"no-cache"}}, false}, // validates (§5.4), but may share a fetch
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://o.test/x", nil)
		req.Header = tc.header
		if got := c.Lookup(req).Refresh; got != tc.want {
			t.Errorf("%v: Refresh = %v, want %v", tc.header, got, tc.want)
		}
	}
}
