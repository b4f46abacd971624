package store

import "sync/atomic"

// table is a shard's key index: an open-addressing hash table (linear
// probing) of node pointers, read without locks and written only under the
// shard's lock.
//
// Readers load the current slot array through an atomic pointer and probe
// it with atomic loads; a slot only ever changes from empty to a node, from
// a node to another node of the same key (replacement) or to the tombstone
// (deletion), so a probe never skips a live key. Growing or compacting
// builds a new array and swaps the pointer; a reader still probing the old
// one sees the state from just before the swap, which is a correct answer
// for a read that raced the write.
//
// Each slot keeps its key's full 64-bit hash beside the node pointer, on
// the same cache line, so a probe passes over other keys' slots without
// loading their nodes: a hit touches one slot line and one node, however
// long the probe. A slot's hash is written before its node is published
// and never changes while the node is the slot's, so a reader that finds a
// node also sees its hash; a reader racing a slot's reuse may read the new
// hash beside the old node, which the key comparison then rejects.
type table[K comparable, V any] struct {
	slots atomic.Pointer[[]slot[K, V]]
	tomb  *node[K, V]
	live  int // nodes in the array (under the shard lock)
	used  int // nodes plus tombstones (under the shard lock)
}

// slot is one table entry: a node (nil: empty; the tombstone: deleted)
// and the hash of the key it was last given.
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

func (t *table[K, V]) init(tomb *node[K, V]) {
	t.tomb = tomb
	s := make([]slot[K, V], minTableSlots)
	t.slots.Store(&s)
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
	slots := *t.slots.Load()
	sl := &slots[start(h, uint64(len(slots)-1))]
	if n := sl.n.Load(); n != nil && sl.hash.Load() == h && n != t.tomb && n.key == key {
		return n
	}
	return t.probe(h, key)
}

// probe is get's full linear probe. It dereferences only nodes whose slot
// hash matches.
func (t *table[K, V]) probe(h uint64, key K) *node[K, V] {
	slots := *t.slots.Load()
	mask := uint64(len(slots) - 1)
	for i, probes := start(h, mask), 0; probes < len(slots); i, probes = (i+1)&mask, probes+1 {
		sl := &slots[i]
		n := sl.n.Load()
		if n == nil {
			return nil
		}
		if sl.hash.Load() == h && n != t.tomb && n.key == key {
			return n
		}
	}
	return nil
}

// lookup is get for a writer: it also returns the slot holding the node,
// which stays the key's slot while the shard lock is held. The shard lock
// is held.
func (t *table[K, V]) lookup(h uint64, key K) (*slot[K, V], *node[K, V]) {
	slots := *t.slots.Load()
	mask := uint64(len(slots) - 1)
	for i, probes := start(h, mask), 0; probes < len(slots); i, probes = (i+1)&mask, probes+1 {
		sl := &slots[i]
		n := sl.n.Load()
		if n == nil {
			return nil, nil
		}
		if sl.hash.Load() == h && n != t.tomb && n.key == key {
			return sl, n
		}
	}
	return nil, nil
}

// put stores n, replacing the node of the same key if there is one, and
// returns the replaced node or nil. The shard lock is held.
func (t *table[K, V]) put(n *node[K, V]) *node[K, V] {
	slots := *t.slots.Load()
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
			slots[i].n.Store(n) // same key, same hash
			return cur
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

// remove deletes n if it is the node stored for its key and reports whether
// it was. The shard lock is held.
func (t *table[K, V]) remove(n *node[K, V]) bool {
	slots := *t.slots.Load()
	mask := uint64(len(slots) - 1)
	for i, probes := start(n.hash, mask), 0; probes < len(slots); i, probes = (i+1)&mask, probes+1 {
		cur := slots[i].n.Load()
		if cur == nil {
			return false
		}
		if cur == n {
			slots[i].n.Store(t.tomb)
			t.live--
			if len(slots) > minTableSlots && t.live*8 < len(slots) {
				t.rebuild() // mostly empty: shrink
			}
			return true
		}
	}
	return false
}

// rebuild copies the live nodes into a fresh array sized for twice their
// number and publishes it. The shard lock is held.
func (t *table[K, V]) rebuild() {
	old := *t.slots.Load()
	size := minTableSlots
	for size < t.live*2+2 {
		size *= 2
	}
	slots := make([]slot[K, V], size)
	mask := uint64(size - 1)
	for i := range old {
		n := old[i].n.Load()
		if n == nil || n == t.tomb {
			continue
		}
		j := start(n.hash, mask)
		for slots[j].n.Load() != nil {
			j = (j + 1) & mask
		}
		slots[j].set(n)
	}
	t.used = t.live
	t.slots.Store(&slots)
}

// each calls fn for every node in the table. It is safe without the shard
// lock (fn sees a snapshot of one array).
func (t *table[K, V]) each(fn func(*node[K, V]) bool) bool {
	slots := *t.slots.Load()
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
