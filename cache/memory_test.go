package cache

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/race"
)

// TestCostCoversHeap stores small responses as a transport hands them
// over (fresh header strings, bodies read into a growing buffer) and
// checks that the bytes the cache counts cover the heap they hold: a
// limit counts what an object really costs (issue 14 §5), not its body's
// length.
func TestCostCoversHeap(t *testing.T) {
	n := 50_000
	if race.Enabled || testing.Short() {
		n = 10_000
	}
	date := time.Now().UTC().Format(http.TimeFormat) // fresh: a fixed past Date expires the objects as the clock passes it
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "http://example.com/o/"+strconv.Itoa(i), nil)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := New(Config{Shared: true, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		var buf bytes.Buffer // as io.ReadAll and edge's reader leave a body: cap 512
		io.Copy(&buf, strings.NewReader("small body of fifty-six bytes, as in the memory probe."+strconv.Itoa(i%10)))
		resp := &http.Response{StatusCode: 200, Header: http.Header{
			"Cache-Control": {strings.Clone("public, max-age=3600")},
			"Content-Type":  {strings.Clone("text/plain; charset=utf-8")},
			"Date":          {strings.Clone(date)},
			"Etag":          {`"` + strconv.Itoa(i) + `"`},
			"Last-Modified": {strings.Clone(date)},
		}}
		if res := c.Store(Exchange{Request: req, Response: resp, Body: buf.Bytes()}); !res.Stored {
			t.Fatalf("not stored: %v", res.Reason)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	st := c.Stats()
	runtime.KeepAlive(c)
	runtime.KeepAlive(reqs) // allocated before the first reading
	t.Logf("%d objects: heap %d bytes each, counted %d", st.Objects, grown/int64(n), st.Bytes/int64(n))
	if st.Objects != n {
		t.Fatalf("%d objects stored, want %d", st.Objects, n)
	}
	// The store counts its nodes, index and sketch as allocated; the
	// header and map estimates leave a little slack, hence the 2%.
	if grown > st.Bytes+st.Bytes/50 {
		t.Errorf("stored objects hold %d bytes of heap, more than the %d counted", grown, st.Bytes)
	}
	if st.Bytes > grown*3/2 {
		t.Errorf("counted %d bytes for %d of heap: the estimate wastes the budget", st.Bytes, grown)
	}
}

// A body read into a growing buffer is kept at its exact size and counted
// by its capacity.
func TestStoreKeepsBodyAtExactSize(t *testing.T) {
	c, _ := New(Config{Shared: true})
	req := httptest.NewRequest(http.MethodGet, "http://example.com/x", nil)
	body := make([]byte, 56, 512)
	c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}}}, Body: body})
	l := c.Lookup(req)
	if len(l.Body) != 56 || cap(l.Body) > 64 {
		t.Fatalf("stored body len %d cap %d, want 56 in a 64-byte allocation", len(l.Body), cap(l.Body))
	}
}

// A transport may parse a response head into one string and hand over
// values that are substrings of it (internal/h1 does). The stored header
// must not keep that head alive: hop-by-hop fields, framing and the
// status line would then cost memory nobody counted.
func TestStoredHeaderDoesNotKeepHead(t *testing.T) {
	const n = 2000
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "http://example.com/h/"+strconv.Itoa(i), nil)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, _ := New(Config{Shared: true, MaxBytes: 1 << 30})
	for i, req := range reqs {
		head := "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nConnection: X-Junk\r\nX-Junk: " +
			strings.Repeat("j", 4096) + "\r\nEtag: \"" + strconv.Itoa(i) + "\"\r\n\r\n"
		at := func(v string) string { j := strings.Index(head, v); return head[j : j+len(v)] }
		h := http.Header{"Cache-Control": {at("max-age=600")}, "Connection": {at("X-Junk")},
			"X-Junk": {at(strings.Repeat("j", 4096))}, "Etag": {at(`"` + strconv.Itoa(i) + `"`)}}
		c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: h}, Body: []byte("x")})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	st := c.Stats()
	runtime.KeepAlive(c)
	runtime.KeepAlive(reqs)
	t.Logf("%d bytes of heap per object, %d counted", per, st.Bytes/n)
	if per > 2048 {
		t.Fatalf("each stored object holds %d bytes: the 4 KiB response head is kept", per)
	}
}
