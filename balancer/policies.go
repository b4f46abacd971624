package balancer

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
)

// hashString hashes a key or backend ID the same way in every process
// (no per-process seed), so balancers that know the same backends agree on
// placements. It takes sixteen bytes per step, folding each pair of words
// with one 64x64->128-bit multiply (the "multiply and fold" step of the
// wyhash family, written here in our own terms), and finishes with a fold
// that involves the length, so short keys still spread over all 64 bits.
// It does not allocate. (Earlier versions: byte-at-a-time FNV-1a, then a
// word-at-a-time splitmix step; this one is about three times faster on
// URL-sized keys.)
func hashString(s string) uint64 {
	const (
		k0 = 0xa0761d6478bd642f
		k1 = 0xe7037ed1a0b428db
		k2 = 0x8ebc6af09c88c6e3
	)
	n := len(s)
	seed := uint64(0x9e3779b97f4a7c15) ^ fold(uint64(n)^k0, k1)
	for len(s) > 16 {
		seed = fold(le64(s)^k1, le64(s[8:])^seed)
		s = s[16:]
	}
	var a, b uint64
	switch {
	case len(s) >= 8: // 8..16 bytes: two words, overlapping if fewer than 16
		a, b = le64(s), le64(s[len(s)-8:])
	case len(s) >= 4:
		a, b = uint64(le32(s)), uint64(le32(s[len(s)-4:]))
	case len(s) > 0:
		a = uint64(s[0])<<16 | uint64(s[len(s)>>1])<<8 | uint64(s[len(s)-1])
	}
	return fold(k1^uint64(n), fold(a^k1, b^seed)^k2)
}

// fold multiplies a and b into 128 bits and xors the halves.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(s string) uint64 { return binary.LittleEndian.Uint64([]byte(s[:8])) }
func le32(s string) uint32 { return binary.LittleEndian.Uint32([]byte(s[:4])) }

