package store

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// What an insert costs (a Set of a key not present, into a full store, so
// that something leaves) and what an entry costs in heap, beside
// golang-lru/v2's lru.Cache holding as many entries.

// churnKeys are more keys than the stores hold, so cycling through them
// makes every Set an insert.
func churnKeys() []string {
	keys := make([]string, 4*benchKeys)
	for i := range keys {
		keys[i] = "https://example.com/assets/" + strconv.Itoa(i) + ".js"
	}
	return keys
}

// BenchmarkSetInsert stores keys not present into a full store (each Set
// admits or rejects a newcomer and evicts), serially. golang-lru is sized
// to the number of entries the store holds.
func BenchmarkSetInsert(b *testing.B) {
	keys := churnKeys()
	v := make([]byte, 64)
	mask := len(keys) - 1
	var held int
	for _, p := range []Policy{TinyLFU, LRU} {
		b.Run("store-"+p.String(), func(b *testing.B) {
			s, err := New(Config[string, []byte]{MaxBytes: 4 << 20, Policy: p, Shards: 16})
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys {
				s.Set(k, v, int64(len(k)+len(v)), time.Time{})
			}
			held = s.Len()
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; b.Loop(); i++ {
				k := keys[i&mask]
				s.Set(k, v, int64(len(k)+len(v)), time.Time{})
			}
		})
	}
	b.Run("golang-lru", func(b *testing.B) {
		c, err := lru.New[string, []byte](held)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			c.Add(k, v)
		}
		b.ReportAllocs()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			c.Add(keys[i&mask], v)
		}
	})
}

// heapPerEntry returns the heap bytes per entry that fill, storing n
// string keys with 32-byte values built beforehand, leaves behind.
func heapPerEntry(n int, fill func(keys []string, vals [][]byte) any) float64 {
	keys := make([]string, n)
	vals := make([][]byte, n)
	for i := range keys {
		keys[i] = "https://example.com/" + strconv.Itoa(i)
		vals[i] = make([]byte, 32)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := fill(keys, vals)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(vals)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

// BenchmarkEntryBytes reports the heap each entry costs beyond its key and
// value (B/entry), for the store (and what it accounts, acct-B/entry) and
// for golang-lru. One fill of 100k entries per iteration.
func BenchmarkEntryBytes(b *testing.B) {
	const n = 100_000
	b.Run("store", func(b *testing.B) {
		var acct float64
		for b.Loop() {
			b.ReportMetric(heapPerEntry(n, func(keys []string, vals [][]byte) any {
				s, _ := New(Config[string, []byte]{MaxBytes: 1 << 30})
				var counted int64
				for i, k := range keys {
					s.Set(k, vals[i], int64(len(k)+len(vals[i])), time.Time{})
					counted += int64(len(k) + len(vals[i]))
				}
				acct = float64(s.Stats().Bytes-counted) / n
				if s.Len() != n {
					b.Fatalf("Len %d", s.Len())
				}
				return s
			}), "B/entry")
			b.ReportMetric(acct, "acct-B/entry")
		}
	})
	b.Run("golang-lru", func(b *testing.B) {
		for b.Loop() {
			b.ReportMetric(heapPerEntry(n, func(keys []string, vals [][]byte) any {
				c, _ := lru.New[string, []byte](n)
				for i, k := range keys {
					c.Add(k, vals[i])
				}
				return c
			}), "B/entry")
		}
	})
}
