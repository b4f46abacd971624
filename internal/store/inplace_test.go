package store

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// A Set of the same cost rewrites the key's node in place while readers
// read it. A reader must never see half of one write and half of another,
// nor a value with another write's expiry.
func TestInPlaceReadsAreNeverTorn(t *testing.T) {
	const keys = 4
	base := time.Unix(1<<32, 0)
	s := mustNew(t, Config[int, [4]uint64]{MaxBytes: 1 << 20, Shards: 1, Now: func() time.Time { return base }})
	for k := 0; k < keys; k++ {
		s.Set(k, [4]uint64{}, 32, base.Add(time.Hour))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for x := uint64(g); !stop.Load(); x += 2 {
				// The expiry is a function of the value.
				s.Set(int(x%keys), [4]uint64{x, x, x, x}, 32, base.Add(time.Hour+time.Duration(x)))
			}
		}(g)
	}
	h := func(k int) uint64 { return s.keyHash(k) }
	for i := 0; i < 200_000; i++ {
		k := i % keys
		if v, ok := s.Get(k); !ok || v[0] != v[1] || v[1] != v[2] || v[2] != v[3] {
			t.Fatalf("Get(%d) = %v, %v: a torn value", k, v, ok)
		}
		n := s.shards[0].tab.get(h(k), k)
		v, e, _ := n.read(&s.layout)
		if v[0] != v[3] || e != base.Add(time.Hour+time.Duration(v[0])).UnixNano() {
			t.Fatalf("key %d: value %v read with expiry %d, not its own", k, v, e)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// Every value a Set stored must end up either live or reported gone exactly
// once (replaced, evicted or deleted), however updates in place race the
// removals: an update must never write into a node that has left the index
// (it would vanish unreported).
func TestInPlaceUpdatesLoseNothing(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			var stored, reported sync.Map
			var next atomic.Int64
			s := mustNew(t, Config[int, int64]{MaxBytes: 24 * (entryOverhead[int, int64]() + 16), Shards: 1, Policy: p,
				OnEvict: func(e Eviction[int, int64]) {
					if _, again := reported.LoadOrStore(e.Value, e.Key); again {
						t.Errorf("key %d: value %d reported gone twice", e.Key, e.Value)
					}
				}})
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 5))
					for i := 0; i < 30000; i++ {
						k := r.IntN(32)
						cost := int64(16)
						switch r.IntN(20) {
						case 0:
							s.Delete(k)
							continue
						case 1:
							cost = int64(8 + r.IntN(16)) // another size: the locked path
						case 2, 3, 4:
							s.Get(k)
							continue
						}
						v := next.Add(1)
						if ok, _ := s.Set(k, v, cost, time.Time{}); ok {
							stored.Store(v, k)
						}
					}
				}(g)
			}
			wg.Wait()
			live := map[int64]bool{}
			s.Range(func(k int, v int64) bool {
				live[v] = true
				if _, gone := reported.Load(v); gone {
					t.Errorf("key %d: value %d is live and was reported gone", k, v)
				}
				return true
			})
			count := 0
			stored.Range(func(v, k any) bool {
				count++
				if _, gone := reported.Load(v); !gone && !live[v.(int64)] {
					t.Errorf("key %d: value %d was stored, is not live and was never reported gone", k, v)
				}
				return true
			})
			if st := s.Stats(); st.Evictions == 0 || st.Deletes == 0 || count < 50_000 {
				t.Fatalf("the workload did not store, evict and delete enough: %d stored, %+v", count, st)
			}
		})
	}
}

// A reader that finds an entry expired removes it (removeExpired), but an
// update may renew the entry between the reader's look and its removal: in
// place, the node the reader saw then carries the new expiry and must stay.
func TestRemoveExpiredSparesARenewedEntry(t *testing.T) {
	fc := clock.NewFake(time.Unix(1000, 0))
	s := mustNew(t, Config[string, string]{MaxBytes: 1 << 20, Now: fc.Now})
	s.Set("k", "old", 8, fc.Now().Add(time.Second))
	fc.Advance(2 * time.Second)
	h := s.keyHash("k")
	sh := s.shardFor(h)
	n := sh.tab.get(h, "k") // what a reader saw: expired
	if !s.expired(n) {
		t.Fatal("the entry should have expired")
	}
	s.Set("k", "new", 8, fc.Now().Add(time.Minute)) // same cost: in place where enabled
	s.removeExpired(sh, n)
	if v, ok := s.Get("k"); !ok || v != "new" {
		t.Fatalf(`Get = %q, %v; want "new", the renewed entry`, v, ok)
	}
	if st := s.Stats(); st.Expirations != 0 || st.Entries != 1 {
		t.Fatalf("stats %+v: the renewed entry was counted expired", st)
	}
}

