package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

func mustNew[K comparable, V any](t testing.TB, cfg Config[K, V]) *Store[K, V] {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]Config[string, int]{
		"negative bytes":       {MaxBytes: -1},
		"negative entries":     {MaxEntries: -1},
		"entry above total":    {MaxBytes: 1 << 20, MaxEntryBytes: 2 << 20},
		"entry below overhead": {MaxBytes: 1 << 20, MaxEntryBytes: 10},
		"unknown policy":       {Policy: Policy(9)},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	// A MaxBytes too small for one entry is reported in the terms the
	// caller used (MaxEntryBytes was not given, but derived).
	if _, err := New(Config[string, int]{MaxBytes: 10}); err == nil || !strings.Contains(err.Error(), "MaxBytes 10 is too small") {
		t.Errorf("MaxBytes 10: err = %v, want it to name MaxBytes", err)
	}
	if _, err := New(Config[string, int]{MaxBytes: 4 * entryOverhead[string, int]()}); err != nil {
		t.Errorf("MaxBytes %d, the least the error suggests: %v", 4*entryOverhead[string, int](), err)
	}
	s := mustNew(t, Config[string, int]{})
	if s.MaxBytes() != defaultMaxBytes {
		t.Errorf("zero MaxBytes = %d, want %d", s.MaxBytes(), defaultMaxBytes)
	}
}

func TestSetGetDelete(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			s := mustNew(t, Config[string, string]{MaxBytes: 1 << 20, Policy: p})
			if _, ok := s.Get("a"); ok {
				t.Fatal("hit on empty store")
			}
			if ok, err := s.Set("a", "alpha", 10, time.Time{}); !ok || err != nil {
				t.Fatalf("Set = %v, %v", ok, err)
			}
			if v, ok := s.Get("a"); !ok || v != "alpha" {
				t.Fatalf("Get = %q, %v", v, ok)
			}
			if v, ok := s.Peek("a"); !ok || v != "alpha" {
				t.Fatalf("Peek = %q, %v", v, ok)
			}
			if s.Len() != 1 || s.Bytes() != 10+s.EntryOverhead() {
				t.Fatalf("Len, Bytes = %d, %d", s.Len(), s.Bytes())
			}
			if !s.Delete("a") || s.Delete("a") {
				t.Fatal("Delete must report presence once")
			}
			if s.Len() != 0 || s.Bytes() != 0 {
				t.Fatalf("after Delete: Len, Bytes = %d, %d", s.Len(), s.Bytes())
			}
			st := s.Stats()
			if st.Hits != 1 || st.Misses != 1 || st.Sets != 1 || st.Deletes != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestTooLargeIsRefusedWhole(t *testing.T) {
	s := mustNew(t, Config[string, int]{MaxBytes: 1 << 20, MaxEntryBytes: 4096})
	_, err := s.Set("big", 1, 4096, time.Time{})
	var tl *TooLargeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Max != 4096 {
		t.Fatalf("err = %v", err)
	}
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatal("a refused entry left bytes behind")
	}
	if ok, err := s.Set("fits", 1, 4096-s.EntryOverhead(), time.Time{}); !ok || err != nil {
		t.Fatalf("entry exactly at the limit: %v, %v", ok, err)
	}
}

func TestLargeEntryFitsWhateverTheShardCount(t *testing.T) {
	// 256 shards of a 1 MiB budget are 4 KiB each; a 256 KiB entry must
	// still be storable, taking room from other shards.
	for _, p := range []Policy{TinyLFU, LRU} {
		s := mustNew(t, Config[int, int]{MaxBytes: 1 << 20, Shards: 256, Policy: p})
		for i := 0; i < 2000; i++ {
			s.Set(i, i, 1000, time.Time{})
		}
		// TinyLFU admits a newcomer only once it is used more than what it
		// would displace, so a popular large entry gets in on a later Set;
		// what sharding must never do is make it impossible.
		var ok bool
		var err error
		for try := 0; try < 5 && !ok; try++ {
			ok, err = s.Set(-1, -1, 256<<10-s.EntryOverhead(), time.Time{})
			if err != nil {
				t.Fatal(err)
			}
		}
		if !ok {
			t.Fatalf("%v: large entry never stored", p)
		}
		if _, hit := s.Get(-1); !hit {
			t.Fatalf("%v: large entry not found", p)
		}
		if s.Bytes() > s.MaxBytes() {
			t.Fatalf("%v: Bytes %d > MaxBytes", p, s.Bytes())
		}
	}
}

