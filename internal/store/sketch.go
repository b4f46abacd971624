package store

import "github.com/edgekit/edgekit/internal/memsize"

// sketch is TinyLFU's frequency estimator: a count-min sketch of 4-bit
// counters (four rows) that halves every counter after a sample period, so
// old popularity fades, with a doorkeeper bloom filter in front that absorbs
// keys seen only once. It is not safe for concurrent use; a shard guards it.
type sketch struct {
	rows      [4][]uint64 // 16 counters of 4 bits per word
	mask      uint64      // counters per row - 1
	door      []uint64    // doorkeeper bits
	doorMask  uint64
	additions int
	period    int
	capacity  int
}

// initialSketch is the number of keys a shard's first sketch is sized for.
const initialSketch = 64

// sketchBytes is the memory of the tables of a sketch sized for n keys.
func sketchBytes(n int) int64 {
	counters := nextPow2(uint64(max(n, initialSketch)))
	return 4*memsize.Alloc(8*int(max(counters/16, 1))) + memsize.Alloc(8*int(counters/16))
}

// bytes is the memory of s's tables.
func (s *sketch) bytes() int64 {
	return 4*memsize.Alloc(8*len(s.rows[0])) + memsize.Alloc(8*len(s.door))
}

// newSketch sizes the sketch for about n distinct hot keys.
func newSketch(n int) *sketch {
	if n < initialSketch {
		n = initialSketch
	}
	counters := nextPow2(uint64(n))
	s := &sketch{mask: counters - 1, period: 10 * int(counters), capacity: n}
	words := counters / 16
	if words == 0 {
		words = 1
	}
	for i := range s.rows {
		s.rows[i] = make([]uint64, words)
	}
	doorBits := counters * 4
	s.door = make([]uint64, doorBits/64)
	s.doorMask = doorBits - 1
	return s
}

var sketchSeeds = [4]uint64{0xc3a5c85c97cb3127, 0xb492b66fbe98f273, 0x9ae16a3b2f90404f, 0xcbf29ce484222325}

func (s *sketch) index(h uint64, row int) uint64 {
	h = (h ^ sketchSeeds[row]) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	return h & s.mask
}

func (s *sketch) counter(row int, i uint64) uint64 {
	return (s.rows[row][i>>4] >> ((i & 15) << 2)) & 0xf
}

// doorkeeper reports whether h was seen since the last reset, and marks it.
func (s *sketch) doorkeeper(h uint64) bool {
	a := (h * 0x9e3779b97f4a7c15) & s.doorMask
	b := ((h >> 32) * 0xbf58476d1ce4e5b9) & s.doorMask
	seen := s.door[a>>6]&(1<<(a&63)) != 0 && s.door[b>>6]&(1<<(b&63)) != 0
	s.door[a>>6] |= 1 << (a & 63)
	s.door[b>>6] |= 1 << (b & 63)
	return seen
}

// increment records one access of the key with hash h.
func (s *sketch) increment(h uint64) { s.add(h, 1) }

// add records k accesses of the key with hash h at once: the first one a
// doorkeeper has not seen only marks it, as k separate increments would.
func (s *sketch) add(h uint64, k uint64) {
	s.additions += int(k)
	if !s.doorkeeper(h) {
		k--
	}
	if k > 0 {
		for r := range s.rows {
			i := s.index(h, r)
			shift := (i & 15) << 2
			w := &s.rows[r][i>>4]
			inc := min(k, 15-(*w>>shift)&0xf)
			*w += inc << shift
		}
	}
	if s.additions >= s.period {
		s.reset()
	}
}

// reset halves every counter and clears the doorkeeper (TinyLFU aging).
func (s *sketch) reset() {
	for r := range s.rows {
		row := s.rows[r]
		for i := range row {
			row[i] = (row[i] >> 1) & 0x7777777777777777
		}
	}
	clear(s.door)
	s.additions /= 2
}

// estimate returns the approximate access count of the key with hash h.
func (s *sketch) estimate(h uint64) uint64 {
	m := uint64(15)
	for r := range s.rows {
		if c := s.counter(r, s.index(h, r)); c < m {
			m = c
		}
	}
	a := (h * 0x9e3779b97f4a7c15) & s.doorMask
	b := ((h >> 32) * 0xbf58476d1ce4e5b9) & s.doorMask
	if s.door[a>>6]&(1<<(a&63)) != 0 && s.door[b>>6]&(1<<(b&63)) != 0 {
		m++
	}
	return m
}

func nextPow2(v uint64) uint64 {
	if v <= 1 {
		return 1
	}
	p := uint64(1)
	for p < v {
		p <<= 1
	}
	return p
}
