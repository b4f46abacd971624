package balancer

import "sync"

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
//   - a pick is one key hash plus O(log n) jump steps, and never allocates.
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

func (j *jumpPolicy) Build(ms []*member) Picker {
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
	return &jumpPicker{table: table, live: len(live)}
}

type jumpPicker struct {
	table []*member
	live  int
}

func (p *jumpPicker) Pick(info PickInfo) *member {
	k := hashString(info.Key)
	n := len(p.table)
	for attempt := 0; attempt < 64; attempt++ {
		if m := p.table[jumpHash(k, n)]; m != nil {
			return m
		}
		k = mix(k + 0x9e3779b97f4a7c15) // re-hash: uniform over the slots
	}
	for _, m := range p.table { // a pool that is almost all holes
		if m != nil {
			return m
		}
	}
	return nil
}

// jumpHash is Lamping and Veach's jump consistent hash.
func jumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