func TestExpiryUsesInjectedClock(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var got []Eviction[string, int]
	s := mustNew(t, Config[string, int]{MaxBytes: 1 << 20, Now: fc.Now, OnEvict: func(e Eviction[string, int]) { got = append(got, e) }})
	s.Set("k", 1, 1, fc.Now().Add(10*time.Second))
	s.Set("forever", 2, 1, time.Time{})
	fc.Advance(9 * time.Second)
	if _, ok := s.Get("k"); !ok {
		t.Fatal("expired early")
	}
	fc.Advance(time.Second)
	if _, ok := s.Get("k"); ok {
		t.Fatal("served at its expiry time")
	}
	if _, ok := s.Peek("k"); ok {
		t.Fatal("Peek served an expired entry")
	}
	if _, ok := s.Get("forever"); !ok {
		t.Fatal("entry without expiry expired")
	}
	if len(got) != 1 || got[0].Key != "k" || got[0].Reason != Expired {
		t.Fatalf("evictions %+v", got)
	}
	if st := s.Stats(); st.Expirations != 1 || s.Len() != 1 {
		t.Fatalf("stats %+v len %d", st, s.Len())
	}
}

func TestOnEvictReportsEveryDepartureOnce(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			gone := map[int]int{}
			reasons := map[Reason]int{}
			var s *Store[int, int]
			s = mustNew(t, Config[int, int]{MaxBytes: 64 << 10, Shards: 4, Policy: p, OnEvict: func(e Eviction[int, int]) {
				gone[e.Key]++
				reasons[e.Reason]++
				// OnEvict may call back into the store.
				_ = s.Len()
			}})
			r := rand.New(rand.NewPCG(1, 2))
			live := map[int]bool{}
			for i := 0; i < 5000; i++ {
				k := r.IntN(400)
				stored, err := s.Set(k, i, 500, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if live[k] {
					live[k] = false // replaced (reported) unless re-stored below
				}
				if stored {
					live[k] = true
				}
				if s.Bytes() > s.MaxBytes() {
					t.Fatalf("over budget: %d", s.Bytes())
				}
			}
			s.Set(0, 0, 1, time.Time{})
			s.Delete(0)
			s.Clear()
			if s.Len() != 0 || s.Bytes() != 0 {
				t.Fatalf("after Clear: %d entries, %d bytes", s.Len(), s.Bytes())
			}
			sets := int(s.Stats().Sets)
			total := 0
			for _, c := range gone {
				total += c
			}
			// Every stored entry left exactly once: by eviction, replacement,
			// deletion or Clear.
			if total != sets {
				t.Fatalf("%d departures reported for %d stored entries (%v)", total, sets, reasons)
			}
			if reasons[Replaced] == 0 || reasons[Evicted] == 0 || reasons[Deleted] == 0 {
				t.Fatalf("reasons %v", reasons)
			}
		})
	}
}

