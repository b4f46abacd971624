package store

import (
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/memsize"
	"github.com/edgekit/edgekit/internal/percpu"
)

// Policy selects how a Store chooses what to keep.
type Policy int

const (
	// TinyLFU is the default: a small LRU window in front of a segmented
	// main area (probation and protected), with a TinyLFU admission filter
	// (count-min sketch and doorkeeper) deciding whether an entry leaving
	// the window may displace the main area's victim. It resists scans and
	// loops, where plain LRU collapses.
	TinyLFU Policy = iota
	// LRU evicts the least recently used entry, nothing more, in CLOCK's
	// approximation: reads mark entries referenced instead of reordering
	// the list, and a referenced entry reaching the end is moved back to
	// the front once instead of leaving (see the package documentation).
	LRU
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case TinyLFU:
		return "tinylfu"
	case LRU:
		return "lru"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Reason tells why an entry left a Store.
type Reason int

const (
	// Evicted: removed to make room (byte budget or entry limit).
	Evicted Reason = iota + 1
	// Expired: its expiry time passed.
	Expired
	// Deleted: removed by Delete or Clear.
	Deleted
	// Replaced: Set stored a new value under the same key.
	Replaced
)

// String returns the reason's name.
func (r Reason) String() string {
	switch r {
	case Evicted:
		return "evicted"
	case Expired:
		return "expired"
	case Deleted:
		return "deleted"
	case Replaced:
		return "replaced"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Eviction describes an entry that left the Store.
type Eviction[K comparable, V any] struct {
	Key   K
	Value V
	// Cost is the cost given to Set plus the Store's EntryOverhead.
	Cost   int64
	Reason Reason
}

// entryOverhead is what the Store adds to the caller's cost of every entry
// of K and V: its node, one allocation (the order lists are intrusive, so
// there is no list element or map slot beside it), rounded up to the
// allocator's size class: 80 bytes for a string key and a slice value, 64
// for a string key and a pointer value. The index slots and the frequency
// sketch, which grow with the entries, are counted apart, as they are
// allocated (see Stats.IndexBytes), so MaxBytes bounds them too.
// TestEntryCostIsHonest compares the sum with measured heap growth.
func entryOverhead[K comparable, V any]() int64 {
	return memsize.Alloc(int(unsafe.Sizeof(node[K, V]{})))
}

// MaxEntryLimit is the largest cost one entry may have, whatever the
// configuration: 4 GiB - 1.
const MaxEntryLimit = 1<<32 - 1

const (
	defaultMaxBytes = 64 << 20
	// Each shard's read buffer is striped by processor, so that cores
	// record reads on cache lines of their own: readStripes stripes of
	// stripeSlots slots, stripeStride slots apart (the gap keeps two
	// stripes off one line whatever the shard's alignment).
	readStripes  = 4
	stripeSlots  = 16
	stripeStride = stripeSlots + 8
	// drainTurn: about one recorded read in drainTurn applies the buffer.
	drainTurn = 64
	// readSample: one read in readSample is recorded for the sketch.
	// Sampling keeps relative frequencies (every key is sampled alike)
	// and cuts the per-read cost of applying buffered reads.
	readSample = 8
)

// Config configures a Store. The zero value is a 64 MiB TinyLFU store.
type Config[K comparable, V any] struct {
	// MaxBytes bounds the sum of all entries' costs (including
	// EntryOverhead) and of the index and sketch memory grown to hold them
	// (Stats.IndexBytes); only each shard's fixed structures, about 1.5
	// KiB, are left out. The bound holds at every instant. Zero means 64
	// MiB.
	MaxBytes int64
	// MaxEntries bounds the number of entries. Zero means no entry limit.
	MaxEntries int
	// MaxEntryBytes is the largest cost (including EntryOverhead) one entry
	// may have; Set refuses larger ones with ErrTooLarge. Zero means
	// MaxBytes/4, at most MaxEntryLimit. It may not exceed MaxBytes or
	// MaxEntryLimit.
	MaxEntryBytes int64
	// Shards is the number of independently locked shards, rounded up to a
	// power of two. Zero means 16 per GOMAXPROCS, at most 256, and fewer
	// when MaxBytes is small (each shard gets at least 64 KiB).
	Shards int
	// Policy chooses the eviction policy. Zero means TinyLFU.
	Policy Policy
	// Hash hashes keys. Nil means hash/maphash with a random per-store seed
	// (maphash.String for string keys, maphash.Comparable otherwise).
	Hash func(K) uint64
	// Now returns the current time, for expiry. Nil means time.Now.
	Now func() time.Time
	// OnEvict, if set, is called for every entry that leaves the Store,
	// whatever the Reason, exactly once, after the Store's locks are
	// released, on the goroutine whose call caused the removal. It may call
	// the Store's methods. An entry that Set declined (stored == false) was
	// never in the Store and is not reported.
	OnEvict func(Eviction[K, V])
}

// Stats is a snapshot of a Store's counters.
type Stats struct {
	Hits, Misses uint64
	// Sets counts calls to Set that stored their entry.
	Sets uint64
	// Rejected counts calls to Set whose entry the admission policy
	// declined, and entries too large to store.
	Rejected    uint64
	Evictions   uint64
	Expirations uint64
	Deletes     uint64
	Entries     int
	// Bytes is the sum of the entries' costs, EntryOverhead included.
	Bytes int64
	// IndexBytes is the memory of the shards' indexes and frequency
	// sketches beyond their initial size; it counts against MaxBytes
	// beside Bytes.
	IndexBytes int64
	MaxBytes   int64
}

// HitRatio returns Hits / (Hits + Misses), or 0 before any lookup.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Store is a concurrent, sharded, byte-bounded key/value store with
// per-entry expiry and a frequency-aware eviction policy.
//
// A Store is safe for concurrent use by multiple goroutines and must not be
// copied after first use. It starts no goroutines. Get takes no lock, writes
// no shared memory on a hot entry, and never allocates (see the package
// documentation).
type Store[K comparable, V any] struct {
	shards []shard[K, V]
	mask   uint64
	hash   func(K) uint64 // nil when strKeys is set
	// strKeys is set when K is string and no Config.Hash was given: keys
	// are then hashed by a direct call of maphash.String with seed
	// (keyHash), which saves an indirect call on every lookup.
	strKeys  bool
	seed     maphash.Seed
	layout   layout // how values are read and updated in place
	now      func() time.Time
	onEvict  func(Eviction[K, V])
	policy   Policy
	maxBytes int64
	maxEntry int64
	maxCount int64
	share    int64 // maxBytes per shard
	overhead int64 // entryOverhead[K, V]

	// bytes is what counts against maxBytes: the entries' costs and
	// indexBytes, the index and sketch growth of every shard.
	bytes      atomic.Int64
	indexBytes atomic.Int64
	count      atomic.Int64

	rejected atomic.Uint64
	lookups  *percpu.Counters // statHits, statMisses, statSets, striped per P
}

// The Store's counters striped per processor (see percpu).
const (
	statHits = iota
	statMisses
	statSets
	statCount
)

type shard[K comparable, V any] struct {
	// tab is read by every Get. The groups below are padded apart so that
	// writers (lock, counters, sampled reads) do not invalidate the cache
	// line readers need on other cores.
	tab table[K, V]
	_   [64]byte

	readBuf [readStripes * stripeStride]atomic.Uint64 // key hashes; 0 is empty
	_       [64]byte

	// What a replacing Set writes comes first, on one cache line: the
	// lock, the counters and the byte tallies.
	mu                     sync.Mutex
	updates                uint64 // replacements, to sample them for the sketch
	windowBytes, mainBytes int64
	protectedBytes         int64
	sketch                 *sketch
	// grown is the shard's share of Store.indexBytes: what its index
	// and sketch have grown beyond their initial size.
	grown int64
	// seenSlots and seenSketch are the index size and sketch grown was
	// last computed for.
	seenSlots  int
	seenSketch *sketch
	// Eviction order. The LRU policy uses probation alone.
	window, probation, protected orderList[K, V]
	windowCap, mainCap, protCap  int64

	evictions, expirations, drops atomic.Uint64
	_                             [64]byte // keep neighbouring shards apart
}

// New returns a Store configured by cfg.
func New[K comparable, V any](cfg Config[K, V]) (*Store[K, V], error) {
	if cfg.MaxBytes < 0 || cfg.MaxEntries < 0 || cfg.MaxEntryBytes < 0 || cfg.Shards < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	}
	if cfg.Policy != TinyLFU && cfg.Policy != LRU {
		return nil, fmt.Errorf("%w: unknown policy %d", ErrInvalidConfig, int(cfg.Policy))
	}
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = defaultMaxBytes
	}
	maxEntry := cfg.MaxEntryBytes
	if maxEntry == 0 {
		maxEntry = min(maxBytes/4, MaxEntryLimit)
	}
	if maxEntry > MaxEntryLimit {
		return nil, fmt.Errorf("%w: MaxEntryBytes %d exceeds the limit of %d", ErrInvalidConfig, maxEntry, int64(MaxEntryLimit))
	}
	if maxEntry > maxBytes {
		return nil, fmt.Errorf("%w: MaxEntryBytes %d exceeds MaxBytes %d", ErrInvalidConfig, maxEntry, maxBytes)
	}
	if overhead := entryOverhead[K, V](); maxEntry < overhead {
		if cfg.MaxEntryBytes == 0 {
			// The caller set only MaxBytes: say so in its terms.
			return nil, fmt.Errorf("%w: MaxBytes %d is too small: entries may take a quarter of it, %d bytes, below the per-entry overhead %d (use at least %d)",
				ErrInvalidConfig, maxBytes, maxEntry, overhead, 4*overhead)
		}
		return nil, fmt.Errorf("%w: MaxEntryBytes %d is below the per-entry overhead %d", ErrInvalidConfig, maxEntry, overhead)
	}
	n := cfg.Shards
	if n == 0 {
		n = 16 * runtime.GOMAXPROCS(0)
		if n > 256 {
			n = 256
		}
		for n > 1 && maxBytes/int64(n) < 64<<10 {
			n /= 2
		}
	}
	n = int(nextPow2(uint64(n)))
	s := &Store[K, V]{
		shards:   make([]shard[K, V], n),
		mask:     uint64(n - 1),
		hash:     cfg.Hash,
		now:      clock.Or(cfg.Now),
		onEvict:  cfg.OnEvict,
		policy:   cfg.Policy,
		maxBytes: maxBytes,
		maxEntry: maxEntry,
		maxCount: int64(cfg.MaxEntries),
		overhead: entryOverhead[K, V](),
	}
	if s.hash == nil {
		s.hash, s.strKeys, s.seed = defaultHash[K]()
	}
	s.layout = layoutOf[K, V]()
	s.lookups = percpu.New(statCount)
	share := maxBytes / int64(n)
	s.share = share
	tomb := new(node[K, V])
	for i := range s.shards {
		sh := &s.shards[i]
		sh.tab.init(tomb)
		sh.window.id, sh.probation.id, sh.protected.id = listWindow, listProbation, listProtected
		if cfg.Policy == TinyLFU {
			sh.windowCap = share / 100
			sh.mainCap = share - sh.windowCap
			sh.protCap = sh.mainCap * 8 / 10
			// The sketch starts small and grows with the entries the shard
			// holds (see growSketch), so its table stays cache-resident.
			sh.sketch = newSketch(initialSketch)
		} else {
			sh.mainCap = share
		}
	}
	return s, nil
}

// defaultHash returns how a Store without Config.Hash hashes keys, with a
// random seed of its own: string keys by maphash.String, which keyHash
// calls directly (strKeys, and no func), other keys by maphash.Comparable.
func defaultHash[K comparable]() (hash func(K) uint64, strKeys bool, seed maphash.Seed) {
	seed = maphash.MakeSeed()
	var probe any = func(string) uint64 { return 0 }
	if _, isString := probe.(func(K) uint64); isString {
		return nil, true, seed
	}
	return func(k K) uint64 { return maphash.Comparable(seed, k) }, false, seed
}

// keyHash hashes key.
func (s *Store[K, V]) keyHash(key K) uint64 {
	if s.strKeys {
		// K is string (defaultHash checked it), so key is one.
		return maphash.String(s.seed, *(*string)(unsafe.Pointer(&key)))
	}
	return s.hash(key)
}

func (s *Store[K, V]) shardFor(h uint64) *shard[K, V] { return &s.shards[s.shardIndex(h)] }

// shardIndex is the number of the shard for hash h: its low bits, folded
// with the high ones (the sketch and the index mix the hash again).
func (s *Store[K, V]) shardIndex(h uint64) uint64 { return (h ^ (h >> 32)) & s.mask }

// expired tells whether n's expiry has passed by the Store's clock.
func (s *Store[K, V]) expired(n *node[K, V]) bool {
	e := n.expiry()
	return e != 0 && s.expiredAt(e, time.Time{})
}

// expiredAt tells whether expiry e (not 0) has passed at now, the caller's
// time if it has one, else the Store's clock.
func (s *Store[K, V]) expiredAt(e int64, now time.Time) bool {
	if now.IsZero() {
		now = s.now()
	}
	return now.UnixNano() >= e
}

// Bounds of the times UnixNano represents (years 1678 to 2262).
var (
	maxNanoTime = time.Unix(0, math.MaxInt64)
	minNanoTime = time.Unix(0, 1)
)

// expiryNanos turns an expiry time into unix nanoseconds, clamped instead
// of overflowing: after 2262 (an HTTP Expires may say 2286) it is the
// largest value, never reached; at or before the epoch it is 1, long
// passed (0 would mean "never").
func expiryNanos(t time.Time) int64 {
	if t.After(maxNanoTime) {
		return math.MaxInt64
	}
	if t.Before(minNanoTime) {
		return 1
	}
	return t.UnixNano()
}

// Get returns the value stored under key if it is present and not expired.
// It records the access for the eviction policy and counts a hit or miss.
func (s *Store[K, V]) Get(key K) (V, bool) { return s.GetAt(key, time.Time{}) }

// GetAt is Get for a caller that has just read the clock: now (if not
// zero) decides expiry instead of a second reading of the Store's clock.
func (s *Store[K, V]) GetAt(key K, now time.Time) (V, bool) {
	// table.get's first probe and sample are written out here: the
	// compiler inlines a generic method into another only under its
	// budget (get's probe and sample do not fit), and calling
	// them cost 5-15% of a hit (alternated runs, 2026-12-05).
	h := s.keyHash(key)
	sh := s.shardFor(h)
	// table.get's first probe.
	t := &sh.tab
	a := t.arr.Load()
	sl := &a.slots[start(h, uint64(len(a.slots)-1))]
	n := sl.n.Load()
	if n == nil || sl.hash.Load() != h || n == t.tomb || n == t.moved || n.key != key {
		if n = t.probe(a, h, key); n == nil {
			s.lookups.Inc(statMisses)
			var zero V
			return zero, false
		}
	}
	v, e, st, ok := n.tryRead(&s.layout)
	if !ok {
		v, e, st = n.readAgain(&s.layout)
	}
	if e != 0 && s.expiredAt(e, now) {
		s.lookups.Inc(statMisses)
		s.removeExpired(sh, n)
		var zero V
		return zero, false
	}
	c, stripe := s.lookups.IncStripe(statHits)
	// Recency: mark the entry referenced (no write when it already is,
	// which for a hot entry is almost always).
	if st&refBit == 0 {
		n.mark()
	}
	// sample.
	if s.policy == TinyLFU {
		if m := mix64(c ^ h); m&(readSample-1) == 0 {
			s.record(sh, h, m, stripe)
		}
	}
	return v, true
}

// sample tells the frequency sketch of one use of the key with hash h (a
// hit or an update), one time in readSample. The choice mixes c, a count
// that differs from call to call, with the key's hash, so it is as good as
// random for every key (a plain counter would pick the same keys of a
// periodic access pattern every time) and costs no random number. stripe
// is the caller's processor stripe, for record.
func (s *Store[K, V]) sample(sh *shard[K, V], h, c uint64, stripe int) {
	if s.policy == TinyLFU {
		if m := mix64(c ^ h); m&(readSample-1) == 0 {
			s.record(sh, h, m, stripe)
		}
	}
}

// mix64 is a 64-bit finalizer (Stafford's variant 13 of MurmurHash3's).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Peek is Get without side effects: it records no access and counts no hit
// or miss. An expired entry is reported absent (and left for later removal).
func (s *Store[K, V]) Peek(key K) (V, bool) {
	h := s.keyHash(key)
	n := s.shardFor(h).tab.get(h, key)
	if n == nil {
		var zero V
		return zero, false
	}
	v, e, _ := n.read(&s.layout)
	if e != 0 && s.expiredAt(e, time.Time{}) {
		var zero V
		return zero, false
	}
	return v, true
}

// record puts the hash of a key read in the shard's lossy read buffer, in
// the reading processor's stripe, for the frequency sketch. About one
// recorded read in drainTurn applies the buffer, if the shard's lock is
// free; otherwise slots are simply overwritten (lost reads only blur
// frequencies a little; they never block a reader). m is the read's
// sampling mix: its low bits chose the read, bits 8-11 choose the slot and
// bits 16-21 the drain turn. stripe is the reader's processor stripe (see
// percpu.Counters.IncStripe).
func (s *Store[K, V]) record(sh *shard[K, V], h, m uint64, stripe int) {
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	// The slot and the decision to drain come from other bits of the
	// same mix: no shared sequence counter for the cores to fight over.
	// Two reads may land in one slot; the buffer is lossy by design.
	sh.readBuf[(stripe&(readStripes-1))*stripeStride+int((m>>8)&(stripeSlots-1))].Store(h)
	if (m>>16)&(drainTurn-1) == 0 && sh.mu.TryLock() {
		s.drain(sh)
		sh.mu.Unlock()
	}
}

// drain applies buffered reads to the sketch. The shard lock is held.
// A read recorded between the Load and the Store of one slot is lost,
// which a lossy buffer allows; a Swap per slot would cost more.
func (s *Store[K, V]) drain(sh *shard[K, V]) {
	for st := 0; st < readStripes; st++ {
		buf := sh.readBuf[st*stripeStride : st*stripeStride+stripeSlots]
		for i := range buf {
			if h := buf[i].Load(); h != 0 {
				buf[i].Store(0)
				// Each recorded read stands for readSample reads;
				// counting it that many times keeps reads and
				// writes on one scale.
				sh.sketch.add(h, readSample)
			}
		}
	}
}

// flushReads applies every shard's pending buffered reads now (tests).
func (s *Store[K, V]) flushReads() {
	for i := range s.shards {
		sh := &s.shards[i]
		if sh.sketch == nil {
			continue
		}
		sh.mu.Lock()
		s.drain(sh)
		sh.mu.Unlock()
	}
}

// Recency without reordering on reads: a hit only sets the entry's ref bit.
// The lists are reordered lazily, when an entry reaches the end where
// entries are chosen to leave: a referenced entry is given a second chance
// (its bit cleared, moved to the front, or promoted from probation to
// protected) instead of leaving. This is the CLOCK approximation of LRU
// (Corbato; the Linux page cache's active/inactive lists work the same
// way) kept on intrusive lists; reads never take a shard's lock.

// list returns the shard's order list of the given id. The shard lock
// is held.
func (sh *shard[K, V]) list(id uint32) *orderList[K, V] {
	switch id {
	case listWindow:
		return &sh.window
	case listProbation:
		return &sh.probation
	case listProtected:
		return &sh.protected
	}
	return nil
}

// secondChance returns l's oldest entry that has not been referenced since
// it last went to the front, moving referenced ones to the front with their
// bit cleared. It looks at no more than l's length of entries (readers may
// set bits again meanwhile) and returns nil for an empty list. The shard
// lock is held.
func (sh *shard[K, V]) secondChance(l *orderList[K, V]) *node[K, V] {
	for budget := l.len; ; budget-- {
		n := l.back()
		if n == nil || budget <= 0 || !n.referenced() {
			return n
		}
		n.unmark()
		l.moveToFront(n)
	}
}

// probationVictim returns the main area's next victim under TinyLFU: the
// oldest unreferenced probation entry, promoting referenced ones to
// protected (their second access), else protected's own victim. The shard
// lock is held.
func (s *Store[K, V]) probationVictim(sh *shard[K, V]) *node[K, V] {
	for budget := sh.probation.len; ; budget-- {
		n := sh.probation.back()
		if n == nil {
			return sh.secondChance(&sh.protected)
		}
		if budget <= 0 || !n.referenced() {
			return n
		}
		n.unmark()
		s.promote(sh, n)
	}
}

// promote moves a probation entry to protected; the protected segment's
// victims fall back to the front of probation. The shard lock is held.
func (s *Store[K, V]) promote(sh *shard[K, V], n *node[K, V]) {
	sh.probation.remove(n)
	sh.protected.pushFront(n)
	sh.protectedBytes += n.cost()
	for sh.protectedBytes > sh.protCap {
		old := sh.secondChance(&sh.protected)
		if old == nil || old == n {
			break
		}
		sh.protected.remove(old)
		sh.protectedBytes -= old.cost()
		sh.probation.pushFront(old)
	}
}

// sketchFor returns the number of entries the sketch should be sized for
// when the shard holds live entries, or 0 when it is big enough. Counts
// restart on growth, which is rare and logarithmic.
func (sh *shard[K, V]) sketchFor(live int) int {
	if sh.sketch == nil || live <= sh.sketch.capacity {
		return 0
	}
	return 4 * live
}

// growth returns the bytes the shard's index and sketch would grow by
// if it took one more entry (a bound: the new entry may reuse a deleted
// slot). The shard lock is held.
func (sh *shard[K, V]) growth() int64 {
	g := sh.tab.growth()
	if n := sh.sketchFor(sh.tab.live + 1); n > 0 {
		g += sketchBytes(n) - sh.sketch.bytes()
	}
	return max(g, 0)
}

// settle brings the Store's count of index and sketch bytes up to date
// with the shard's: grown by what reserve reserved, shrunk by a smaller
// rebuild. The shard lock is held.
func (s *Store[K, V]) settle(sh *shard[K, V]) {
	slots := len(sh.tab.arr.Load().slots)
	if slots == sh.seenSlots && sh.sketch == sh.seenSketch {
		return // neither changed since the last count (the common case)
	}
	sh.seenSlots, sh.seenSketch = slots, sh.sketch
	cur := tableBytes(slots) - tableBytes(minTableSlots)
	if sh.sketch != nil {
		cur += sh.sketch.bytes() - sketchBytes(initialSketch)
	}
	if d := cur - sh.grown; d != 0 {
		sh.grown = cur
		s.bytes.Add(d)
		s.indexBytes.Add(d)
	}
}

// mainRoom is the main area's capacity less what the shard's index and
// sketch take of its share, and will take for one more entry: so the
// policy (admission, LRU order) decides what leaves, and the global budget
// rarely has to evict past it (see reserve). The shard lock is held.
func (sh *shard[K, V]) mainRoom() int64 { return sh.mainCap - sh.grown - sh.growth() }

// untally takes bytes out of the tally of the segment whose order list
// holds n and, if remove is set, takes n out of that list. The shard lock
// is held.
func (sh *shard[K, V]) untally(n *node[K, V], bytes int64, remove bool) {
	id := n.listID()
	switch id {
	case listProbation:
		sh.mainBytes -= bytes
	case listProtected:
		sh.protectedBytes -= bytes
		sh.mainBytes -= bytes
	case listWindow:
		sh.windowBytes -= bytes
	default:
		return
	}
	if remove {
		sh.list(id).remove(n)
	}
}

// unlink removes n's key from the shard's index and order lists and
// returns its bytes to the budget. It returns the node it removed: n, or
// (unless exact) the node a lock-free update has put in n's place, of the
// same cost; nil if there was none, and then nothing changed. The shard
// lock is held.
func (s *Store[K, V]) unlink(sh *shard[K, V], n *node[K, V], exact bool) *node[K, V] {
	gone := s.unindex(sh, n, exact)
	if gone != nil {
		sh.untally(gone, gone.cost(), true)
	}
	return gone
}

// unindex is unlink for a node already out of the order lists. The shard
// lock is held.
func (s *Store[K, V]) unindex(sh *shard[K, V], n *node[K, V], exact bool) *node[K, V] {
	gone := sh.tab.remove(n, exact)
	if gone != nil {
		s.bytes.Add(-gone.cost())
		s.count.Add(-1)
		s.settle(sh) // the index may have shrunk
	}
	return gone
}

// victim returns the entry the shard would evict first: under LRU the list's
// least recently used, under TinyLFU the main area's victim, then the
// window's. The shard lock is held.
func (s *Store[K, V]) victim(sh *shard[K, V]) *node[K, V] {
	if s.policy == LRU {
		return sh.secondChance(&sh.probation)
	}
	if n := s.probationVictim(sh); n != nil {
		return n
	}
	return sh.secondChance(&sh.window)
}

// evict removes n's key for lack of room (or because it expired) and
// queues the report of the node it removed. exact is as for unlink. The
// shard lock is held.
func (s *Store[K, V]) evict(sh *shard[K, V], n *node[K, V], exact bool, out *[]Eviction[K, V]) {
	s.evicted(sh, s.unlink(sh, n, exact), out)
}

// evicted counts and queues the report of gone, which left for lack of
// room or because it expired (nil: nothing left).
func (s *Store[K, V]) evicted(sh *shard[K, V], gone *node[K, V], out *[]Eviction[K, V]) {
	if gone == nil {
		return
	}
	reason := Evicted
	if s.expired(gone) {
		reason = Expired
		sh.expirations.Add(1)
	} else {
		sh.evictions.Add(1)
	}
	if s.onEvict != nil {
		*out = append(*out, Eviction[K, V]{Key: gone.key, Value: gone.value, Cost: gone.cost(), Reason: reason})
	}
}

func (s *Store[K, V]) report(evs []Eviction[K, V]) {
	for _, e := range evs {
		s.onEvict(e)
	}
}

func (s *Store[K, V]) removeExpired(sh *shard[K, V], n *node[K, V]) {
	var evs []Eviction[K, V]
	sh.mu.Lock()
	// n only: an update may have replaced it, or (in place) renewed it.
	// A dead n has left the index already.
	if n.kill() {
		if s.expired(n) {
			s.evict(sh, n, true, &evs)
		} else {
			n.revive()
		}
	}
	sh.mu.Unlock()
	s.report(evs)
}

// Set stores value under key with the caller's cost (bytes of key and
// value; EntryOverhead is added) and an expiry time (zero: none). It
// replaces any entry under key. It reports stored == false, with a nil
// error, when the admission policy declines the entry because what it would
// displace is used more; the entry is then absent. An entry whose cost plus
// EntryOverhead exceeds MaxEntryBytes is refused with ErrTooLarge and
// nothing is stored.
func (s *Store[K, V]) Set(key K, value V, cost int64, expires time.Time) (stored bool, err error) {
	if cost < 0 {
		cost = 0
	}
	total := cost + s.overhead
	if total > s.maxEntry {
		s.rejected.Add(1)
		return false, &TooLargeError{Cost: total, Max: s.maxEntry}
	}
	h := s.keyHash(key)
	var e int64
	if !expires.IsZero() {
		e = expiryNanos(expires)
	}
	sh := s.shardFor(h)
	if old, ok := s.updateInPlace(sh, h, key, value, total, e); ok {
		if s.onEvict != nil {
			s.onEvict(Eviction[K, V]{Key: key, Value: old, Cost: total, Reason: Replaced})
		}
		return true, nil
	}
	n := &node[K, V]{key: key, value: value, size: uint32(total), hash: h, expires: e}
	var evs []Eviction[K, V]
	for attempt := 0; ; attempt++ {
		// An entry larger than a shard's share, or one whose shard ran
		// out of entries to evict (attempt 1), takes room from the other
		// shards first. Otherwise a shard makes room from its own.
		if total > s.share || attempt > 0 {
			if need := s.bytes.Load() + total - s.maxBytes; need > 0 {
				s.stealFromOthers(sh, need, &evs)
			}
		}
		var noRoom bool
		stored, noRoom = s.setLocked(sh, n, &evs)
		if !noRoom || attempt > 0 {
			break
		}
	}
	if stored {
		s.lookups.Inc(statSets)
	} else {
		s.rejected.Add(1)
	}
	if s.onEvict != nil {
		s.report(evs)
	}
	return stored, nil
}

// updateInPlace is Set's lock-free path: when key holds a node of the same
// cost, value and expiry e are written into it word by word under its
// sequence lock (see node). Nothing needs evicting and no tally changes,
// so the lists and the shard lock stay out of it (the node keeps its
// place in them). It returns the value replaced, or false when the locked
// path must decide (values not updated in place, see layout; no such node;
// another cost; a node leaving the index; another update writing it).
func (s *Store[K, V]) updateInPlace(sh *shard[K, V], h uint64, key K, value V, cost, e int64) (V, bool) {
	n := sh.tab.get(h, key)
	if s.layout.words == 0 || n == nil || n.cost() != cost || !n.beginWrite() {
		var zero V
		return zero, false
	}
	old := n.value // only writers write it, and n's writing bit is ours
	n.write(&s.layout, value, e)
	n.endWrite()
	c, stripe := s.lookups.IncStripe(statSets)
	s.sample(sh, h, c, stripe)
	return old, true
}

// setLocked stores n under the shard lock. It reports stored == false
// with noRoom when the shard had nothing left to evict for n's bytes.
func (s *Store[K, V]) setLocked(sh *shard[K, V], n *node[K, V], evs *[]Eviction[K, V]) (stored, noRoom bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sl, old := sh.tab.lookup(n.hash, n.key); old != nil {
		if n.cost() <= old.cost() {
			// No larger than before, so nothing needs evicting: n
			// takes old's place (a use of the key).
			s.replace(sh, sl, old, n, evs)
			return true, false
		}
		if gone := s.unlink(sh, old, false); gone != nil && s.onEvict != nil {
			*evs = append(*evs, Eviction[K, V]{Key: gone.key, Value: gone.value, Cost: gone.cost(), Reason: Replaced})
		}
	}
	if sh.sketch != nil {
		sh.sketch.increment(n.hash)
	}
	if !s.place(sh, n, evs) {
		return false, false
	}
	if !s.reserve(sh, n, evs) {
		return false, true
	}
	return true, false
}

// replace puts n, of the same key and no larger cost, in old's slot sl
// and old's list position, marked referenced (a lock-free update writes
// old in place, never swaps it, so the slot still holds old).
// An update is a use of the key; the sketch hears of it sampled, as it
// hears of reads (recorded in the read buffer, applied at its next drain).
// The shard lock is held.
func (s *Store[K, V]) replace(sh *shard[K, V], sl *slot[K, V], old, n *node[K, V], evs *[]Eviction[K, V]) {
	n.state = refBit // n is not yet published: a plain write
	old = swapIn(sl, old, n)
	sh.list(old.listID()).replace(old, n) // the index and the lists hold one node
	if freed := old.cost() - n.cost(); freed != 0 {
		sh.untally(n, freed, false)
		s.bytes.Add(-freed)
	}
	if s.onEvict != nil {
		*evs = append(*evs, Eviction[K, V]{Key: old.key, Value: old.value, Cost: old.cost(), Reason: Replaced})
	}
	sh.updates++
	s.sample(sh, n.hash, sh.updates, 0)
}

// place runs the policy for a new node: it enters the window (TinyLFU) or
// the list (LRU), and whatever overflows the shard's share is evicted or,
// for TinyLFU, must win admission against the main area's victim. It
// reports whether n itself survived. n's bytes are not yet counted in the
// Store's total. The shard lock is held.
func (s *Store[K, V]) place(sh *shard[K, V], n *node[K, V], evs *[]Eviction[K, V]) bool {
	if s.policy == LRU {
		for sh.mainBytes+n.cost() > sh.mainRoom() {
			v := s.victim(sh)
			if v == nil {
				break
			}
			s.evict(sh, v, false, evs)
		}
		sh.probation.pushFront(n)
		sh.mainBytes += n.cost()
		return true
	}
	sh.window.pushFront(n)
	sh.windowBytes += n.cost()
	survived := true
	for sh.windowBytes > sh.windowCap {
		cand := sh.secondChance(&sh.window)
		if cand == nil {
			break
		}
		sh.window.remove(cand)
		sh.windowBytes -= cand.cost()
		if !s.admit(sh, cand, evs) {
			if cand == n {
				survived = false
			} else {
				// cand was counted and indexed (and is out of the
				// window's list already): drop it as evicted.
				s.evicted(sh, s.unindex(sh, cand, false), evs)
			}
		}
	}
	return survived
}

// admit decides whether cand, leaving the window, enters the main area,
// evicting main victims that are used less. The shard lock is held.
func (s *Store[K, V]) admit(sh *shard[K, V], cand *node[K, V], evs *[]Eviction[K, V]) bool {
	if s.expired(cand) {
		return false
	}
	candFreq := sh.sketch.estimate(cand.hash)
	for sh.mainBytes+cand.cost() > sh.mainRoom() {
		v := s.probationVictim(sh)
		if v == nil {
			break // main is empty: an entry larger than the share fits alone
		}
		if !s.expired(v) && sh.sketch.estimate(v.hash) >= candFreq {
			return false
		}
		s.evict(sh, v, false, evs)
	}
	sh.probation.pushFront(cand)
	sh.mainBytes += cand.cost()
	return true
}

// reserve counts n's bytes against the global budget, evicting from this
// shard while the budget or the entry limit is exceeded, and publishes n.
// If the shard runs out of entries to evict first (other shards hold the
// bytes, for instance while other writers race), n is withdrawn and reserve
// reports false. The shard lock is held.
func (s *Store[K, V]) reserve(sh *shard[K, V], n *node[K, V], evs *[]Eviction[K, V]) bool {
	var grow int64
	for {
		// Room for n and for what the index and sketch grow by to hold
		// it (an eviction may change that: computed on every pass).
		grow = sh.growth()
		cur := s.bytes.Load()
		if cur+n.cost()+grow <= s.maxBytes && (s.maxCount == 0 || s.count.Load() < s.maxCount) {
			if s.bytes.CompareAndSwap(cur, cur+n.cost()+grow) {
				break
			}
			continue
		}
		v := s.victim(sh)
		if v == n {
			// n is this shard's only evictable entry: take it back out.
			v = nil
		}
		if v == nil {
			sh.untally(n, n.cost(), true) // n is unpublished: out of the lists only
			return false
		}
		s.evict(sh, v, false, evs)
	}
	// grow is reserved: count it as the shard's, grow, and give back
	// what was not needed (n took a deleted slot).
	if grow > 0 {
		sh.grown += grow
		s.indexBytes.Add(grow)
		sh.seenSlots = 0 // settle recounts
	}
	if k := sh.sketchFor(sh.tab.live + 1); k > 0 {
		sh.sketch = newSketch(k)
	}
	sh.tab.put(n)
	s.count.Add(1)
	s.settle(sh)
	return true
}

// stealFromOthers evicts victims from shards other than own until need
// bytes are free or nothing is left to evict. No lock is held on entry.
func (s *Store[K, V]) stealFromOthers(own *shard[K, V], need int64, evs *[]Eviction[K, V]) {
	for i := range s.shards {
		sh := &s.shards[i]
		if sh == own {
			continue
		}
		sh.mu.Lock()
		for need > 0 {
			v := s.victim(sh)
			if v == nil {
				break
			}
			need -= v.cost()
			s.evict(sh, v, false, evs)
		}
		sh.mu.Unlock()
		if need <= 0 {
			return
		}
	}
}

// Delete removes the entry under key and reports whether there was one.
func (s *Store[K, V]) Delete(key K) bool {
	h := s.keyHash(key)
	sh := s.shardFor(h)
	sh.mu.Lock()
	var gone *node[K, V]
	if n := sh.tab.get(h, key); n != nil {
		gone = s.unlink(sh, n, false)
	}
	if gone != nil {
		sh.drops.Add(1)
	}
	sh.mu.Unlock()
	if gone == nil {
		return false
	}
	if s.onEvict != nil {
		s.onEvict(Eviction[K, V]{Key: gone.key, Value: gone.value, Cost: gone.cost(), Reason: Deleted})
	}
	return true
}

// Clear removes every entry, reporting each as Deleted.
func (s *Store[K, V]) Clear() {
	for i := range s.shards {
		sh := &s.shards[i]
		var evs []Eviction[K, V]
		sh.mu.Lock()
		for _, n := range sh.nodes() {
			gone := s.unlink(sh, n, false)
			if gone == nil {
				continue
			}
			sh.drops.Add(1)
			if s.onEvict != nil {
				evs = append(evs, Eviction[K, V]{Key: gone.key, Value: gone.value, Cost: gone.cost(), Reason: Deleted})
			}
		}
		sh.mu.Unlock()
		if s.onEvict != nil {
			s.report(evs)
		}
	}
}

// Range calls fn for each unexpired entry until fn returns false. fn may
// call the Store; entries set or removed during Range may or may not be
// seen. Each shard's entries are listed under its lock, then fn is called
// without it.
func (s *Store[K, V]) Range(fn func(key K, value V) bool) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		nodes := sh.nodes()
		sh.mu.Unlock()
		for _, n := range nodes {
			v, e, _ := n.read(&s.layout)
			if (e == 0 || !s.expiredAt(e, time.Time{})) && !fn(n.key, v) {
				return
			}
		}
	}
}

