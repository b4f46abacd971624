package cache

import (
	"fmt"

	"github.com/edgekit/edgekit/internal/store"
)

// The store under HTTPCache (internal/store) is not exported: package cache
// offers HTTP caching, and a generic key/value store beside it would be a
// second API with no user in this module, pinned against the changes the
// store goes through (its per-entry overhead and what it counts against
// MaxBytes changed in one round). Users who want a byte-bounded store of
// their own values have otter, ristretto or golang-lru. What HTTPCache users
// do need from it is named here, in types of this package: the eviction
// Policy and the RemovalReason reported to Config.OnEvict.

// Policy chooses how the cache picks what to evict when it is full.
type Policy int

const (
	// TinyLFU, the default, keeps a small LRU window in front of a
	// segmented main area, and admits an object leaving the window only
	// if a frequency sketch says it is used more than the object it would
	// displace: scans and loops do not flush popular objects.
	TinyLFU Policy = iota
	// LRU evicts the least recently used object (in CLOCK's
	// approximation).
	LRU
)

// String returns the policy's name.
func (p Policy) String() string { return p.store().String() }

// store returns the store's policy p stands for.
func (p Policy) store() store.Policy {
	switch p {
	case TinyLFU:
		return store.TinyLFU
	case LRU:
		return store.LRU
	}
	return store.Policy(p) // unknown: the store refuses it with ErrInvalidConfig
}

// RemovalReason tells why an object left the cache (see Removal).
type RemovalReason int

const (
	// Evicted: removed to make room within MaxBytes.
	Evicted RemovalReason = iota + 1
	// Expired: kept past its freshness (and any stale use) until the store
	// dropped it.
	Expired
	// Deleted: removed by Delete, Clear, a purge or an invalidation.
	Deleted
)

// String returns the reason's name.
func (r RemovalReason) String() string {
	switch r {
	case Evicted, Expired, Deleted:
		return removalReason(r).String()
	}
	return fmt.Sprintf("RemovalReason(%d)", int(r))
}

// removalReason maps a cache reason to the store's.
func removalReason(r RemovalReason) store.Reason {
	switch r {
	case Evicted:
		return store.Evicted
	case Expired:
		return store.Expired
	}
	return store.Deleted
}

// reasonOf maps the store's reason to the cache's (a replacement is
// never reported as a removal).
func reasonOf(r store.Reason) RemovalReason {
	switch r {
	case store.Evicted:
		return Evicted
	case store.Expired:
		return Expired
	}
	return Deleted
}
