package store

import (
	"sync/atomic"
	"unsafe"

	"github.com/edgekit/edgekit/internal/memsize"
)

// table is a shard's key index: an open-addressing hash table (linear
// probing) of node pointers, read without locks and written under the
// shard's lock. (A Set that updates a key with a value of the same cost
// rewrites the key's node in place without the lock, see
// Store.updateInPlace; the slot keeps the node.) Writers change a slot
// holding a live node by compare-and-swap, take whatever node they find
// there as the key's current one, and mark a node dead (node.kill) before
// it leaves its slot, so that no in-place update writes it afterwards.
//
// Readers load the current slot array through an atomic pointer and probe
// it with atomic loads; a slot only ever changes from empty to a node, from
// a node to another node of the same key (replacement), to the tombstone
// (deletion) or to the moved marker (see rebuild), so a probe never skips a
// live key.
//
// Each slot keeps its key's full 64-bit hash beside the node pointer, on
// the same cache line, so a probe passes over other keys' slots without
// loading their nodes: a hit touches one slot line and one node, however
// long the probe. A slot's hash is written before its node is published
// and never changes while the node is the slot's, so a reader that finds a
// node also sees its hash; a reader racing a slot's reuse may read the new
// hash beside the old node, which the key comparison then rejects.
type table[K comparable, V any] struct {
	arr   atomic.Pointer[array[K, V]]
	tomb  *node[K, V]
	moved *node[K, V]
	live  int // nodes in the array (under the shard lock)
	used  int // nodes plus tombstones (under the shard lock)
}

// array is one generation of slots. next, once set, is the array its slots
// are being or were copied to (see rebuild).
type array[K comparable, V any] struct {
	slots []slot[K, V]
	next  atomic.Pointer[array[K, V]]
}

// slot is one table entry: a node (nil: empty; the tombstone: deleted;
// moved: copied to a newer array) and the hash of the key it was last
// given.
type slot[K comparable, V any] struct {
	n    atomic.Pointer[node[K, V]]
	hash atomic.Uint64
}

// set publishes n in the slot: hash first, so readers that see n see it.
func (sl *slot[K, V]) set(n *node[K, V]) {
	sl.hash.Store(n.hash)
	sl.n.Store(n)
}

const minTableSlots = 8

// slotSize is the memory of one slot.
const slotSize = int64(unsafe.Sizeof(slot[struct{}, struct{}]{}))

// tableBytes is the memory of an array of n slots, with its header.
func tableBytes(n int) int64 {
	return memsize.Alloc(int(slotSize)*n) + memsize.Alloc(int(unsafe.Sizeof(array[struct{}, struct{}]{})))
}

// bytes is the memory of the current array. The shard lock is held.
func (t *table[K, V]) bytes() int64 { return tableBytes(len(t.arr.Load().slots)) }

// sizeFor is the number of slots a rebuild gives live nodes.
func sizeFor(live int) int {
	size := minTableSlots
	for size < live*2+2 {
		size *= 2
	}
	return size
}

// growth returns the bytes the array grows by if put adds a node to an
// empty slot, as it does unless it reuses a deleted one (negative: a
// rebuild that drops tombstones shrinks it). The shard lock is held.
func (t *table[K, V]) growth() int64 {
	n := len(t.arr.Load().slots)
	if (t.used+1)*4 <= n*3 {
		return 0
	}
	return tableBytes(sizeFor(t.live+1)) - tableBytes(n)
}

func (t *table[K, V]) init(tomb *node[K, V]) {
	t.tomb = tomb
	t.moved = new(node[K, V])
	t.arr.Store(&array[K, V]{slots: make([]slot[K, V], minTableSlots)})
}

// start is the first slot probed for h. The shard was chosen from h's low
// bits; a multiplicative mix gives the table independent bits.
func start(h uint64, mask uint64) uint64 {
	return (h * 0x9e3779b97f4a7c15 >> 32) & mask
}

// get returns the node stored for key (with hash h), or nil. It is safe
// without the shard lock. The first probe, which finds most keys, is kept
// small enough to be inlined into callers; probe does the rest.
func (t *table[K, V]) get(h uint64, key K) *node[K, V] {
	a := t.arr.Load()
	sl := &a.slots[start(h, uint64(len(a.slots)-1))]
	if n := sl.n.Load(); n != nil && sl.hash.Load() == h && n != t.tomb && n != t.moved && n.key == key {
		return n
	}
	return t.probe(a, h, key)
}

// probe is get's full linear probe, following the key to the array a
// rebuild moved it to (where it was copied before it was marked moved).
func (t *table[K, V]) probe(a *array[K, V], h uint64, key K) *node[K, V] {
	for {
		_, n, moved := t.find(a.slots, h, key)
		if !moved {
			return n
		}
		a = a.next.Load()
	}
}