func TestMaxEntries(t *testing.T) {
	s := mustNew(t, Config[int, int]{MaxBytes: 1 << 20, MaxEntries: 10, Shards: 1, Policy: LRU})
	for i := 0; i < 100; i++ {
		s.Set(i, i, 1, time.Time{})
		if s.Len() > 10 {
			t.Fatalf("Len %d > MaxEntries", s.Len())
		}
	}
	if _, ok := s.Get(99); !ok {
		t.Fatal("newest entry missing under LRU")
	}
}

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	s := mustNew(t, Config[string, int]{MaxBytes: 3 * (100 + entryOverhead[string, int]()), MaxEntryBytes: 100 + entryOverhead[string, int](), Shards: 1, Policy: LRU})
	s.Set("a", 1, 100, time.Time{})
	s.Set("b", 2, 100, time.Time{})
	s.Set("c", 3, 100, time.Time{})
	// Reads are sampled at random into a buffer applied in batches; read
	// enough that "a" is surely recorded, then apply what is pending.
	for i := 0; i < 64; i++ {
		s.Get("a")
	}
	s.flushReads()
	s.Set("d", 4, 100, time.Time{})
	if _, ok := s.Peek("b"); ok {
		t.Fatal("b should be the LRU victim")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := s.Peek(k); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
}

func TestTinyLFUKeepsHotEntriesThroughAScan(t *testing.T) {
	s := mustNew(t, Config[int, int]{MaxBytes: 200 * (1000 + entryOverhead[int, int]()), Shards: 1})
	for round := 0; round < 20; round++ {
		for k := 0; k < 100; k++ {
			if _, ok := s.Get(k); !ok {
				s.Set(k, k, 1000, time.Time{})
			}
		}
	}
	for k := 1000; k < 11000; k++ { // a scan of one-hit wonders
		s.Set(k, k, 1000, time.Time{})
	}
	kept := 0
	for k := 0; k < 100; k++ {
		if _, ok := s.Peek(k); ok {
			kept++
		}
	}
	if kept < 90 {
		t.Fatalf("only %d of 100 hot entries survived a scan", kept)
	}
}

func TestRange(t *testing.T) {
	s := mustNew(t, Config[string, int]{MaxBytes: 1 << 20})
	for i := 0; i < 50; i++ {
		s.Set(fmt.Sprint(i), i, 1, time.Time{})
	}
	seen := 0
	s.Range(func(k string, v int) bool {
		if k != fmt.Sprint(v) {
			t.Fatalf("key %q value %d", k, v)
		}
		seen++
		s.Delete(k) // Range lets fn call the store
		return true
	})
	if seen != 50 || s.Len() != 0 {
		t.Fatalf("seen %d, left %d", seen, s.Len())
	}
	n := 0
	s.Set("x", 1, 1, time.Time{})
	s.Set("y", 1, 1, time.Time{})
	s.Range(func(string, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range continued after false: %d", n)
	}
}

func TestConcurrentUseStaysWithinBudget(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			var mu sync.Mutex
			departures := 0
			s := mustNew(t, Config[int, []byte]{MaxBytes: 256 << 10, Shards: 8, Policy: p, OnEvict: func(Eviction[int, []byte]) {
				mu.Lock()
				departures++
				mu.Unlock()
			}})
			var wg sync.WaitGroup
			var over sync.Once
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 7))
					for i := 0; i < 3000; i++ {
						k := r.IntN(1000)
						switch r.IntN(10) {
						case 0:
							s.Delete(k)
						case 1, 2:
							size := 100 + r.IntN(8000)
							s.Set(k, make([]byte, size), int64(size), time.Time{})
						default:
							if v, ok := s.Get(k); ok && v == nil {
								t.Error("nil value")
							}
						}
						if b := s.Bytes(); b > s.MaxBytes() {
							over.Do(func() { t.Errorf("Bytes %d > MaxBytes %d", b, s.MaxBytes()) })
						}
					}
				}(g)
			}
			wg.Wait()
			var sum int64
			s.Range(func(_ int, v []byte) bool { sum += int64(len(v)) + s.EntryOverhead(); return true })
			if sum != s.Bytes() {
				t.Fatalf("entries sum to %d bytes, Bytes() says %d", sum, s.Bytes())
			}
			mu.Lock()
			defer mu.Unlock()
			if st := s.Stats(); int(st.Sets) != departures+s.Len() {
				t.Fatalf("sets %d != departures %d + live %d", st.Sets, departures, s.Len())
			}
		})
	}
}

