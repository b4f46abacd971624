package edge

import (
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// TestRFC9111_5_3_ExpiresParsedStrictlyAndClamped: through the node, an
// Expires in 2286 is stored (not overflowed into "expired"), one with runs
// of spaces is invalid and so already expired (RFC 9110 §5.6.7).
func TestRFC9111_5_3_ExpiresParsedStrictlyAndClamped(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	far := newSite(t, fc, static("far", "Expires", "Sun, 21 Nov 2286 04:46:39 GMT"))
	e := newEnv(t, fc, Config{}, far)
	e.get("/far")
	fc.Advance(time.Hour)
	if r := e.get("/far"); r.xcache != "HIT" {
		t.Fatalf("Expires in 2286: %+v, want a HIT", r)
	}
	far.Set(static("spaces", "Expires", "Thu, 18  Aug  2050 02:01:18 GMT"))
	e.get("/spaces")
	if r := e.get("/spaces"); r.xcache == "HIT" {
		t.Fatalf("invalid Expires reused: %+v", r)
	}
}
