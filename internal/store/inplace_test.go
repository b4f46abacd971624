package store

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// With in-place updates (inPlace; amd64 without the race detector) a Set of
// the same cost rewrites the key's node while readers read it. A reader
// must never see half of one write and half of another, nor a value with
// another write's expiry. Elsewhere the test runs against allocating
// updates and must pass alike.
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
		v, e, _ := n.read()
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
			s := mustNew(t, Config[int, int64]{MaxBytes: 24 * (EntryOverhead + 16), Shards: 1, Policy: p,
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
