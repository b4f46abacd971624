package percpu

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// procPin and procUnpin pin the calling goroutine to its P and return the
// P's id; sync.Pool is built on them. The runtime keeps them linkable on
// purpose (go.dev/issue/67401: "Do not remove or change the type
// signature").
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// line is the cache-line size the stripes are padded to (64 bytes on the
// platforms we run on; 128 would only waste a little on those that pair
// lines).
const line = 64

// Counters is a fixed set of n uint64 counters, striped per P. The zero
// value is not usable; call New. It is safe for concurrent use by multiple
// goroutines and must not be copied.
type Counters struct {
	v      []uint64 // stripe s, counter i: v[s*stride+i]; read atomically
	n      int
	stride int
	mask   int
}

// New returns n counters, all zero.
func New(n int) *Counters {
	if n < 1 {
		n = 1
	}
	stripes := 1
	for stripes < runtime.GOMAXPROCS(0) {
		stripes *= 2
	}
	// Each stripe starts on its own line, plus one line of slack so that
	// no two stripes share one whatever the slice's alignment.
	per := line / 8
	stride := (n + per - 1) / per * per
	// One more stripe than Ps: the shared overflow stripe for Ps beyond
	// those New saw (GOMAXPROCS may grow later).
	return &Counters{v: make([]uint64, (stripes+1)*stride+per), n: n, stride: stride, mask: stripes - 1}
}

// Add adds delta to counter i. It panics if i is out of range.
func (c *Counters) Add(i int, delta uint64) { c.add(i, delta) }

// Inc adds one to counter i and returns this P's stripe of it after the
// increment: a cheap value that differs from call to call, for sampling.
func (c *Counters) Inc(i int) uint64 {
	v, _ := c.add(i, 1)
	return v
}

// IncStripe is Inc that also returns the number of the stripe it added to,
// a small non-negative number (the P's, or one past the last for Ps that
// appeared after New): callers may stripe their own per-P state alike.
func (c *Counters) IncStripe(i int) (uint64, int) { return c.add(i, 1) }

// add adds delta to this P's stripe of counter i and returns the stripe's
// value and number.
func (c *Counters) add(i int, delta uint64) (uint64, int) {
	if uint(i) >= uint(c.n) {
		panic("percpu: counter index out of range")
	}
	var v uint64
	p := procPin()
	if p <= c.mask {
		// This P is the stripe's only writer, so the add is never
		// contended and its cache line stays in this core's cache; it is
		// atomic all the same, since readers load the stripe concurrently
		// (a plain add would be a data race under the Go memory model).
		v = atomic.AddUint64(&c.v[p*c.stride+i], delta)
	} else {
		// A P that appeared after New shares the overflow stripe.
		p = c.mask + 1
		v = atomic.AddUint64(&c.v[p*c.stride+i], delta)
	}
	procUnpin()
	return v, p
}

// Load returns counter i, summed over the stripes.
func (c *Counters) Load(i int) uint64 {
	if uint(i) >= uint(c.n) {
		panic("percpu: counter index out of range")
	}
	var sum uint64
	for s := 0; s <= c.mask+1; s++ {
		sum += atomic.LoadUint64(&c.v[s*c.stride+i])
	}
	return sum
}

// Len returns the number of counters.
func (c *Counters) Len() int { return c.n }
