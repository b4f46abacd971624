package store

import (
	"runtime"
	"sync/atomic"

	"github.com/edgekit/edgekit/internal/race"
)

// inPlace enables in-place updates: a Set that replaces a value of the same
// cost writes the key's node under its sequence lock (see node.read)
// instead of allocating a new node and swapping it into the index. The
// sequence lock's readers rely on loads not being reordered with other
// loads, which amd64 guarantees (and Go's compiler keeps: an atomic load
// orders the plain loads after it, and the plain loads before the next
// atomic one). Elsewhere, and under the race detector, which would report
// the sequence lock's deliberate race, updates allocate (see Store.update).
const inPlace = runtime.GOARCH == "amd64" && !race.Enabled

// node is one entry. key, hash and size never change after the node is
// published. value and expires change only by an in-place update (see
// inPlace), which readers detect: they read the pair through read. Which
// order list holds the key is the lists' business (see untally).
type node[K comparable, V any] struct {
	// What a Get reads comes first, to share the node's first cache line.
	hash uint64
	// state holds the ref bit, set by readers on a hit and cleared by the
	// policy when it gives the entry a second chance (see secondChance);
	// the dead bit, set when the node leaves the index (kill); and, for
	// in-place updates, a writing bit and a version above it, as in a
	// sequence lock. Once the node is published it is only accessed
	// atomically; a plain field lets an unpublished node be written
	// without a fence.
	state uint32
	// size is the entry's cost, EntryOverhead included (at most
	// MaxEntryLimit): 32 bits keep a node of a string key and a slice
	// value to 64 bytes, one cache line.
	size uint32
	// expires is unix nanoseconds, 0 for never; accessed atomically once
	// published (an in-place update changes it).
	expires int64
	key     K
	value   V
}

// The state's bits. Those above writingBit count versions: ending a write
// adds writingBit to the state, which clears the bit and carries into them.
const (
	refBit     = 1 << iota
	deadBit    // out of the index: no update may write it any more
	writingBit // an in-place update is writing value and expires
)

func (n *node[K, V]) cost() int64 { return int64(n.size) }

func (n *node[K, V]) referenced() bool { return atomic.LoadUint32(&n.state)&refBit != 0 }

// mark sets the ref bit (a plain load when it is already set, which for a
// hot entry is almost always).
func (n *node[K, V]) mark() {
	if atomic.LoadUint32(&n.state)&refBit == 0 {
		atomic.OrUint32(&n.state, refBit)
	}
}

func (n *node[K, V]) unmark() { atomic.AndUint32(&n.state, ^uint32(refBit)) }

func (n *node[K, V]) expiry() int64 { return atomic.LoadInt64(&n.expires) }

// read returns the node's value and expiry, from one and the same write,
// and the state they were read under (for its ref bit). It is safe without
// the shard lock. Without in-place updates the fields never change once
// published; with them, read is the reading side of a sequence lock: a
// read that overlapped a write (the version moved, or a write was under
// way) is done again.
func (n *node[K, V]) read() (V, int64, uint32) {
	if v, e, w, ok := n.tryRead(); ok {
		return v, e, w
	}
	return n.readAgain()
}

// tryRead is one attempt of read: ok is false when it overlapped a write.
// It is small enough for the compiler to inline into generic callers.
func (n *node[K, V]) tryRead() (v V, e int64, w uint32, ok bool) {
	w = atomic.LoadUint32(&n.state)
	v, e = n.value, n.expires
	ok = !inPlace || (w&writingBit == 0 && (atomic.LoadUint32(&n.state)^w)&^uint32(refBit) == 0)
	return v, e, w, ok
}

// readAgain is read's retry loop, for a read that met a write.
func (n *node[K, V]) readAgain() (V, int64, uint32) {
	for spins := 0; ; spins++ {
		if v, e, w, ok := n.tryRead(); ok {
			return v, e, w
		}
		if spins >= 8 {
			runtime.Gosched() // the writer was preempted mid-write
		}
	}
}

// beginWrite claims n for an in-place update and marks it referenced (an
// update is a use). It fails when n is dead or another update is writing
// it; the caller then takes the locked path.
func (n *node[K, V]) beginWrite() bool {
	for {
		w := atomic.LoadUint32(&n.state)
		if w&(deadBit|writingBit) != 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(&n.state, w, w|writingBit|refBit) {
			return true
		}
	}
}

// endWrite publishes the writes made since beginWrite under a new version.
func (n *node[K, V]) endWrite() { atomic.AddUint32(&n.state, writingBit) }

// kill marks n dead, after any update writing it has finished: once it
// returns, n's value and expiry are final. It reports whether n was alive
// (always true without in-place updates). The shard lock is held, and n is
// about to leave the index (or to be checked and revived, see revive).
func (n *node[K, V]) kill() bool {
	if !inPlace {
		return true
	}
	for spins := 0; ; spins++ {
		w := atomic.LoadUint32(&n.state)
		if w&writingBit == 0 {
			if w&deadBit != 0 {
				return false
			}
			if atomic.CompareAndSwapUint32(&n.state, w, w|deadBit) {
				return true
			}
			continue
		}
		if spins >= 8 {
			runtime.Gosched()
		}
	}
}

// revive undoes a kill that found n alive, for a node that stays in the
// index. The shard lock is held.
func (n *node[K, V]) revive() {
	if inPlace {
		atomic.AndUint32(&n.state, ^uint32(deadBit))
	}
}
