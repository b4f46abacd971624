package store

import (
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// FuzzStoreOps drives a Store with an operation sequence decoded from the
// input and checks it against a model: what Get returns was stored under
// that key and not removed since, the byte bound holds after every step,
// and the sum of live entries equals Bytes().
func FuzzStoreOps(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 1, 2, 1, 3, 0})
	f.Add([]byte{0, 5, 200, 0, 6, 200, 0, 7, 200, 1, 5, 4, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		fc := clock.NewFake(time.Time{})
		for _, p := range []Policy{TinyLFU, LRU} {
			live := map[byte]int{}
			s, err := New(Config[byte, int]{
				MaxBytes: 8 * (entryOverhead[byte, int]() + 255), Shards: 2, Policy: p, Now: fc.Now,
				OnEvict: func(e Eviction[byte, int]) {
					if live[e.Key] == e.Value {
						delete(live, e.Key)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+2 < len(ops); i += 3 {
				op, key, arg := ops[i]%5, ops[i+1]%32, ops[i+2]
				switch op {
				case 0:
					val := i + 1
					var exp time.Time
					if arg%4 == 0 {
						exp = fc.Now().Add(time.Duration(arg) * time.Second)
					}
					stored, err := s.Set(key, val, int64(arg), exp)
					if err != nil {
						t.Fatalf("Set: %v", err)
					}
					if stored {
						live[key] = val
					}
				case 1:
					v, ok := s.Get(key)
					if want, present := live[key]; ok && (!present || v != want) {
						t.Fatalf("Get(%d) = %d, model has %d (present %v)", key, v, want, present)
					}
				case 2:
					if s.Delete(key) {
						if _, present := live[key]; present {
							t.Fatalf("Delete(%d): OnEvict did not update the model", key)
						}
					}
				case 3:
					fc.Advance(time.Duration(arg) * time.Second)
				case 4:
					if arg == 0 {
						s.Clear()
						if s.Len() != 0 {
							t.Fatalf("Len %d after Clear", s.Len())
						}
					}
				}
				if s.Bytes() > s.MaxBytes() || s.Bytes() < 0 {
					t.Fatalf("Bytes %d outside [0, %d]", s.Bytes(), s.MaxBytes())
				}
			}
			var sum int64
			n := 0
			for i := range s.shards {
				s.shards[i].tab.each(func(nd *node[byte, int]) bool {
					sum += nd.cost()
					n++
					return true
				})
			}
			if sum != s.Bytes() || n != s.Len() {
				t.Fatalf("live entries: %d bytes in %d, store says %d in %d", sum, n, s.Bytes(), s.Len())
			}
		}
	})
}
