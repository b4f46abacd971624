package surrogate

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/edgekit/edgekit/internal/memsize"
	"github.com/edgekit/edgekit/internal/race"
)

// URL keys name their object without taking room in the index.
func TestIndexURLKeysNotStored(t *testing.T) {
	var ix Index
	ix.Set("http://a/1", []string{URLKey("http://a/1")})
	ix.Set("http://a/2", []string{"k", URLKey("http://a/2")})
	if st := ix.Stats(); st.Objects != 1 || st.Keys != 1 {
		t.Fatalf("stats %+v, want one object with one key", st)
	}
	if got := ix.Objects(URLKey("http://a/1")); len(got) != 1 || got[0] != "http://a/1" {
		t.Fatalf("Objects(URLKey) = %q", got)
	}
	if got := ix.Keys("http://a/2"); len(got) != 1 || got[0] != "k" {
		t.Fatalf("Keys = %q", got)
	}
}

// A key held by one object, then two, then one again, then none.
func TestIndexSharedKeyLifecycle(t *testing.T) {
	var ix Index
	ix.Set("a", []string{"k"})
	ix.Set("b", []string{"k"})
	ix.Set("a", []string{"k"}) // replacing a's keys keeps b's
	if got := ix.Objects("k"); len(got) != 2 {
		t.Fatalf("Objects(k) = %q, want a and b", got)
	}
	ix.Remove("a")
	if got := ix.Objects("k"); len(got) != 1 || got[0] != "b" {
		t.Fatalf("Objects(k) = %q, want b", got)
	}
	ix.Remove("b")
	if st := ix.Stats(); st.Keys != 0 || st.Objects != 0 {
		t.Fatalf("stats %+v after removing all", st)
	}
}

// IndexCost covers the heap an Index holds, for keys unique to an object
// and keys shared by many, so a cache that counts it bounds the index by
// its own limit (issue 14 §5).
func TestIndexCostCoversHeap(t *testing.T) {
	n := 100_000
	if race.Enabled || testing.Short() {
		n = 20_000
	}
	objs := make([]string, n)
	keys := make([][]string, n)
	var est int64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range objs {
		objs[i] = "http://example.com/o/" + strconv.Itoa(i)
		keys[i] = []string{"obj-" + strconv.Itoa(i), "section-" + strconv.Itoa(i%7), "all", "pair-" + strconv.Itoa(i/2)}
		est += IndexCost(keys[i])
	}
	grown := func() int64 { // the index with its key strings
		runtime.GC()
		runtime.ReadMemStats(&after)
		return int64(after.HeapAlloc) - int64(before.HeapAlloc) - memsize.Alloc(16*n) - memsize.Alloc(24*n)
	}
	var ix Index
	for i, o := range objs {
		ix.Set(o, keys[i])
	}
	objStrings := int64(0)
	for _, o := range objs {
		objStrings += memsize.String(o)
	}
	for i := range keys {
		objStrings += memsize.Alloc(16 * len(keys[i])) // the callers' slices, not the index's
	}
	held := grown() - objStrings
	runtime.KeepAlive(&ix)
	runtime.KeepAlive(objs)
	runtime.KeepAlive(keys)
	t.Logf("index: %d bytes per object, estimated %d", held/int64(n), est/int64(n))
	if held > est {
		t.Fatalf("the index holds %d bytes, more than the %d estimated", held, est)
	}
}
