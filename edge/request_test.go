package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// RFC 9111 §5.2.1: request directives are advisory. A shared edge ignores
// those by which a client sends its request past the cache (no-cache,
// max-age, min-fresh, Pragma: no-cache), as Varnish, nginx and Apache
// Traffic Server do by default: before, every such request went to the
// origin. only-if-cached is still honoured.
func TestRFC9111_5_2_1_ClientCannotBypassTheEdge(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("object", "Cache-Control", "max-age=60", "ETag", `"v1"`))
	e := newEnv(t, fc, Config{}, o)
	e.get("/o")
	fc.Advance(10 * time.Second)
	for _, hdr := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "min-fresh=3600"},
		{"Pragma", "no-cache"},
		{"Cache-Control", "no-cache, no-store"},
	} {
		if r := e.get("/o", hdr...); r.xcache != "HIT" || r.body != "object" {
			t.Errorf("%s: %s: %+v, want a hit", hdr[0], hdr[1], r)
		}
	}
	if n := o.Hits.Load(); n != 1 {
		t.Fatalf("origin asked %d times, want 1", n)
	}
	// RFC 9111 §5.2.1.7: only-if-cached is still honoured.
	if r := e.get("/absent", "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("only-if-cached miss: %+v", r)
	}
}

// RFC 9111 §5.2.1.5: a request's no-store forbids storing its response,
// which a shared edge honours whether or not it honours the client's
// other directives; the next plain request stores the object.
func TestRFC9111_5_2_1_5_ClientNoStoreDoesNotTurnCachingOff(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("object", "Cache-Control", "max-age=60"))
	for _, honor := range []bool{false, true} {
		e := newEnv(t, fc, Config{HonorClientCacheControl: honor}, o)
		path := "/o" + map[bool]string{false: "-ignored", true: "-honoured"}[honor]
		if r := e.get(path, "Cache-Control", "no-store"); r.xcache != "MISS" || strings.Contains(r.status2, "stored") {
			t.Fatalf("honor %v: no-store request: %+v", honor, r)
		}
		if r := e.get(path); r.xcache != "MISS" || !strings.Contains(r.status2, "stored") {
			t.Fatalf("honor %v: the next plain request was not stored: %+v", honor, r)
		}
		if r := e.get(path); r.xcache != "HIT" {
			t.Fatalf("honor %v: then: %+v", honor, r)
		}
	}
}

// With HonorClientCacheControl the client's directives are honoured, and
// the Cache-Status of a fetch that the request forced says fwd=request
// (RFC 9211 §2.2), not fwd=stale: the stored response was fresh.
func TestRFC9211_2_2_FwdRequestWhenTheClientForcedTheFetch(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("object", "Cache-Control", "max-age=60", "ETag", `"v1"`))
	e := newEnv(t, fc, Config{HonorClientCacheControl: true}, o)
	e.get("/o")
	fc.Advance(10 * time.Second)
	for i, hdr := range [][]string{
		{"Cache-Control", "no-cache"},
		{"Cache-Control", "max-age=5"},
		{"Cache-Control", "min-fresh=3600"},
		{"Pragma", "no-cache"},
	} {
		fc.Advance(10 * time.Second) // each fetch stores a response of age 0
		r := e.get("/o", hdr...)
		if r.xcache == "HIT" || !strings.Contains(r.status2, "fwd=request") {
			t.Errorf("%s: %s: %+v, want a fetch with fwd=request", hdr[0], hdr[1], r)
		}
		if n := o.Hits.Load(); int(n) != i+2 {
			t.Errorf("%s: %s: origin asked %d times, want %d", hdr[0], hdr[1], n, i+2)
		}
	}
	// A stale response is validated because it is stale: fwd=stale.
	fc.Advance(time.Hour)
	if r := e.get("/o"); !strings.Contains(r.status2, "fwd=stale") {
		t.Fatalf("stale: %+v", r)
	}
}

// RFC 9110 §14.3: the node serves ranges of a complete 200 it answers
// with (stored or just fetched), so it says so with Accept-Ranges: bytes
// even when the origin did not (or said none); other statuses do not
// carry it.
func TestRFC9110_14_3_AcceptRangesOnWhatRangesAreServedOf(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.Header().Set("Cache-Control", "max-age=60")
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Accept-Ranges", "none")
		io.WriteString(w, "0123456789")
	})
	e := newEnv(t, fc, Config{}, o)
	for i, want := range []string{"MISS", "HIT"} {
		r := e.get("/o")
		if r.xcache != want || r.h.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if r := e.get("/o", "Range", "bytes=2-4"); r.status != http.StatusPartialContent || r.body != "234" {
		t.Fatalf("range: %+v", r)
	}
	if r := e.get("/missing"); r.status != 404 || r.h.Get("Accept-Ranges") != "" {
		t.Fatalf("404: %+v", r)
	}
}
