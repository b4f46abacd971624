package cache

// Stats is a snapshot of an HTTPCache's counters, for export to any
// metrics system.
type Stats struct {
	// Hits counts lookups answered from the cache without the origin
	// (fresh, or stale under max-stale or stale-while-revalidate).
	Hits uint64
	// StaleHits counts the hits that served a stale response.
	StaleHits uint64
	// Misses counts lookups with nothing usable stored.
	Misses uint64
	// Validations counts lookups that needed the origin to validate.
	Validations uint64
	// Stores counts responses stored; Updates responses freshened by 304.
	Stores, Updates uint64
	// NotStored counts responses not stored, by reason.
	NotStored map[string]uint64
	// Invalidations counts objects removed by §4.4 invalidation.
	Invalidations uint64
	// Evictions and Expirations come from the store.
	Evictions, Expirations uint64
	Objects                int
	Bytes, MaxBytes        int64
}

// Stats returns a snapshot of the counters.
func (c *HTTPCache) Stats() Stats {
	ss := c.st.Stats()
	s := Stats{
		Hits:          c.lookups.Load(cHits),
		StaleHits:     c.lookups.Load(cStaleHits),
		Misses:        c.lookups.Load(cMisses),
		Validations:   c.lookups.Load(cValidations),
		Stores:        c.stores.Load(),
		Updates:       c.updates.Load(),
		Invalidations: c.invalidations.Load(),
		Evictions:     ss.Evictions,
		Expirations:   ss.Expirations,
		Objects:       ss.Entries,
		Bytes:         ss.Bytes + ss.IndexBytes, // what counts against MaxBytes
		MaxBytes:      ss.MaxBytes,
		NotStored:     map[string]uint64{},
	}
	for r := NotStored(1); r < numNotStored; r++ {
		if n := c.notStored[r].Load(); n > 0 {
			s.NotStored[r.String()] = n
		}
	}
	return s
}
