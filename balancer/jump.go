package balancer

import (
	"math/bits"
	"sync"
)

// Jump is jump consistent hashing (Lamping and Veach) over stable slots,
// with removed slots skipped by re-hashing, the idea behind MementoHash:
//
//   - every backend keeps the slot it was first given, for the life of the
//     policy, so a backend that comes back (healthy again, re-added) gets
//     its own keys back, and balancers that add the same IDs in the same
//     order agree; a new backend extends the slot range, which moves the
//     ideal 1/n of keys to it;
//   - a key whose slot is removed is re-hashed until it lands on a live
//     slot, uniformly, so removing a backend moves exactly its keys (zero
//     collateral) and they spread evenly over the others;
//   - a pick is one key hash plus a few jump-back steps (O(1) expected,
//     see jumpHash), and never allocates.
//
// Weights are ignored (all backends equal). The policy value holds the
// slot table; use one Jump() per Pool. Slots are never reused, so a pool
// that churns through many distinct IDs grows its table, and picks
// re-hash more often (on average slots/live times).
func Jump() Policy {
	return &jumpPolicy{slot: map[string]int{}}
}

type jumpPolicy struct {
	mu    sync.Mutex
	slot  map[string]int // backend ID -> slot, for life
	slots []string       // slot -> ID
}

func (*jumpPolicy) ReadsKey() bool          { return true }
func (*jumpPolicy) ReadsPoolInFlight() bool { return false }

func (j *jumpPolicy) Build(eps []Endpoint) Picker {
	ms := members(eps)
	j.mu.Lock()
	defer j.mu.Unlock()
	live := make(map[string]*member, len(ms))
	for _, m := range ms {
		live[m.ID] = m
	}
	// A backend seen for the first time gets the next slot.
	for _, m := range ms {
		if _, ok := j.slot[m.ID]; !ok {
			j.slot[m.ID] = len(j.slots)
			j.slots = append(j.slots, m.ID)
		}
	}
	if len(live) == 0 {
		return emptyPicker{}
	}
	table := make([]*member, len(j.slots))
	for i, id := range j.slots {
		table[i] = live[id] // nil: removed or unavailable now
	}
	return &jumpPicker{table: table}
}

type jumpPicker struct {
	table []*member // slot -> member; nil where the slot's backend is gone
}

func (p *jumpPicker) Pick(info PickInfo) Endpoint {
	k := hashString(info.Key)
	n := len(p.table)
	for attempt := 0; attempt < 64; attempt++ {
		if m := p.table[jumpHash(k, n)]; m != nil {
			return Endpoint{m}
		}
		k = mix(k + 0x9e3779b97f4a7c15) // re-hash: uniform over the slots
	}
	for _, m := range p.table { // a pool that is almost all holes
		if m != nil {
			return Endpoint{m}
		}
	}
	return Endpoint{}
}

// jumpHash maps key to one of buckets with the distribution and the
// consistency of Lamping and Veach's jump consistent hash (growing from n
// to n+1 buckets moves exactly the keys that land on the new bucket, 1/(n+1)
// of them), but walks the key's jump points backwards from the top instead
// of forwards from zero, the idea of Ertl's JumpBackHash (2024). It needs
// no float division and O(1) steps on average, not O(log n).
//
// A key's jump points are a random set where each j >= 1 is a point with
// probability 1/(j+1), independently; its bucket among n is the largest
// point below n (0 if none). Split the points by powers of two: in
// [2^k, 2^(k+1)) the largest point is uniform over that range if there is
// one, which happens with probability 1/2, and the next point below a point
// J is uniform over [0, J) (below 2^k: none left in this range). Each range
// draws from its own generator seeded by (key, k), so the point set is
// fixed per key whatever n is — which is what makes the mapping consistent.
func jumpHash(key uint64, buckets int) int {
	if buckets <= 1 {
		return 0
	}
	top := uint64(buckets - 1) // the largest bucket allowed
	for k := bits.Len64(top) - 1; k >= 0; k-- {
		lo := uint64(1) << k
		r := mix(key ^ (uint64(k)+1)*0x9e3779b97f4a7c15)
		j := r & (2*lo - 1) // uniform in [0, 2^(k+1))
		if j < lo {
			continue // no point in this range
		}
		for j > top {
			// Only in the top range: step down to the next point,
			// uniform in [0, j).
			r = mix(r + 0x9e3779b97f4a7c15)
			j, _ = bits.Mul64(r, j)
		}
		if j >= lo {
			return int(j)
		}
	}
	return 0
}
