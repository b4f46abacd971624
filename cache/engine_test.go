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

// RFC 9213 §2.1: the directives an adapter reads from a field of its own
// (EngineConfig.Control; an edge's Surrogate-Control) take precedence over
// Cache-Control in a shared cache, and a private one ignores them.
func TestRFC9213_EngineControlOption(t *testing.T) {
	for _, shared := range []bool{true, false} {
		h := newHarness(t, Config{Shared: shared})
		o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Edge-TTL", "60")
			io.WriteString(w, "edge-only")
		})
		var validations int
		e, err := NewEngine(EngineConfig{Cache: h.cache, Upstream: http.DefaultTransport, Now: h.fc.Now,
			Control: func(f Fetched) *Directives {
				if f.Validation {
					validations++
				}
				if f.Exchange.Response.Header.Get("X-Edge-TTL") != "60" {
					return nil
				}
				d := ParseDirectives([]string{"max-age=60"})
				return &d
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		client := &http.Client{Transport: e}
		for i := range 2 {
			resp, err := client.Get(o.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			want := "MISS"
			if i == 1 && shared {
				want = "HIT"
			}
			if got := resp.Header.Get(XCache); got != want || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("shared %v, request %d: X-Cache %s, Cache-Control %q", shared, i, got, resp.Header.Get("Cache-Control"))
			}
		}
		if validations != 0 {
			t.Fatalf("%d fetches reported as validations", validations)
		}
	}
}
