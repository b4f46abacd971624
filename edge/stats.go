package edge

import (
	"github.com/edgekit/edgekit/cache"
)

// Stats is a snapshot of a Node's counters, for export to any metrics
// system.
type Stats struct {
	Requests uint64
	// Hits are GET/HEAD requests answered from the cache without waiting
	// for the origin (stale-while-revalidate included); Misses the rest.
	Hits, Misses uint64
	// StaleServed counts stale responses served (stale-while-revalidate,
	// stale-if-error, max-stale).
	StaleServed uint64
	// Revalidations counts 304 answers that freshened stored objects.
	Revalidations uint64
	// Collapsed counts requests answered from another request's origin
	// fetch. Waiters released to fetch on their own (the response was
	// uncacheable or too large to store) are not counted.
	Collapsed uint64
	// OriginErrors counts failed origin fetches and 5xx answers.
	OriginErrors uint64
	// Passes counts requests forwarded uncached (unsafe methods).
	Passes        uint64
	Invalidations uint64
	// BackgroundFetches counts stale-while-revalidate refreshes.
	BackgroundFetches uint64
	BytesFromCache    uint64
	BytesFromOrigin   uint64
	// Purges and PurgedObjects count purges applied on this node, whether
	// asked here or received over the bus.
	Purges        uint64
	PurgedObjects uint64
	// HitRatio is Hits / (Hits + Misses), 0 before any.
	HitRatio float64
	// Objects is how many objects the cache holds (with a cache that
	// cannot say, how many carry surrogate keys).
	Objects int
	// Bytes is what the cache counts its objects to cost, surrogate index
	// entries included, and MaxBytes its limit (zero when the cache does
	// not report them).
	Bytes, MaxBytes int64
}

// Stats implements EdgeNode.
func (n *Node) Stats() Stats {
	es := n.engine.Stats()
	s := Stats{
		Requests: n.requests.Load(0), Hits: es.Hits, Misses: es.Misses,
		StaleServed: es.StaleServed, Revalidations: es.Revalidations,
		Collapsed: es.Collapsed, OriginErrors: es.OriginErrors, Passes: es.Passes,
		Invalidations: es.Invalidations, BackgroundFetches: es.BackgroundFetches,
		BytesFromCache: es.BytesFromCache, BytesFromOrigin: es.BytesFromOrigin,
		Objects: n.index.Stats().Objects,
	}
	if c, ok := n.cache.(interface{ Stats() cache.Stats }); ok {
		cs := c.Stats()
		s.Objects, s.Bytes, s.MaxBytes = cs.Objects, cs.Bytes, cs.MaxBytes
	}
	if n.purger != nil {
		// The purger counts purges asked here and those that arrived
		// over the bus from other nodes.
		ps := n.purger.Stats()
		s.PurgedObjects, s.Purges = ps.Objects, ps.Purges+ps.RemotePurges
	}
	if s.Hits+s.Misses > 0 {
		s.HitRatio = float64(s.Hits) / float64(s.Hits+s.Misses)
	}
	return s
}
