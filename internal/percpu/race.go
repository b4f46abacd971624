//go:build race

package percpu

// raceEnabled makes stripe adds atomic under the race detector, which
// cannot see that each stripe has one writer at a time.
const raceEnabled = true