// find probes slots for key. It returns the key's slot and node, or nil
// ones, or moved == true when the key's slot was moved to a newer array.
// It dereferences only nodes whose slot hash matches.
func (t *table[K, V]) find(slots []slot[K, V], h uint64, key K) (*slot[K, V], *node[K, V], bool) {
	mask := uint64(len(slots) - 1)
	for i, probes := start(h, mask), 0; probes < len(slots); i, probes = (i+1)&mask, probes+1 {
		sl := &slots[i]
		n := sl.n.Load()
		if n == nil {
			return nil, nil, false
		}
		if sl.hash.Load() != h || n == t.tomb {
			continue
		}
		if n == t.moved {
			return nil, nil, true
		}
		if n.key == key {
			return sl, n, false
		}
	}
	return nil, nil, false
}

// lookup is get for a writer under the shard lock: it also returns the slot
// holding the node, which stays the key's slot while the lock is held (the
// node in it may still be swapped by a lock-free update).
func (t *table[K, V]) lookup(h uint64, key K) (*slot[K, V], *node[K, V]) {
	sl, n, _ := t.find(t.arr.Load().slots, h, key) // no moved slots under the lock
	return sl, n
}

// put stores n, replacing the node of the same key if there is one, and
// returns the replaced node or nil. The shard lock is held.
func (t *table[K, V]) put(n *node[K, V]) *node[K, V] {
	slots := t.arr.Load().slots
	mask := uint64(len(slots) - 1)
	free := -1
	for i, probes := start(n.hash, mask), 0; probes < len(slots); i, probes = (i+1)&mask, probes+1 {
		cur := slots[i].n.Load()
		if cur == nil {
			if free < 0 {
				free = int(i)
				t.used++
			}
			break
		}
		if cur == t.tomb {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if slots[i].hash.Load() == n.hash && cur.key == n.key {
			return swapIn(&slots[i], cur, n)
		}
	}
	// The array always keeps empty slots (see below), so free is set.
	slots[free].set(n)
	t.live++
	if t.used*4 > len(slots)*3 {
		t.rebuild()
	}
	return nil
}

// swapIn replaces the node in sl, cur or whatever a lock-free update of the
// same key has put there since, with n and returns the node it replaced.
// The shard lock is held.
func swapIn[K comparable, V any](sl *slot[K, V], cur, n *node[K, V]) *node[K, V] {
	for {
		cur.kill() // no in-place update may write it once it is out
		if sl.n.CompareAndSwap(cur, n) {
			return cur
		}
		cur = sl.n.Load()
	}
}

// remove deletes the node stored under n's key: n itself, or (unless exact)
// the node a lock-free update has put in its place. It returns the node it
// removed, or nil. The shard lock is held.
func (t *table[K, V]) remove(n *node[K, V], exact bool) *node[K, V] {
	sl, cur := t.lookup(n.hash, n.key)
	switch {
	case cur == nil:
		return nil
	case exact:
		n.kill()
		if !sl.n.CompareAndSwap(n, t.tomb) {
			return nil
		}
		cur = n
	default:
		cur = swapIn(sl, cur, t.tomb)
	}
	t.live--
	if n := len(t.arr.Load().slots); n > minTableSlots && t.live*8 < n {
		t.rebuild() // mostly empty: shrink
	}
	return cur
}

// rebuild copies the live nodes into a fresh array sized for twice their
// number and publishes it. The shard lock is held. Each old slot is frozen
// once copied: compare-and-swapped to the moved marker, so that a
// lock-free update either lands before the freeze (and the copy is redone
// with its node) or fails on the marker (and goes through the lock); a
// reader that meets the marker on its key's hash follows to the new array,
// where the key already is.
func (t *table[K, V]) rebuild() {
	a := t.arr.Load()
	old := a.slots
	size := sizeFor(t.live)
	b := &array[K, V]{slots: make([]slot[K, V], size)}
	a.next.Store(b)
	slots := b.slots
	mask := uint64(size - 1)
	for i := range old {
		sl := &old[i]
		j := -1
		for {
			n := sl.n.Load()
			if n == nil || n == t.tomb {
				break // only the lock changes these
			}
			if j < 0 {
				j = int(start(n.hash, mask))
				for slots[j].n.Load() != nil {
					j = (j + 1) & int(mask)
				}
				slots[j].hash.Store(n.hash)
			}
			slots[j].n.Store(n)
			if sl.n.CompareAndSwap(n, t.moved) {
				break
			}
		}
	}
	t.used = t.live
	t.arr.Store(b)
}

// each calls fn for every node in the table. The shard lock is held (no
// slot is moved meanwhile).
func (t *table[K, V]) each(fn func(*node[K, V]) bool) bool {
	slots := t.arr.Load().slots
	for i := range slots {
		n := slots[i].n.Load()
		if n == nil || n == t.tomb {
			continue
		}
		if !fn(n) {
			return false
		}
	}
	return true
}
