package store

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// procPin and procUnpin pin the calling goroutine to its P (processor) and
// return the P's id; sync.Pool is built on them. The runtime keeps them
// linkable on purpose (go.dev/issue/67401: "Do not remove or change the
// type signature").
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// lookupCounters counts hits and misses exactly, without a shared cache
// line.
//
// A counter that every Get increments, even one per shard, moves between
// the cores' caches on almost every call (each core touches every shard),
// and those transfers cost more than the rest of a Get. The counts are
// therefore striped by P: a goroutine adds to the stripe of the P it runs
// on, so each stripe's line stays in one core's cache. Reading sums the
// stripes.
//
// It is safe for concurrent use.
type lookupCounters struct {
	stripes []lookupStripe
	mask    int
}

type lookupStripe struct {
	hits, misses atomic.Uint64
	_            [112]byte // counters of two stripes never share a line
}

func (c *lookupCounters) init() {
	n := nextPow2(uint64(runtime.GOMAXPROCS(0)))
	c.stripes = make([]lookupStripe, n)
	c.mask = int(n - 1)
}

// hit counts a hit and returns the stripe's new hit count.
func (c *lookupCounters) hit() uint64 {
	// GOMAXPROCS may have grown since init: the mask folds extra Ps in.
	n := c.stripes[procPin()&c.mask].hits.Add(1)
	procUnpin()
	return n
}

func (c *lookupCounters) miss() {
	c.stripes[procPin()&c.mask].misses.Add(1)
	procUnpin()
}

// sum returns the totals.
func (c *lookupCounters) sum() (hits, misses uint64) {
	for i := range c.stripes {
		hits += c.stripes[i].hits.Load()
		misses += c.stripes[i].misses.Load()
	}
	return hits, misses
}
