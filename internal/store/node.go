package store

import (
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// node is one entry. key, hash and size never change after the node is
// published. value and expires change only by an in-place update (see
// Store.updateInPlace), a Set of the same cost, and only for values whose
// words can be loaded and stored atomically one by one (see layout; every
// pointer, string, slice, interface, integer and struct of them qualifies);
// other values are never written once published. Readers read the pair
// through read. Which order list holds the key is the lists' business (see
// untally).
//
// An in-place update is a sequence lock in which every access to the
// shared words is atomic, so it is race-free under the Go memory model on
// every architecture, and the race detector checks the very code that
// ships: the writer claims the node's writing bit, stores each word of the
// value and the expiry atomically, and ends by adding to the state, which
// clears the bit and moves a version above it; a reader loads the state,
// each word and the expiry atomically, then the state again, and keeps what
// it read only if no write began or ended meanwhile. A mix of two writes'
// words may sit in the reader's own variable for a moment (every word a
// valid pointer or scalar written by some Set) but is never returned.
type node[K comparable, V any] struct {
	// What a Get reads comes first, to share the node's first cache line.
	hash uint64
	// state holds the ref bit, set by readers on a hit and cleared by the
	// policy when it gives the entry a second chance (see secondChance);
	// the dead bit, set when the node leaves the index (kill); the order
	// list holding the node (listBits, changed under the shard lock; readers
	// ignore it); and, for in-place updates, a writing bit and a version
	// above it. Once the node is published it is only accessed atomically;
	// a plain field lets an unpublished node be written without a fence.
	state uint32
	// size is the entry's cost, the entry overhead included (at most
	// MaxEntryLimit).
	size uint32
	// expires is unix nanoseconds, 0 for never; accessed atomically once
	// published (an in-place update changes it).
	expires int64
	key     K
	value   V
	// prev and next link the node into its order list (see orderList):
	// the lists are intrusive, so an entry costs one allocation and no
	// list element or map slot of its own. Only the shard lock's holder
	// reads or writes them; readers never do.
	prev, next *node[K, V]
}

// The state's bits. Those above writingBit count versions: ending a write
// adds writingBit to the state, which clears the bit and carries into them.
const (
	refBit     = 1 << 0
	deadBit    = 1 << 1 // out of the index: no update may write it any more
	listShift  = 2      // bits 2-3: the order list holding the node (listNone: none)
	listBits   = 3 << listShift
	writingBit = 1 << 4 // an in-place update is writing value and expires
	// seqIgnored are the bits a write to which does not invalidate a
	// read: a hit marking the node, the policy moving it between lists.
	seqIgnored = refBit | listBits
)

const wordSize = unsafe.Sizeof(uintptr(0))

// layout tells how a node's value is accessed word by word. words is 0
// when values are not updated in place (V's size is not a whole number of
// words, or it has more than 64), and then values are never written once
// published. Bit i of ptrs is set when word i holds a pointer (it is then
// accessed with atomic.LoadPointer and StorePointer, so the garbage
// collector sees every pointer stored).
type layout struct {
	words int
	ptrs  uint64
}

// layoutOf returns the layout of node[K, V]'s value.
func layoutOf[K comparable, V any]() layout {
	var n node[K, V]
	size := unsafe.Sizeof(n.value)
	if size == 0 || size%wordSize != 0 || size/wordSize > 64 || unsafe.Offsetof(n.value)%wordSize != 0 {
		return layout{}
	}
	l := layout{words: int(size / wordSize)}
	var walk func(t reflect.Type, off uintptr)
	walk = func(t reflect.Type, off uintptr) {
		switch t.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func,
			reflect.String, reflect.Slice: // a string's or slice's data pointer is its first word
			l.ptrs |= 1 << (off / wordSize)
		case reflect.Interface: // type or itab, and data
			l.ptrs |= 3 << (off / wordSize)
		case reflect.Array:
			for i := 0; i < t.Len(); i++ {
				walk(t.Elem(), off+uintptr(i)*t.Elem().Size())
			}
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type, off+t.Field(i).Offset)
			}
		}
	}
	walk(reflect.TypeFor[V](), 0)
	return l
}

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

// listID returns the order list holding n (listNone: none). The shard
// lock is held.
func (n *node[K, V]) listID() uint32 { return atomic.LoadUint32(&n.state) & listBits >> listShift }

// setList records that list id holds n. The shard lock is held; only its
// holder changes these bits, so two atomic steps do not race each other,
// and readers ignore them.
func (n *node[K, V]) setList(id uint32) {
	atomic.AndUint32(&n.state, ^uint32(listBits))
	if id != listNone {
		atomic.OrUint32(&n.state, id<<listShift)
	}
}

func (n *node[K, V]) expiry() int64 { return atomic.LoadInt64(&n.expires) }

// read returns the node's value and expiry, from one and the same write,
// and the state they were read under (for its ref bit). It is safe without
// the shard lock. l is the Store's layout.
func (n *node[K, V]) read(l *layout) (V, int64, uint32) {
	if v, e, w, ok := n.tryRead(l); ok {
		return v, e, w
	}
	return n.readAgain(l)
}

// tryRead is one attempt of read: ok is false when it overlapped a write.
func (n *node[K, V]) tryRead(l *layout) (v V, e int64, w uint32, ok bool) {
	w = atomic.LoadUint32(&n.state)
	if l.words == 0 {
		return n.value, n.expires, w, true // never written once published
	}
	src, dst := unsafe.Pointer(&n.value), unsafe.Pointer(&v)
	for i := range l.words {
		off := uintptr(i) * wordSize
		if l.ptrs&(1<<i) != 0 {
			*(*unsafe.Pointer)(unsafe.Add(dst, off)) = atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(src, off)))
		} else {
			*(*uintptr)(unsafe.Add(dst, off)) = atomic.LoadUintptr((*uintptr)(unsafe.Add(src, off)))
		}
	}
	e = atomic.LoadInt64(&n.expires)
	ok = w&writingBit == 0 && (atomic.LoadUint32(&n.state)^w)&^uint32(seqIgnored) == 0
	return v, e, w, ok
}

// readAgain is read's retry loop, for a read that met a write.
func (n *node[K, V]) readAgain(l *layout) (V, int64, uint32) {
	for spins := 0; ; spins++ {
		if v, e, w, ok := n.tryRead(l); ok {
			return v, e, w
		}
		if spins >= 8 {
			runtime.Gosched() // the writer was preempted mid-write
		}
	}
}

// write stores value and expiry e into n, word by word and atomically (see
// node), skipping words that do not change (an atomic store is a locked
// instruction on amd64; a refreshed value often keeps its length and
// expiry). The caller holds n's writing bit (beginWrite), so no one else
// writes n and its own plain loads of n's words race with nothing.
func (n *node[K, V]) write(l *layout, value V, e int64) {
	src, dst := unsafe.Pointer(&value), unsafe.Pointer(&n.value)
	for i := range l.words {
		off := uintptr(i) * wordSize
		if l.ptrs&(1<<i) != 0 {
			p := (*unsafe.Pointer)(unsafe.Add(dst, off))
			if v := *(*unsafe.Pointer)(unsafe.Add(src, off)); *p != v {
				atomic.StorePointer(p, v)
			}
		} else {
			p := (*uintptr)(unsafe.Add(dst, off))
			if v := *(*uintptr)(unsafe.Add(src, off)); *p != v {
				atomic.StoreUintptr(p, v)
			}
		}
	}
	if n.expires != e {
		atomic.StoreInt64(&n.expires, e)
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