// nodes lists the shard's entries. The shard lock is held.
func (sh *shard[K, V]) nodes() []*node[K, V] {
	out := make([]*node[K, V], 0, sh.tab.live)
	sh.tab.each(func(n *node[K, V]) bool {
		out = append(out, n)
		return true
	})
	return out
}

// Len returns the number of entries, expired ones not yet removed included.
func (s *Store[K, V]) Len() int { return int(s.count.Load()) }

// Bytes returns the total cost of the entries, overhead included. The
// index and sketch growth that also counts against MaxBytes is reported
// by Stats (IndexBytes).
func (s *Store[K, V]) Bytes() int64 { return s.bytes.Load() - s.indexBytes.Load() }

// EntryOverhead returns the bytes the Store adds to the caller's cost of
// every entry for its own bookkeeping (see Config.MaxBytes): its node,
// rounded up to the allocator's size class, 80 bytes for a string key and
// a slice value.
func (s *Store[K, V]) EntryOverhead() int64 { return s.overhead }

// MaxBytes returns the byte budget.
func (s *Store[K, V]) MaxBytes() int64 { return s.maxBytes }

// Stats returns a snapshot of the counters.
func (s *Store[K, V]) Stats() Stats {
	st := Stats{
		Rejected:   s.rejected.Load(),
		Entries:    s.Len(),
		Bytes:      s.Bytes(),
		IndexBytes: s.indexBytes.Load(),
		MaxBytes:   s.maxBytes,
	}
	st.Hits, st.Misses, st.Sets = s.lookups.Load(statHits), s.lookups.Load(statMisses), s.lookups.Load(statSets)
	for i := range s.shards {
		sh := &s.shards[i]
		st.Evictions += sh.evictions.Load()
		st.Expirations += sh.expirations.Load()
		st.Deletes += sh.drops.Load()
	}
	return st
}
