package storepeers

import "testing"

// reportCPU, deferred right after a benchmark's setup as
// `defer reportCPU(b)()`, reports the process's CPU time (user and system,
// all threads, the garbage collector's included) per operation as
// cpu-ns/op. On a shared machine wall-clock ns/op moves with other loads;
// CPU time moves far less. A contended lock that puts waiters to sleep
// costs wall time but little CPU, so the metric flatters a locked baseline
// (golang-lru), never the store.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 && start >= 0 && cpuTime() >= 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
