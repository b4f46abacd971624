// Package percpu has counters that many goroutines bump at once without
// sharing a cache line: each processor (P) adds to its own stripe, and a
// read sums the stripes.
//
// A plain atomic counter that every request increments moves between the
// cores' caches on almost every increment, and on a hot path (a cache hit,
// a firewall verdict) that transfer costs more than the work it counts.
// Striping by P keeps each stripe in one core's cache; the sum is exact
// (no increment is lost), though a read racing with increments sees some
// of them and not others, as with any set of counters read one by one.
package percpu