func TestGetHitDoesNotAllocate(t *testing.T) {
	s := mustNew(t, Config[string, []byte]{MaxBytes: 1 << 20})
	s.Set("key", []byte("value"), 8, time.Time{})
	s.Set("ttl", []byte("value"), 8, time.Now().Add(time.Hour))
	for _, k := range []string{"key", "ttl"} {
		if a := testing.AllocsPerRun(1000, func() { s.Get(k) }); a != 0 {
			t.Fatalf("Get(%q) allocates %.1f times per hit", k, a)
		}
	}
}

func TestSketchCountsAndAges(t *testing.T) {
	sk := newSketch(1024)
	for i := 0; i < 10; i++ {
		sk.increment(42)
	}
	if e := sk.estimate(42); e < 9 || e > 16 {
		t.Fatalf("estimate %d after 10 increments", e)
	}
	if e := sk.estimate(7); e > 1 {
		t.Fatalf("unseen key estimate %d", e)
	}
	before := sk.estimate(42)
	sk.reset()
	if after := sk.estimate(42); after >= before {
		t.Fatalf("reset did not age: %d -> %d", before, after)
	}
}

// GetAt decides expiry by the caller's time, not the Store's clock.
func TestGetAtUsesTheCallersTime(t *testing.T) {
	fc := clock.NewFake(time.Unix(1000, 0))
	s := mustNew(t, Config[string, int]{MaxBytes: 1 << 20, Now: fc.Now})
	s.Set("k", 1, 1, time.Unix(1010, 0))
	if v, ok := s.GetAt("k", time.Unix(1009, 0)); !ok || v != 1 {
		t.Fatal("GetAt before expiry missed")
	}
	fc.Advance(time.Hour) // the Store's clock says expired; the caller's does not
	if _, ok := s.GetAt("k", time.Unix(1009, 0)); !ok {
		t.Fatal("GetAt used the Store's clock")
	}
	if _, ok := s.GetAt("k", time.Unix(1010, 0)); ok {
		t.Fatal("GetAt at the expiry instant hit")
	}
}

func TestMaxEntryLimit(t *testing.T) {
	if _, err := New(Config[int, int]{MaxBytes: 1 << 40, MaxEntryBytes: MaxEntryLimit + 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("MaxEntryBytes above MaxEntryLimit: err %v, want ErrInvalidConfig", err)
	}
	s := mustNew(t, Config[int, int]{MaxBytes: 1 << 40})
	if s.maxEntry != MaxEntryLimit {
		t.Fatalf("default MaxEntryBytes of a 1 TiB store is %d, want the limit %d", s.maxEntry, int64(MaxEntryLimit))
	}
	var tooLarge *TooLargeError
	if _, err := s.Set(1, 1, MaxEntryLimit, time.Time{}); !errors.As(err, &tooLarge) {
		t.Fatalf("Set above the limit: %v", err)
	}
	if _, err := s.Set(2, 2, MaxEntryLimit-s.EntryOverhead(), time.Time{}); err != nil {
		t.Fatalf("Set at the limit: %v", err)
	}
	if v, ok := s.Get(2); !ok || v != 2 || s.Bytes() != MaxEntryLimit {
		t.Fatalf("entry at the limit: %v %v, Bytes %d", v, ok, s.Bytes())
	}
}

// TestExpiryBeyondUnixNanoRangeIsClamped: an expiry after 2262 (an HTTP
// Expires in 2286) or before 1678 does not wrap around in UnixNano; it is
// clamped, far future to "not yet", far past to "already".
func TestExpiryBeyondUnixNanoRangeIsClamped(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	s := mustNew(t, Config[string, int]{MaxBytes: 1 << 20, Now: fc.Now})
	far := time.Date(2286, 11, 21, 4, 46, 39, 0, time.UTC)
	s.Set("future", 1, 1, far)
	s.Set("past", 2, 1, time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC))
	fc.Advance(24 * time.Hour)
	if _, ok := s.Get("future"); !ok {
		t.Fatal("an expiry in 2286 expired at once")
	}
	if _, ok := s.GetAt("future", fc.Now()); !ok {
		t.Fatal("GetAt: an expiry in 2286 expired at once")
	}
	if _, ok := s.Get("past"); ok {
		t.Fatal("an expiry in 1600 has not passed")
	}
}