// tornCheck is a value of several words, pointers among them, each a
// function of n: a value read half from one write and half from another
// does not match itself.
type tornCheck struct {
	s string
	b []byte
	n uint64
}

func newTornCheck(n uint64) tornCheck {
	return tornCheck{s: strconv.FormatUint(n, 10), b: binary.LittleEndian.AppendUint64(nil, n), n: n}
}

func (v tornCheck) whole() bool {
	return len(v.b) == 8 && binary.LittleEndian.Uint64(v.b) == v.n && v.s == strconv.FormatUint(v.n, 10)
}

// Concurrent Sets of the same cost, which update the key's node in place,
// and Gets of the same keys: every value read must be one a Set wrote,
// whole. The in-place path is the one that ships and the one -race checks
// here (TestSameCostSetUpdatesInPlace shows the Sets take it); before, it
// was compiled out under -race, and with the old sequence lock forced on,
// this test under -race reports its data race.
func TestConcurrentSameCostSetsNeverTear(t *testing.T) {
	const keys = 4
	s := mustNew(t, Config[int, tornCheck]{MaxBytes: 1 << 20, Shards: 1})
	for k := 0; k < keys; k++ {
		s.Set(k, newTornCheck(uint64(k)), 64, time.Time{})
	}
	// Values are built before the run, so the writers only store.
	const perWriter = 4096
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := 0; g < 2; g++ {
		var vals [keys][perWriter]tornCheck
		for k := range vals {
			for i := range vals[k] {
				vals[k][i] = newTornCheck(uint64(keys*(2*i+g) + k))
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				for k := 0; k < keys; k++ {
					s.Set(k, vals[k][i%perWriter], 64, time.Time{})
				}
			}
		}()
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop.Store(true)
			for i := 0; i < 50_000; i++ {
				k := i % keys
				v, ok := s.Get(k)
				if !ok || !v.whole() || v.n%keys != uint64(k) {
					t.Errorf("Get(%d) = %+v, %v: not a value a Set wrote", k, v, ok)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A Set of the same cost with no reader in updates the node in place: no
// allocation, the same node in the index, with -race as without.
func TestSameCostSetUpdatesInPlace(t *testing.T) {
	s := mustNew(t, Config[string, []byte]{MaxBytes: 1 << 20})
	v := []byte("value")
	s.Set("k", v, 8, time.Time{})
	h := s.keyHash("k")
	n := s.shardFor(h).tab.get(h, "k")
	if allocs := testing.AllocsPerRun(100, func() { s.Set("k", v, 8, time.Time{}) }); allocs != 0 {
		t.Errorf("a same-cost Set allocates %.1f times: not in place", allocs)
	}
	if s.shardFor(h).tab.get(h, "k") != n {
		t.Error("a same-cost Set replaced the node: not in place")
	}
}

// layoutOf finds which words of a value hold pointers, and declines values
// that are not whole words (those are never updated in place).
func TestLayoutOf(t *testing.T) {
	if wordSize != 8 {
		t.Skip("64-bit layouts")
	}
	type mixed struct {
		a int32
		p *int
		i any
	}
	check := func(name string, got, want layout) {
		if got != want {
			t.Errorf("%s: layout %+v, want %+v", name, got, want)
		}
	}
	check("[]byte", layoutOf[string, []byte](), layout{3, 0b1})
	check("*int", layoutOf[string, *int](), layout{1, 0b1})
	check("string", layoutOf[int, string](), layout{2, 0b1})
	check("[4]uint64", layoutOf[int, [4]uint64](), layout{4, 0})
	_ = mixed{a: 1, p: nil, i: nil} // its fields are read only by reflection
	check("mixed", layoutOf[int, mixed](), layout{4, 0b1110})
	check("tornCheck", layoutOf[int, tornCheck](), layout{6, 0b101})
	check("map", layoutOf[int, map[int]int](), layout{1, 0b1})
	check("int32", layoutOf[int, int32](), layout{})
	check("struct{}", layoutOf[int, struct{}](), layout{})
	check("[65]uint64", layoutOf[int, [65]uint64](), layout{})
}

// Values that are not whole words are never written once published: a
// same-cost Set replaces the node under the lock, and readers of the old
// node keep its value.
func TestSubWordValuesAreReplaced(t *testing.T) {
	s := mustNew(t, Config[string, int32]{MaxBytes: 1 << 20})
	s.Set("k", 1, 8, time.Time{})
	h := s.keyHash("k")
	n := s.shardFor(h).tab.get(h, "k")
	s.Set("k", 2, 8, time.Time{})
	if v, _, _ := n.read(&s.layout); v != 1 {
		t.Errorf("the old node reads %d, want 1 (written after publication)", v)
	}
	if v, ok := s.Get("k"); !ok || v != 2 {
		t.Errorf("Get = %d, %v; want 2", v, ok)
	}
}
