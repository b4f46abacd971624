package cache

import (
	"io"
	"net/http"
	"testing"
)

// A request that missed the cache just before another's fetch stored the
// object, and reaches the collapsing group after that fetch ended, leads a
// group of its own: it must find the stored object, not fetch again (the
// window edge's TestThunderingHerdCollapsesToOneOriginFetch hit once in
// CI).
func TestEngineLateMissLeaderFindsStoredObject(t *testing.T) {
	h := newHarness(t, Config{Shared: true})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "popular")
	})
	e := h.tr.e
	req, _ := http.NewRequest("GET", o.URL+"/hot", nil)
	filled := e.filled.Load()
	missed := e.cache.Lookup(req) // the late request's miss
	if missed.Decision != Miss {
		t.Fatal("stored before the first fetch")
	}
	if r := h.get(o.URL + "/hot"); r.body != "popular" { // another request's fetch stores it
		t.Fatalf("first fetch: %+v", r)
	}
	a := e.answer(req, missed, filled) // the late request joins now
	if string(a.body) != "popular" || a.outcome != OutcomeHit {
		t.Fatalf("late request: %q, %v", a.body, a.outcome)
	}
	if o.hits.Load() != 1 {
		t.Fatalf("%d origin fetches, want 1", o.hits.Load())
	}
}

// After Close the engine keeps answering, without background work: a
// miss is fetched for its own client and not stored (nothing may outlive
// the client once the owner of background work is gone).
func TestEngineServesAfterClose(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "still here")
	})
	h.tr.Close()
	for i := range 2 {
		if r := h.get(o.URL + "/after"); r.status != 200 || r.body != "still here" || r.xcache != "MISS" {
			t.Fatalf("request %d after Close: %+v", i, r)
		}
	}
	if o.hits.Load() != 2 {
		t.Fatalf("origin hits %d, want 2 (nothing stored after Close)", o.hits.Load())
	}
}
