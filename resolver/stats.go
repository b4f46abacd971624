package resolver

import "sync/atomic"

type counters struct {
	queries, cacheHits, cacheMisses, upstream, timeouts atomic.Uint64
	servfails, staleServed, prefetches, coalesced       atomic.Uint64
	refused                                             atomic.Uint64
}

// Stats is a snapshot of a resolver's counters.
type Stats struct {
	Queries uint64 // questions asked of Resolve
	// CacheHits counts questions answered from the cache, those
	// synthesised from cached validated NSEC records and wildcards (RFC
	// 8198) included; CacheMisses the others.
	CacheHits   uint64
	CacheMisses uint64
	// Upstream counts queries sent to name servers or forwarders.
	Upstream uint64
	Timeouts uint64
	// ServFails counts resolutions that failed (before serve-stale).
	ServFails   uint64
	StaleServed uint64
	Prefetches  uint64
	// Coalesced counts questions that waited for an identical one.
	Coalesced uint64
	// Refused counts clients refused by the server's access list.
	Refused uint64
	// CacheEntries and CacheBytes describe the cache.
	CacheEntries int
	CacheBytes   int64
}

// Stats returns a snapshot of the counters.
func (r *Recursive) Stats() Stats {
	return Stats{
		Queries: r.st.queries.Load(), CacheHits: r.st.cacheHits.Load(), CacheMisses: r.st.cacheMisses.Load(),
		Upstream: r.st.upstream.Load(), Timeouts: r.st.timeouts.Load(), ServFails: r.st.servfails.Load(),
		StaleServed: r.st.staleServed.Load(), Prefetches: r.st.prefetches.Load(), Coalesced: r.st.coalesced.Load(),
		Refused: r.st.refused.Load(), CacheEntries: r.cache.Len(), CacheBytes: r.cache.Bytes(),
	}
}
