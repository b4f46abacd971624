package edge

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// hangUp answers the first request of each path with cc, and afterwards
// closes the connection without a response once fail is set.
func hangUp(cc string, fail *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Cache-Control", cc)
		w.Write([]byte("stored"))
	}
}

// TestRFC9111_4_2_4_StaleOnErrorByDefault: with default settings, a stale
// copy is served when the origin drops the connection (as Varnish's
// grace), unless a directive forbids stale use; then an error answers.
func TestRFC9111_4_2_4_StaleOnErrorByDefault(t *testing.T) {
	for _, c := range []struct {
		cc    string
		stale bool
	}{
		{"max-age=2", true},
		{"max-age=2, must-revalidate", false},
		{"max-age=2, proxy-revalidate", false},
		{"max-age=2, no-cache", false},
		{"max-age=2, s-maxage=2", false},
	} {
		t.Run(c.cc, func(t *testing.T) {
			fc := clock.NewFake(time.Time{})
			var fail atomic.Bool
			o := newSite(t, fc, nil)
			o.Set(hangUp(c.cc, &fail))
			e := newEnv(t, fc, Config{}, o)
			e.get("/p")
			fail.Store(true)
			fc.Advance(4 * time.Second)
			r := e.get("/p")
			if c.stale {
				if r.status != 200 || r.body != "stored" || r.xcache != "STALE" || !strings.Contains(r.status2, "stale-if-error") {
					t.Fatalf("stale copy not served on a dropped connection: %+v", r)
				}
				return
			}
			if r.status != http.StatusBadGateway && r.status != http.StatusGatewayTimeout || r.body == "stored" {
				t.Fatalf("stale use forbidden, want 502/504: %+v", r)
			}
		})
	}
}

// TestStaleOnErrorWindowAndOff: the default window ends, and a negative
// StaleIfError turns it off.
func TestStaleOnErrorWindowAndOff(t *testing.T) {
	for _, c := range []struct {
		grace   time.Duration
		advance time.Duration
		stale   bool
	}{
		{0, 2*time.Second + DefaultStaleIfError - time.Second, true},
		{0, 2*time.Second + DefaultStaleIfError + time.Second, false},
		{-1, 4 * time.Second, false},
		{time.Minute, 30 * time.Second, true},
	} {
		fc := clock.NewFake(time.Time{})
		var fail atomic.Bool
		o := newSite(t, fc, nil)
		o.Set(hangUp("max-age=2", &fail))
		e := newEnv(t, fc, Config{StaleIfError: c.grace}, o)
		e.get("/p")
		fail.Store(true)
		fc.Advance(c.advance)
		if r := e.get("/p"); (r.xcache == "STALE") != c.stale {
			t.Errorf("StaleIfError %v, %v after storing: %+v, want stale=%v", c.grace, c.advance, r, c.stale)
		}
	}
}
