package store

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkConsistent verifies, with the Store quiet, that every shard's index
// and order lists hold the same keys, that the segment tallies and the
// Store's totals add up, and that every stored entry is either live or was
// reported gone exactly once.
func checkConsistent[V any](t *testing.T, s *Store[int, V], departures int) {
	t.Helper()
	var bytes, index int64
	live := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		indexed := map[int]*node[int, V]{}
		sh.tab.each(func(n *node[int, V]) bool {
			if indexed[n.key] != nil {
				t.Errorf("shard %d: key %d indexed twice", i, n.key)
			}
			indexed[n.key] = n
			return true
		})
		listed := map[int]bool{}
		tally := func(l *orderList[int, V]) int64 {
			var sum int64
			count := 0
			var prev *node[int, V]
			for n := l.head; n != nil; prev, n = n, n.next {
				count++
				if n.prev != prev {
					t.Errorf("shard %d: list %d: key %d's back link is wrong", i, l.id, n.key)
				}
				if n.listID() != l.id {
					t.Errorf("shard %d: key %d in list %d says list %d", i, n.key, l.id, n.listID())
				}
				if listed[n.key] {
					t.Errorf("shard %d: key %d in two lists", i, n.key)
				}
				listed[n.key] = true
				if indexed[n.key] != n {
					t.Errorf("shard %d: listed key %d is not the indexed node", i, n.key)
				}
				sum += n.cost()
			}
			if l.tail != prev || l.len != count {
				t.Errorf("shard %d: list %d: length %d, %d linked; tail ok %v", i, l.id, l.len, count, l.tail == prev)
			}
			return sum
		}
		w, p, pr := tally(&sh.window), tally(&sh.probation), tally(&sh.protected)
		for k := range indexed {
			if !listed[k] {
				t.Errorf("shard %d: indexed key %d in no list", i, k)
			}
		}
		if w != sh.windowBytes || p+pr != sh.mainBytes || pr != sh.protectedBytes {
			t.Errorf("shard %d: tallies window %d main %d protected %d, lists hold %d, %d, %d",
				i, sh.windowBytes, sh.mainBytes, sh.protectedBytes, w, p+pr, pr)
		}
		if sh.tab.live != len(indexed) {
			t.Errorf("shard %d: live %d, %d indexed", i, sh.tab.live, len(indexed))
		}
		grown := sh.tab.bytes() - tableBytes(minTableSlots)
		if sh.sketch != nil {
			grown += sh.sketch.bytes() - sketchBytes(initialSketch)
		}
		if grown != sh.grown {
			t.Errorf("shard %d: index and sketch grew by %d bytes, counted %d", i, grown, sh.grown)
		}
		index += sh.grown
		bytes += w + p + pr
		live += len(indexed)
		sh.mu.Unlock()
	}
	if index != s.Stats().IndexBytes || s.Bytes()+index > s.MaxBytes() {
		t.Errorf("index and sketch %d bytes, the Store says %d; with the entries %d of %d", index, s.Stats().IndexBytes, s.Bytes()+index, s.MaxBytes())
	}
	if bytes != s.Bytes() || live != s.Len() {
		t.Errorf("entries hold %d bytes in %d, the Store says %d in %d", bytes, live, s.Bytes(), s.Len())
	}
	if st := s.Stats(); int(st.Sets) != departures+live {
		t.Errorf("sets %d != departures %d + live %d", st.Sets, departures, live)
	}
}

// Updates of a key with a value of the same cost take a lock-free path
// (Store.updateInPlace, the same code with -race as without).
// Race them against evictions, deletions, promotions and locked updates of
// other sizes, then check nothing was lost or counted twice.
func TestLockFreeUpdatesKeepTheStoreConsistent(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			var departures atomic.Int64
			s := mustNew(t, Config[int, int]{MaxBytes: 200 * (entryOverhead[int, int]() + 16), Shards: 2, Policy: p,
				OnEvict: func(Eviction[int, int]) { departures.Add(1) }})
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 11))
					for i := 0; i < 30000; i++ {
						k := r.IntN(400)
						switch r.IntN(20) {
						case 0:
							s.Delete(k)
						case 1:
							s.Set(k, k*1000+r.IntN(1000), int64(8+r.IntN(16)), time.Time{}) // another size: locked path
						case 2, 3, 4, 5, 6, 7:
							s.Set(k, k*1000+r.IntN(1000), 16, time.Time{})
						default:
							if v, ok := s.Get(k); ok && v/1000 != k {
								t.Errorf("Get(%d) = %d, a value of key %d", k, v, v/1000)
								return
							}
						}
					}
				}(g)
			}
			wg.Wait()
			s.flushReads()
			checkConsistent(t, s, int(departures.Load()))
			if st := s.Stats(); st.Evictions == 0 || st.Deletes == 0 {
				t.Fatalf("the workload did not evict and delete: %+v", st)
			}
		})
	}
}

// A rebuild (the index growing or shrinking) must not lose a lock-free
// update, and readers must find every key present throughout while the
// index is rebuilt under them.
func TestLockFreeUpdatesSurviveRebuilds(t *testing.T) {
	const resident = 64
	// Every value stored is unique; an update lost in a rebuild would
	// leave the node it replaced to be reported again by the next one.
	var departures atomic.Int64
	var reported sync.Map
	s := mustNew(t, Config[int, int]{MaxBytes: 1 << 30, Shards: 1,
		OnEvict: func(e Eviction[int, int]) {
			departures.Add(1)
			if _, again := reported.LoadOrStore(e.Value, true); again {
				t.Errorf("key %d: value %d reported gone twice", e.Key, e.Value)
			}
		}})
	for k := 0; k < resident; k++ {
		s.Set(k, k, 16, time.Time{})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var last [resident]atomic.Int64 // the last value each key's one updater wrote
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for k := g; k < resident; k += 2 {
					s.Set(k, k+resident*i, 16, time.Time{})
					last[k].Store(int64(k + resident*i))
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() { // readers
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for k := 0; k < resident; k++ {
				if v, ok := s.Get(k); !ok || v%resident != k {
					t.Errorf("Get(%d) = %d, %v during a rebuild", k, v, ok)
					return
				}
			}
		}
	}()
	// Grow the index to thousands of slots and shrink it back, again and
	// again, under the updaters and readers.
	slots := func() int { return len(s.shards[0].tab.arr.Load().slots) }
	for round := 0; round < 10; round++ {
		for k := 1000; k < 5000; k++ {
			s.Set(k, -(k + 5000*round), 32, time.Time{}) // another cost: never lock-free
		}
		grown := slots()
		for k := 1000; k < 5000; k++ {
			s.Delete(k)
		}
		if shrunk := slots(); grown < 8192 || shrunk > 1024 {
			t.Fatalf("round %d: the index went from %d slots to %d, not through grow and shrink rebuilds", round, grown, shrunk)
		}
	}
	close(stop)
	wg.Wait()
	for k := 0; k < resident; k++ {
		if v, ok := s.Get(k); !ok || int64(v) != last[k].Load() {
			t.Fatalf("key %d: %d, %v after the updates; the last update wrote %d", k, v, ok, last[k].Load())
		}
	}
	checkConsistent(t, s, int(departures.Load()))
}
