//go:build amd64 && !race

package store

// inPlace enables in-place updates: a Set that replaces a value of the same
// cost writes the key's node under its sequence lock (see node.read)
// instead of allocating a new node and swapping it into the index. The
// sequence lock's readers rely on loads not being reordered with other
// loads, which amd64 guarantees (and Go's compiler keeps: an atomic load
// orders the plain loads after it, and the plain loads before the next
// atomic one). Elsewhere, and under the race detector, which would report
// the sequence lock's deliberate race, updates allocate (see Store.update).
const inPlace = true