// reduce maps h uniformly onto [0, n) with a multiply instead of a
// division (Lemire's fast range reduction).
func reduce(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// members returns the members behind eps (the built-in pickers keep
// members, whose fields they read directly).
func members(eps []Endpoint) []*member {
	ms := make([]*member, 0, len(eps))
	for _, e := range eps {
		if e.m != nil {
			ms = append(ms, e.m)
		}
	}
	return ms
}

// policyFunc is a built-in policy that reads neither PickInfo.Key nor
// the pool-wide in-flight count.
type policyFunc func([]*member) Picker

func (f policyFunc) Build(eps []Endpoint) Picker { return build(f, eps) }
func (policyFunc) ReadsKey() bool                { return false }
func (policyFunc) ReadsPoolInFlight() bool       { return false }

// build is the Build of the built-in policies: f is called with at least
// one member (a Policy of the user's may hand on zero Endpoints).
func build(f func([]*member) Picker, eps []Endpoint) Picker {
	ms := members(eps)
	if len(ms) == 0 {
		return emptyPicker{}
	}
	return f(ms)
}

// keyedFunc is a built-in policy that picks by PickInfo.Key.
type keyedFunc func([]*member) Picker

func (f keyedFunc) Build(eps []Endpoint) Picker { return build(f, eps) }
func (keyedFunc) ReadsKey() bool                { return true }
func (keyedFunc) ReadsPoolInFlight() bool       { return false }

// Every built-in policy says what it reads; every picker is a Picker.
var (
	_ interface {
		Policy
		KeyReader
		LoadReader
	} = policyFunc(nil)
	_ interface {
		Policy
		KeyReader
		LoadReader
	} = keyedFunc(nil)
	_ interface {
		Policy
		KeyReader
		LoadReader
	} = boundedPolicy{}
	_ interface {
		Policy
		KeyReader
		LoadReader
	} = (*jumpPolicy)(nil)

	_ Picker = emptyPicker{}
	_ Picker = (*seqPicker)(nil)
	_ Picker = (*swrrLocked)(nil)
	_ Picker = (*randomPicker)(nil)
	_ Picker = (*leastConnPicker)(nil)
	_ Picker = (*p2cPicker)(nil)
	_ Picker = (*maglevPicker)(nil)
	_ Picker = (*ring)(nil)
	_ Picker = (*hrwPicker)(nil)
	_ Picker = (*boundedPicker)(nil)
	_ Picker = (*jumpPicker)(nil)
)

type emptyPicker struct{}

func (emptyPicker) Pick(PickInfo) Endpoint { return Endpoint{} }

// RoundRobin picks backends in turn, ignoring weights.
func RoundRobin() Policy {
	return policyFunc(func(ms []*member) Picker {
		return &seqPicker{seq: ms}
	})
}

// WeightedRoundRobin is nginx's smooth weighted round robin: over a cycle
// of sum(weights) picks each backend gets exactly its weight, interleaved
// (weights 5,1,1 give a,a,b,a,c,a,a, never a burst of five). The cycle is
// computed when membership changes, so a pick is one atomic increment.
func WeightedRoundRobin() Policy {
	return policyFunc(func(ms []*member) Picker {
		total := 0
		for _, m := range ms {
			total += m.w()
		}
		if total > 1<<16 {
			return &swrrLocked{ms: ms, cur: make([]int, len(ms))}
		}
		seq := make([]*member, 0, total)
		cur := make([]int, len(ms))
		for i := 0; i < total; i++ {
			best := -1
			for j, m := range ms {
				cur[j] += m.w()
				if best < 0 || cur[j] > cur[best] {
					best = j
				}
			}
			cur[best] -= total
			seq = append(seq, ms[best])
		}
		return &seqPicker{seq: seq}
	})
}

// seqPicker picks the members of seq in turn: each backend once for
// RoundRobin, the precomputed weighted cycle for WeightedRoundRobin.
type seqPicker struct {
	seq  []*member
	next atomic.Uint64
}

func (p *seqPicker) Pick(PickInfo) Endpoint {
	return Endpoint{p.seq[(p.next.Add(1)-1)%uint64(len(p.seq))]}
}

// swrrLocked is smooth WRR computed per pick, for huge weight sums.
type swrrLocked struct {
	mu  sync.Mutex
	ms  []*member
	cur []int
}

func (p *swrrLocked) Pick(PickInfo) Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	total, best := 0, -1
	for j, m := range p.ms {
		p.cur[j] += m.w()
		total += m.w()
		if best < 0 || p.cur[j] > p.cur[best] {
			best = j
		}
	}
	p.cur[best] -= total
	return Endpoint{p.ms[best]}
}

// Random picks at random, in proportion to weight. A pick is O(1) at any
// N: one random word and a table lookup (Walker's alias method, built with
// Vose's algorithm in integers, so shares are exact to 2^-32).
func Random() Policy {
	return policyFunc(func(ms []*member) Picker {
		return newAliasPicker(ms)
	})
}

type randomPicker struct {
	ms []*member
	// Column i is taken with probability prob[i]/2^32, else alias[i].
	prob  []uint64
	alias []int32
}

