package store

import (
	"runtime"
	"sync/atomic"
)

// node is one entry. key, hash and size never change after the node is
// published. value and expires change only by an in-place update (see
// Store.updateInPlace), a Set of the same cost, under the node's
// reader-writer lock: readers read the pair through read. Which order list
// holds the key is the lists' business (see untally).
//
// The lock lives in state and is race-free under the Go memory model on
// every architecture (the race detector checks the same code that ships): a
// reader counts itself in with one atomic add, reads value and expires only
// if no update is writing, and counts itself out with another; an update
// claims the node by compare-and-swap only when no reader is in and no
// other update is writing, and otherwise gives up and takes the shard
// lock's path (which allocates a new node). So no one ever waits for a
// reader, and readers wait only for the few stores of an update.
type node[K comparable, V any] struct {
	// What a Get reads comes first, to share the node's first cache line.
	hash uint64
	// state holds the ref bit, set by readers on a hit and cleared by the
	// policy when it gives the entry a second chance (see secondChance);
	// the dead bit, set when the node leaves the index (kill); the writing
	// bit of an in-place update; and above them the number of readers in.
	// Once the node is published it is only accessed atomically; a plain
	// field lets an unpublished node be written without a fence.
	state uint32
	// size is the entry's cost, EntryOverhead included (at most
	// MaxEntryLimit): 32 bits keep a node of a string key and a slice
	// value to 64 bytes, one cache line.
	size uint32
	// expires is unix nanoseconds, 0 for never; read under the node's
	// lock or atomically (expiry), written by an update atomically.
	expires int64
	key     K
	value   V
}

// The state's bits. Those above writingBit count the readers in.
const (
	refBit     = 1 << iota
	deadBit    // out of the index: no update may write it any more
	writingBit // an in-place update is writing value and expires
	readerOne  // one reader in
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
// the shard lock.
func (n *node[K, V]) read() (V, int64, uint32) {
	if v, e, w, ok := n.tryRead(); ok {
		return v, e, w
	}
	return n.readAgain()
}

// tryRead is one attempt of read: ok is false when an update was writing.
// It is small enough for the compiler to inline into generic callers.
func (n *node[K, V]) tryRead() (v V, e int64, w uint32, ok bool) {
	w = atomic.AddUint32(&n.state, readerOne)
	if w&writingBit == 0 {
		v, e, ok = n.value, n.expires, true
	}
	atomic.AddUint32(&n.state, ^uint32(readerOne-1)) // minus readerOne
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
// update is a use). It fails when n is dead, another update is writing it
// or a reader is in; the caller then takes the locked path.
func (n *node[K, V]) beginWrite() bool {
	for {
		w := atomic.LoadUint32(&n.state)
		if w&(deadBit|writingBit) != 0 || w >= readerOne {
			return false
		}
		if atomic.CompareAndSwapUint32(&n.state, w, w|writingBit|refBit) {
			return true
		}
	}
}

// endWrite ends the update begun by beginWrite, publishing its writes.
func (n *node[K, V]) endWrite() { atomic.AndUint32(&n.state, ^uint32(writingBit)) }

// kill marks n dead, after any update writing it has finished: once it
// returns, n's value and expiry are final. It reports whether n was alive.
// The shard lock is held, and n is about to leave the index (or to be
// checked and revived, see revive).
func (n *node[K, V]) kill() bool {
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
func (n *node[K, V]) revive() { atomic.AndUint32(&n.state, ^uint32(deadBit)) }
