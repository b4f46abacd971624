package store

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestTableMatchesAMap drives the index through inserts, replacements and
// removals (so it grows, compacts tombstones and shrinks) against a map.
func TestTableMatchesAMap(t *testing.T) {
	var tab table[int, int]
	tab.init(new(node[int, int]))
	model := map[int]*node[int, int]{}
	r := rand.New(rand.NewPCG(1, 2))
	// Few distinct hashes force long probe runs and equal-hash keys.
	hash := func(k int) uint64 { return uint64(k%37) * 0x9e3779b97f4a7c15 }
	for i := 0; i < 200000; i++ {
		k := r.IntN(3000)
		if i > 100000 {
			k = r.IntN(50) // shrink back
		}
		switch r.IntN(3) {
		case 0, 1:
			n := &node[int, int]{key: k, value: i, hash: hash(k)}
			replaced := tab.put(n)
			if replaced != model[k] {
				t.Fatalf("put %d replaced %p, want %p", k, replaced, model[k])
			}
			model[k] = n
		case 2:
			if old := model[k]; old != nil {
				if tab.remove(old, r.IntN(2) == 0) != old {
					t.Fatalf("remove %d: not found", k)
				}
				delete(model, k)
			}
		}
		if got := tab.get(hash(k), k); got != model[k] {
			t.Fatalf("op %d: get %d = %v, want %v", i, k, got, model[k])
		}
	}
	n := 0
	tab.each(func(nd *node[int, int]) bool {
		if model[nd.key] != nd {
			t.Fatalf("each: stray node %d", nd.key)
		}
		n++
		return true
	})
	if n != len(model) || tab.live != len(model) {
		t.Fatalf("each saw %d, live %d, model %d", n, tab.live, len(model))
	}
	if slots := len(tab.arr.Load().slots); slots > 4*len(model)+minTableSlots*4 {
		t.Fatalf("%d slots for %d keys: the table did not shrink", slots, len(model))
	}
}

// TestGetNeverReturnsAnotherKeysValue reads while writers replace, delete
// and evict (small budget, so tables grow, shrink and entries churn).
func TestGetNeverReturnsAnotherKeysValue(t *testing.T) {
	for _, p := range []Policy{TinyLFU, LRU} {
		t.Run(p.String(), func(t *testing.T) {
			s := mustNew(t, Config[int, int]{MaxBytes: 64 * (entryOverhead[int, int]() + 8), Shards: 4, Policy: p})
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 9))
					for i := 0; i < 20000; i++ {
						k := r.IntN(500)
						switch r.IntN(8) {
						case 0:
							s.Delete(k)
						case 1, 2:
							s.Set(k, k*1000+r.IntN(1000), 8, time.Time{})
						default:
							if v, ok := s.Get(k); ok && v/1000 != k {
								t.Errorf("Get(%d) returned %d, a value of key %d", k, v, v/1000)
								return
							}
						}
					}
				}(g)
			}
			wg.Wait()
		})
	}
}
