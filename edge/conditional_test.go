package edge

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// TestRFC9110_15_4_5_NotModifiedFromCacheInventsNothing: a hit answering a
// conditional request carries what the stored response carries, minus
// content metadata; no Last-Modified the origin did not send, no
// Accept-Ranges, no sniffed Content-Type.
func TestRFC9110_15_4_5_NotModifiedFromCacheInventsNothing(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, static("hello", "Cache-Control", "max-age=60", "ETag", `"v1"`, "Content-Type", "text/plain", "Vary", "Accept"))
	e := newEnv(t, fc, Config{}, o)
	e.get("/a")
	r := e.get("/a", "If-None-Match", `W/"v1"`)
	if r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %+v", r)
	}
	for _, f := range []string{"Last-Modified", "Accept-Ranges", "Content-Type", "Content-Length"} {
		if v, ok := r.h[f]; ok {
			t.Errorf("304 carries %s: %q", f, v)
		}
	}
	for _, f := range []string{"Etag", "Date", "Cache-Control", "Vary", "Age"} {
		if r.h.Get(f) == "" {
			t.Errorf("304 lacks %s (RFC 9110 §15.4.5)", f)
		}
	}
	// Without validators, Date stands in for If-Modified-Since (RFC 9111
	// §4.3.2), still without a Last-Modified appearing.
	o.Set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header()["Content-Type"] = nil // the origin sends no type
		w.Write([]byte("plain"))
	})
	e.get("/b")
	r = e.get("/b", "If-Modified-Since", fc.Now().Add(time.Minute).UTC().Format(http.TimeFormat))
	if r.status != http.StatusNotModified || r.h.Get("Last-Modified") != "" {
		t.Fatalf("If-Modified-Since without validators: %+v", r)
	}
	if r := e.get("/b", "If-Modified-Since", "Thu, 01  Jan 2099 00:00:00 GMT"); r.status != http.StatusOK {
		t.Fatalf("an invalid If-Modified-Since is ignored: %+v", r)
	}
	if r := e.get("/a", "If-Match", `"other"`); r.status != http.StatusPreconditionFailed {
		t.Fatalf("If-Match mismatch: %+v", r)
	}
	if r := e.get("/a", "If-Match", `"v1"`); r.status != http.StatusOK || r.body != "hello" {
		t.Fatalf("If-Match match: %+v", r)
	}
	// A full hit with no Content-Type from the origin gets none.
	if r := e.get("/b"); r.xcache != "HIT" || r.h.Get("Content-Type") != "" {
		t.Fatalf("full hit invents Content-Type: %+v", r)
	}
}

// TestRFC9110_15_3_7_PartialContentFromCacheInventsNothing: a 206 from a
// stored response adds Content-Range and nothing else.
func TestRFC9110_15_3_7_PartialContentFromCacheInventsNothing(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	lm := fc.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	o := newSite(t, fc, static("0123456789", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	e := newEnv(t, fc, Config{}, o)
	e.get("/r")
	r := e.get("/r", "Range", "bytes=2-4")
	if r.status != http.StatusPartialContent || r.body != "234" || r.h.Get("Content-Range") != "bytes 2-4/10" {
		t.Fatalf("range: %+v", r)
	}
	for _, f := range []string{"Last-Modified", "Accept-Ranges"} {
		if v, ok := r.h[f]; ok {
			t.Errorf("206 carries %s: %q", f, v)
		}
	}
	if r.h.Get("Date") == "" || r.h.Get("Cache-Control") == "" || r.h.Get("Content-Type") != "text/plain" {
		t.Errorf("206 lacks stored fields: %v", r.h)
	}
	if r := e.get("/r", "Range", "bytes=-3"); r.status != http.StatusPartialContent || r.body != "789" {
		t.Fatalf("suffix range: %+v", r)
	}
	if r := e.get("/r", "Range", "bytes=10-"); r.status != http.StatusRequestedRangeNotSatisfiable || r.h.Get("Content-Range") != "bytes */10" {
		t.Fatalf("unsatisfiable: %+v", r)
	}
	if r := e.get("/r", "Range", "bytes=0-1,4-5"); r.status != http.StatusOK || r.body != "0123456789" {
		t.Fatalf("several ranges are served whole: %+v", r)
	}
	// If-Range with a date: only a strong Last-Modified that equals it.
	o.Set(static("abcdef", "Cache-Control", "max-age=60", "Last-Modified", lm))
	e.get("/ir")
	if r := e.get("/ir", "Range", "bytes=1-2", "If-Range", lm); r.status != http.StatusPartialContent || r.body != "bc" {
		t.Fatalf("If-Range matching: %+v", r)
	}
	if r := e.get("/ir", "Range", "bytes=1-2", "If-Range", `"x"`); r.status != http.StatusOK || r.body != "abcdef" {
		t.Fatalf("If-Range not matching: %+v", r)
	}
}