// The default hash (maphash.String for string keys, maphash.Comparable for
// others, each Store with a seed of its own) spreads similar keys evenly
// over shards and differs between Stores.
func TestDefaultHashSpreadsKeys(t *testing.T) {
	const shards, keys = 64, 64 * 1000
	check := func(name string, shardOf func(i int) uint64) {
		var count [shards]int
		for i := 0; i < keys; i++ {
			count[shardOf(i)]++
		}
		// Chi-square over 63 degrees of freedom: 120 is beyond p = 0.99999.
		var chi float64
		for _, c := range count {
			d := float64(c - keys/shards)
			chi += d * d / (keys / shards)
		}
		if chi > 120 {
			t.Errorf("%s: keys spread unevenly over shards (chi-square %.1f): %v", name, chi, count)
		}
	}
	ss := mustNew(t, Config[string, int]{Shards: shards})
	check("string", func(i int) uint64 { return ss.shardIndex(ss.keyHash("https://example.com/" + strconv.Itoa(i))) })
	is := mustNew(t, Config[int, int]{Shards: shards})
	check("int", func(i int) uint64 { return is.shardIndex(is.keyHash(i)) })
	type pair struct{ a, b int32 }
	ps := mustNew(t, Config[pair, int]{Shards: shards})
	check("struct", func(i int) uint64 { return ps.shardIndex(ps.keyHash(pair{int32(i), 7})) })
	other := mustNew(t, Config[string, int]{Shards: shards})
	if ss.keyHash("k") == other.keyHash("k") {
		t.Error("two Stores hash a key alike: the seed is not per Store")
	}
}

// The index and the frequency sketch grow with the entries; what they grow
// by counts against MaxBytes beside the entries, at every step.
func TestIndexGrowthCountsAgainstMaxBytes(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		s := mustNew(t, Config[int, int]{MaxBytes: 256 << 10, Shards: 2, Policy: p})
		for i := 0; i < 20_000; i++ {
			s.Set(i, i, 0, time.Time{})
			if st := s.Stats(); st.Bytes+st.IndexBytes > st.MaxBytes {
				t.Fatalf("%v: entries %d + index %d bytes exceed MaxBytes %d", p, st.Bytes, st.IndexBytes, st.MaxBytes)
			}
		}
		st := s.Stats()
		if st.IndexBytes == 0 || st.Entries < 1000 {
			t.Fatalf("%v: %d entries, index grew by %d bytes", p, st.Entries, st.IndexBytes)
		}
		checkConsistent(t, s, int(st.Sets)-st.Entries)
	}
}

// A Set of a key already present takes the old node's place in its order
// list when it costs no more (the index and the lists hold the same node),
// and leaves and re-enters when it costs more; the tallies follow.
func TestReplaceKeepsListsAndTalliesConsistent(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		s := mustNew(t, Config[int, int]{MaxBytes: 1 << 20, Shards: 1, Policy: p})
		o := s.EntryOverhead()
		for k := range 50 {
			s.Set(k, k, 100, time.Time{})
		}
		s.Set(7, -7, 40, time.Time{})  // smaller: replaced in place in the list
		s.Set(9, -9, 300, time.Time{}) // larger: out and back in
		if want := 48*(100+o) + 40 + o + 300 + o; s.Bytes() != want {
			t.Errorf("%v: Bytes %d, want %d", p, s.Bytes(), want)
		}
		if v, ok := s.Get(7); !ok || v != -7 {
			t.Errorf("%v: Get(7) = %d, %v", p, v, ok)
		}
		checkConsistent(t, s, 2) // the two replaced values count as departures
	}
}