func newAliasPicker(ms []*member) *randomPicker {
	n := len(ms)
	p := &randomPicker{ms: ms, prob: make([]uint64, n), alias: make([]int32, n)}
	// Scaled weights w_i*n against the threshold W = sum(w): a column is
	// full when its scaled weight reaches W.
	var total uint64
	scaled := make([]uint64, n)
	for i, m := range ms {
		total += uint64(m.w())
		scaled[i] = uint64(m.w()) * uint64(n)
	}
	var small, large []int
	for i, w := range scaled {
		if w < total {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		hi, lo := bits.Mul64(scaled[l], 1<<32)
		p.prob[l], _ = bits.Div64(hi, lo, total) // scaled < total: no overflow
		p.alias[l] = int32(g)
		scaled[g] = scaled[g] + scaled[l] - total
		if scaled[g] < total {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	for _, i := range append(small, large...) {
		p.prob[i] = 1 << 32 // full column
	}
	return p
}

func (p *randomPicker) Pick(PickInfo) Endpoint {
	r := rand.Uint64()
	i := int(uint64(uint32(r)) * uint64(len(p.ms)) >> 32)
	if r>>32 < p.prob[i] {
		return Endpoint{p.ms[i]}
	}
	return Endpoint{p.ms[p.alias[i]]}
}

// LeastConnections picks the backend with the fewest requests in flight
// relative to its weight (as HAProxy's leastconn); ties, such as an idle
// pool, go to a random one of them, so a burst does not herd onto the
// first.
func LeastConnections() Policy {
	return policyFunc(func(ms []*member) Picker {
		return &leastConnPicker{ms: ms}
	})
}

type leastConnPicker struct{ ms []*member }

func (p *leastConnPicker) Pick(PickInfo) Endpoint {
	n := len(p.ms)
	start := rand.IntN(n)
	// Lowest active/weight wins, compared by cross-multiplying (no
	// division); the scan starts at a random member so ties do not herd.
	best := p.ms[start]
	bestActive, bestW := best.inflight(), int64(best.w())
	for i := start + 1; i != start; i++ {
		if i == n {
			i = 0
			if start == 0 {
				break
			}
		}
		m := p.ms[i]
		a, w := m.inflight(), int64(m.w())
		if a*bestW < bestActive*w {
			best, bestActive, bestW = m, a, w
		}
	}
	return Endpoint{best}
}

// PowerOfTwo is least-request with two random choices: it samples two
// backends and takes the one with fewer requests in flight (weighted).
func PowerOfTwo() Policy {
	return policyFunc(func(ms []*member) Picker {
		return &p2cPicker{ms: ms}
	})
}

// PeakEWMA is power-of-two choices on a peak-sensitive moving average of
// latency times requests in flight (Finagle, Linkerd): slow backends lose
// traffic at once and win it back gradually.
func PeakEWMA() Policy {
	return policyFunc(func(ms []*member) Picker {
		return &p2cPicker{ms: ms, ewma: true}
	})
}

type p2cPicker struct {
	ms   []*member
	ewma bool // score by peak EWMA latency too
}

func (p *p2cPicker) Pick(PickInfo) Endpoint {
	n := len(p.ms)
	if n == 1 {
		return Endpoint{p.ms[0]}
	}
	// Two distinct indexes from one random word, by multiply-shift; j
	// skips over i without a branch (a random branch mispredicts half
	// the time).
	r := rand.Uint64()
	i := int((r & 0xffffffff) * uint64(n) >> 32)
	j := int((r >> 32) * uint64(n-1) >> 32)
	j += int(^uint64(j-i) >> 63) // +1 when j >= i
	a, b := p.ms[i], p.ms[j]
	if p.ewma {
		if ewmaScore(b) < ewmaScore(a) {
			return Endpoint{b}
		}
		return Endpoint{a}
	}
	// Fewer requests in flight per unit of weight wins:
	// (b.inflight+1)/b.w < (a.inflight+1)/a.w, without dividing.
	m := a
	if (b.inflight()+1)*int64(a.w()) < (a.inflight()+1)*int64(b.w()) {
		m = b
	}
	return Endpoint{m}
}

func ewmaScore(m *member) float64 {
	lat := float64(m.ewmaNanos.Load())
	if lat == 0 {
		lat = 1 // unmeasured backends look fast, so they get measured
	}
	return lat * float64(m.inflight()+1) / float64(m.w())
}

// Maglev is Google's Maglev consistent hashing: a lookup table of a prime
// size filled by per-backend permutations. A pick is one hash and one
// array read; weights are honoured by filling turns. Larger tables spread
// more evenly and move fewer keys when membership changes, at the cost of
// memory and build time (measured: see the README table). Zero size means
// 65537.
func Maglev(tableSize int) Policy {
	if tableSize <= 0 {
		tableSize = 65537
	}
	m := uint64(nextPrime(tableSize))
	return keyedFunc(func(ms []*member) Picker {
		n := len(ms)
		offset := make([]uint64, n)
		skip := make([]uint64, n)
		next := make([]uint64, n)
		maxW := 0
		for i, b := range ms {
			h1 := mix(b.hash ^ 0x9e3779b97f4a7c15)
			h2 := mix(b.hash ^ 0xc2b2ae3d27d4eb4f)
			offset[i] = h1 % m
			skip[i] = h2%(m-1) + 1
			maxW = max(maxW, b.w())
		}
		table := make([]int32, m)
		for i := range table {
			table[i] = -1
		}
		filled := uint64(0)
		credit := make([]int, n)
		for filled < m {
			for i := 0; i < n && filled < m; i++ {
				// Weighted turns: a backend fills a slot on a turn only
				// when its accumulated weight reaches the largest weight.
				credit[i] += ms[i].w()
				if credit[i] < maxW {
					continue
				}
				credit[i] -= maxW
				c := (offset[i] + next[i]*skip[i]) % m
				for table[c] >= 0 {
					next[i]++
					c = (offset[i] + next[i]*skip[i]) % m
				}
				table[c] = int32(i)
				next[i]++
				filled++
			}
		}
		return &maglevPicker{ms: ms, table: table}
	})
}

type maglevPicker struct {
	ms    []*member
	table []int32
}

func (p *maglevPicker) Pick(info PickInfo) Endpoint {
	return Endpoint{p.ms[p.table[reduce(hashString(info.Key), len(p.table))]]}
}

func nextPrime(n int) int {
	if n < 3 {
		return 3
	}
	for ; ; n++ {
		prime := true
		for d := 2; d*d <= n; d++ {
			if n%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return n
		}
	}
}

// RingHash is consistent hashing on a ring with pointsPerWeight virtual
// nodes per unit of weight (Karger et al.). Zero means 1024, which keeps
// max/mean load under 1.1 at 100 backends (160 points give about 1.26).
func RingHash(pointsPerWeight int) Policy {
	if pointsPerWeight <= 0 {
		pointsPerWeight = 1024
	}
	return keyedFunc(func(ms []*member) Picker {
		return newRing(ms, pointsPerWeight)
	})
}

type ring struct {
	ms     []*member
	points []uint64
	owner  []int32
	// start[b] is the index of the first point whose top ringBits bits
	// are >= b: a lookup binary-searches only the points of one bucket
	// (a handful) instead of the whole ring, whose upper levels miss the
	// cache once it holds a million points.
	start []int32
	shift uint // 64 - the bucket index's bits
}

// ringBits sizes the bucket index: 2^ringBits+1 int32s (256 KiB at 16),
// scaled down for small rings (about four points per bucket).
const ringBits = 16

func newRing(ms []*member, per int) *ring {
	type pt struct {
		h uint64
		o int32
	}
	var pts []pt
	for i, m := range ms {
		for v := 0; v < per*m.w(); v++ {
			pts = append(pts, pt{mix(m.hash + uint64(v)*0x9e3779b97f4a7c15), int32(i)})
		}
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].h < pts[b].h })
	r := &ring{ms: ms, points: make([]uint64, len(pts)), owner: make([]int32, len(pts))}
	for i, p := range pts {
		r.points[i], r.owner[i] = p.h, p.o
	}
	bitsN := 1
	for bitsN < ringBits && 1<<(bitsN+2) < len(pts) {
		bitsN++
	}
	r.start = make([]int32, 1<<bitsN+1)
	shift := 64 - bitsN
	r.shift = uint(shift)
	j := 0
	for b := range r.start {
		for j < len(pts) && pts[j].h>>shift < uint64(b) {
			j++
		}
		r.start[b] = int32(j)
	}
	return r
}

// index returns the first point at or after h, wrapping to 0.
func (r *ring) index(h uint64) int {
	b := h >> r.shift
	lo, hi := int(r.start[b]), int(r.start[b+1])
	// The answer is in [lo, hi]: every point before lo is in a lower
	// bucket, and the point at hi (if any) is in a higher one.
	i := lo + sort.Search(hi-lo, func(k int) bool { return r.points[lo+k] >= h })
	if i == len(r.points) {
		i = 0
	}
	return i
}

func (r *ring) Pick(info PickInfo) Endpoint {
	return Endpoint{r.ms[r.owner[r.index(hashString(info.Key))]]}
}

// Rendezvous is weighted highest-random-weight hashing: each key goes to
// the backend with the highest score -weight/ln(hash(key, backend)).
// Removing a backend moves exactly its keys (the ideal), and shares follow
// weights; a pick costs one hash per backend, so it suits small pools.
func Rendezvous() Policy {
	return keyedFunc(func(ms []*member) Picker {
		return &hrwPicker{ms: ms}
	})
}

type hrwPicker struct{ ms []*member }

func (p *hrwPicker) Pick(info PickInfo) Endpoint {
	k := hashString(info.Key)
	var best *member
	bestScore := math.Inf(-1)
	for _, m := range p.ms {
		h := mix(k ^ m.hash)
		u := (float64(h>>11) + 0.5) / (1 << 53) // in (0,1)
		s := -float64(m.w()) / math.Log(u)
		if s > bestScore {
			best, bestScore = m, s
		}
	}
	return Endpoint{best}
}

// BoundedLoad is consistent hashing with bounded loads (Mirrokni, Thorup,
// Zadimoghaddam): a key goes to its ring owner unless that backend already
// carries more than c times the average load in flight, in which case it
// walks the ring to the next backend under the bound. Zero c means 1.25.
func BoundedLoad(c float64) Policy {
	if c <= 1 {
		c = 1.25
	}
	return boundedPolicy{c: c}
}

type boundedPolicy struct{ c float64 }

func (boundedPolicy) ReadsKey() bool { return true }

// ReadsPoolInFlight tells the Pool to keep the pool-wide in-flight total
// that the bound is computed from (other policies spare picks that
// counter). A wrapper that hides this method still works: the Pool keeps
// the count for policies that do not say.
func (boundedPolicy) ReadsPoolInFlight() bool { return true }

func (b boundedPolicy) Build(eps []Endpoint) Picker {
	return build(func(ms []*member) Picker { return &boundedPicker{ring: newRing(ms, 100), c: b.c} }, eps)
}

type boundedPicker struct {
	*ring
	c float64
}

func (p *boundedPicker) Pick(info PickInfo) Endpoint {
	total := Endpoint{p.ms[0]}.PoolInFlight() // 0 if the pool keeps no count
	limit := int64(math.Ceil(p.c * float64(total+1) / float64(len(p.ms))))
	i := p.index(hashString(info.Key))
	for n := 0; n < len(p.points); n++ {
		m := p.ms[p.owner[(i+n)%len(p.points)]]
		if m.inflight() < limit {
			return Endpoint{m}
		}
	}
	return Endpoint{p.ms[p.owner[i]]}
}

// PolicyByName returns a policy for a name used in flags and config files:
// roundrobin, wrr, leastconn, p2c, ewma, random, maglev, ring, rendezvous,
// bounded, jump.
func PolicyByName(name string) (Policy, error) {
	switch name {
	case "roundrobin", "rr":
		return RoundRobin(), nil
	case "wrr", "weighted":
		return WeightedRoundRobin(), nil
	case "leastconn":
		return LeastConnections(), nil
	case "p2c", "leastrequest":
		return PowerOfTwo(), nil
	case "ewma", "peakewma":
		return PeakEWMA(), nil
	case "random":
		return Random(), nil
	case "maglev":
		return Maglev(0), nil
	case "ring", "ringhash":
		return RingHash(0), nil
	case "rendezvous", "hrw":
		return Rendezvous(), nil
	case "bounded":
		return BoundedLoad(0), nil
	case "jump":
		return Jump(), nil
	}
	return nil, ErrUnknownPolicy
}
