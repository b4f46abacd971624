// Package store is the concurrent, byte-bounded, frequency-aware key/value
// store under edgekit's HTTP cache and DNS cache. Package cache re-exports
// it for users.
//
// # Bounds
//
// Every entry costs the bytes its caller counts plus the Store's
// EntryOverhead: its node, one allocation of 64 bytes for a string key and
// a pointer value, 80 for a slice value (the order lists are intrusive:
// no list element or map slot per entry). What the index and the frequency
// sketch grow by to hold the entries (about 20-45 bytes an entry) is
// counted too, as it is allocated (Stats.IndexBytes). The sum never
// exceeds Config.MaxBytes, not even between two steps of a Set: room is
// made before an entry's bytes, and the growth it causes, are reserved,
// with a compare-and-swap on the global total. Tests compare the count
// with measured heap growth. An optional entry limit applies too.
//
// # Policy
//
// The default policy is W-TinyLFU: each shard keeps a 1% LRU window and a
// main area split into probation (20%) and protected (80%) segments, each an
// intrusive doubly linked list of the entries' nodes. An entry leaving the window
// enters the main area only if a count-min sketch (4-bit counters, halved
// periodically, behind a doorkeeper bloom filter) says it is used more than
// the entry it would displace. Scans and loops therefore do not flush the
// popular entries, as they do under plain LRU, which is also offered.
//
// # Concurrency
//
// A Store is safe for concurrent use. Keys are spread over shards; each
// shard's index is an open-addressing table of node pointers that readers
// probe with atomic loads, without any lock, and writers change under the
// shard's mutex, except for the commonest write of a cache: an update of a
// key with a value of the same cost (a refreshed object, a re-resolved
// record) takes no lock, since nothing needs evicting and the node keeps
// its place in the order lists (whose links only the lock's holder
// touches). It rewrites the key's node
// in place (no allocation, and the index's cache lines stay clean for other
// cores) under a per-node sequence lock in which every access to the value
// and expiry is an atomic load or store of one word (pointer words with
// atomic.LoadPointer and StorePointer), so readers write nothing and are
// never in a data race; values that are not whole words (see layout) are
// never rewritten, and their updates take the locked path instead. Every
// access is atomic or ordered by atomics: the store is race-free under the
// Go memory model on every architecture, and -race tests the code that
// ships. A node leaving the index is first marked dead, after which no
// update writes it. A locked update swaps a new node into the key's slot by
// compare-and-swap; a rebuild of the index marks each slot it has copied,
// so a slot never changes under a rebuild unseen. A hit marks its entry
// referenced (no write when it already is) and, one read in eight, chosen at random, puts the key's hash
// in a lossy buffer for the frequency sketch, which the reader who fills
// the buffer applies if it gets the shard's lock without waiting. The lists
// are reordered lazily: an entry that reaches the end of a list with its
// reference bit set is given a second chance (moved to the front, or
// promoted from probation to protected) instead of leaving — CLOCK's
// approximation of LRU. Hit, miss and set counters are striped per
// processor.
// No goroutine is started.
package store
