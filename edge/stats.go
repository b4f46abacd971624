package edge

import (
	"github.com/edgekit/edgekit/cache"
)

// Stats is a snapshot of a Node's counters, for export to any metrics
// system.
type Stats struct {
	Requests uint64
	// EngineStats are the counters of the node's cache.Engine, which
	// serves every request (hits, misses, stale, revalidations,
	// collapsed waiters, origin errors, passes, invalidations, background
	// fetches, bytes). Their fields are promoted: s.Hits, and "Hits" in
	// JSON, as before.
	cache.EngineStats
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
	s := Stats{Requests: n.requests.Load(0), EngineStats: n.engine.Stats(), Objects: n.index.Stats().Objects}
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
