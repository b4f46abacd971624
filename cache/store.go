package cache

import "github.com/edgekit/edgekit/internal/store"

// Store is the concurrent, byte-bounded, frequency-aware key/value store
// under HTTPCache, for users who want it for their own values. See
// StoreConfig for its settings. It is safe for concurrent use.
type Store[K comparable, V any] = store.Store[K, V]

// StoreConfig configures a Store; its zero value is a 64 MiB TinyLFU store.
type StoreConfig[K comparable, V any] = store.Config[K, V]

// StoreEviction describes an entry that left a Store.
type StoreEviction[K comparable, V any] = store.Eviction[K, V]

// Policy is a Store's eviction policy.
type Policy = store.Policy

// Eviction policies.
const (
	TinyLFU = store.TinyLFU
	LRU     = store.LRU
)

// NewStore returns a Store configured by cfg.
func NewStore[K comparable, V any](cfg StoreConfig[K, V]) (*Store[K, V], error) {
	return store.New(cfg)
}
