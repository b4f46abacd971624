package memsize

import (
	"net/http"
	"runtime"
	"strconv"
	"testing"
)

// Alloc agrees with the runtime's rounding, which append reveals: a slice
// grown from nil gets the capacity of its size class.
func TestAllocMatchesRuntime(t *testing.T) {
	src := make([]byte, 70000)
	check := func(n int) {
		if n < 1 || n > len(src) {
			return
		}
		if got, want := Alloc(n), int64(cap(append([]byte(nil), src[:n]...))); got != want {
			t.Fatalf("Alloc(%d) = %d, runtime rounds to %d", n, got, want)
		}
	}
	for _, c := range classes {
		check(int(c) - 1)
		check(int(c))
		check(int(c) + 1)
	}
	for n := 1; n <= len(src); n += 97 {
		check(n)
	}
}

// Header and Map are upper bounds of what the heap holds for cloned
// headers, and not far above it.
func TestHeaderEstimateCoversHeap(t *testing.T) {
	const n = 20000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	src := make([]http.Header, n)
	for i := range src {
		src[i] = http.Header{
			"Cache-Control": {"public, max-age=" + strconv.Itoa(i)},
			"Content-Type":  {"text/plain; charset=utf-8" + strconv.Itoa(i%3)},
			"Date":          {"Sun, 06 Dec 2026 05:00:00 GMT" + strconv.Itoa(i%3)},
			"Etag":          {`"` + strconv.Itoa(i) + `"`},
			"X-Many":        {"a" + strconv.Itoa(i), "b" + strconv.Itoa(i)},
		}
		if i%2 == 0 {
			for j := range 10 {
				src[i]["X-Extra-"+strconv.Itoa(j)] = []string{strconv.Itoa(i)}
			}
		}
	}
	var est int64
	for _, h := range src {
		est += Header(h)
	}
	// The clones share their strings with src: dropping src leaves the
	// clones owning them, as a cache's clone of a response header does.
	clones := make([]http.Header, n)
	for i, h := range src {
		clones[i] = h.Clone()
	}
	src = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc) - Alloc(24*n)
	runtime.KeepAlive(clones)
	t.Logf("estimate %d bytes per header, heap %d", est/n, grown/n)
	if grown > est {
		t.Fatalf("headers take %d bytes, more than the estimate %d", grown, est)
	}
	if est > grown*3/2 {
		t.Fatalf("estimate %d bytes is more than 1.5x the heap %d", est, grown)
	}
}
