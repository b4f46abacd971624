package edge

import (
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/race"
)

// fillOrigin answers every path with a fresh response the way a transport
// hands one over: every header string and the body allocated anew, so the
// node retains nothing the test holds. Paths under /big/ get a large body.
type fillOrigin struct{ date string }

func (o fillOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	size := 56
	if strings.HasPrefix(p, "/big/") {
		size = 512 << 10
	}
	body := strings.Repeat("b", size)
	h := http.Header{
		"Cache-Control":  {strings.Clone("public, max-age=3600")},
		"Content-Type":   {strings.Clone("text/plain; charset=utf-8")},
		"Date":           {strings.Clone(o.date)},
		"Last-Modified":  {strings.Clone(o.date)},
		"Etag":           {`"` + strconv.Itoa(len(p)) + "-" + p[len(p)/2:] + `"`},
		"Surrogate-Key":  {"obj" + p + " section-" + strconv.Itoa(len(p)%7)},
		"Content-Length": {strconv.Itoa(size)},
		"Server":         {strings.Clone("origin/1.0")},
	}
	return &http.Response{StatusCode: 200, Header: h, ContentLength: int64(size), Request: r,
		Body: io.NopCloser(strings.NewReader(body))}, nil
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryBoundedByMaxBytes fills a node far past its byte limit with
// small objects (each tagged with surrogate keys) and some large ones, and
// checks that the live heap it holds stays within 1.5 times MaxBytes plus
// a small fixed base, and that Stats reports bytes within the limit. A
// limit counts what an object really costs: body capacity, header, keys,
// index entries and bookkeeping (issue 14 §5).
func TestMemoryBoundedByMaxBytes(t *testing.T) {
	const limit = 16 << 20
	const base = 4 << 20 // the node's fixed structures (store tables, sketch)
	small := 150_000
	if race.Enabled || testing.Short() {
		small = 20_000 // the same path at a scale the race detector runs fast
	}
	before := liveHeap()
	n, err := New(Config{Origin: fillOrigin{date: time.Now().UTC().Format(http.TimeFormat)}, MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	w := &discard{h: http.Header{}}
	serve := func(path string) {
		clear(w.h)
		n.ServeHTTP(w, &http.Request{Method: http.MethodGet, Host: "example.com", URL: &url.URL{Path: path},
			Header: http.Header{}, RemoteAddr: "192.0.2.1:1234", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1})
	}
	for i := range small {
		serve("/o/" + strconv.Itoa(i))
		if i%5000 == 0 {
			serve("/big/" + strconv.Itoa(i))
		}
	}
	grown := int64(liveHeap()) - int64(before)
	st := n.Cache().(*cache.HTTPCache).Stats()
	ns := n.Stats()
	t.Logf("%d objects, %d bytes counted (limit %d), %d evicted, live heap grew %.1f MiB (%.0f bytes/object)",
		st.Objects, st.Bytes, limit, st.Evictions, float64(grown)/(1<<20), float64(grown)/float64(max(st.Objects, 1)))
	if ns.Objects != st.Objects || ns.Bytes != st.Bytes || ns.MaxBytes != limit {
		t.Errorf("node Stats report %d objects, %d of %d bytes; the cache %d objects, %d bytes", ns.Objects, ns.Bytes, ns.MaxBytes, st.Objects, st.Bytes)
	}
	if ix := n.index.Stats(); ix.Objects > st.Objects {
		t.Errorf("the surrogate index tracks %d objects, the cache holds %d: evictions left index entries behind", ix.Objects, st.Objects)
	}
	if st.Bytes > limit {
		t.Errorf("Stats().Bytes %d exceeds MaxBytes %d", st.Bytes, limit)
	}
	if bound := int64(limit*3/2 + base); grown > bound {
		t.Errorf("live heap grew %d bytes for a %d-byte cache, more than 1.5x the limit plus %d", grown, limit, base)
	}
	runtime.KeepAlive(n)
}
