package store

import (
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// A node of a string key and a slice value fills one 64-byte cache line
// (its allocation size class), so a hit reads one line of it.
func TestNodeIsOneCacheLine(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("64-bit layout")
	}
	if size := unsafe.Sizeof(node[string, []byte]{}); size != 64 {
		t.Fatalf("node[string, []byte] is %d bytes, want 64", size)
	}
}

// TestEntryOverheadIsHonest measures the heap an entry costs beyond the
// bytes its caller counts (key and value), and checks EntryOverhead covers
// it, so MaxBytes bounds real memory.
func TestEntryOverheadIsHonest(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k entries")
	}
	const n = 100_000
	keys := make([]string, n)
	vals := make([][]byte, n)
	var counted int64
	for i := range keys {
		keys[i] = "https://example.com/" + strconv.Itoa(i)
		vals[i] = make([]byte, 32)
		counted += int64(len(keys[i]) + len(vals[i]))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := New(Config[string, []byte]{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		s.Set(k, vals[i], int64(len(k)+len(vals[i])), time.Time{})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	// Keys and values were allocated before; what grew is the Store's.
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("store bookkeeping: %.0f bytes per entry (EntryOverhead %d)", per, EntryOverhead)
	if s.Len() != n {
		t.Fatalf("Len %d", s.Len())
	}
	if per > EntryOverhead {
		t.Fatalf("an entry costs %.0f bytes of bookkeeping, more than EntryOverhead %d", per, EntryOverhead)
	}
}
