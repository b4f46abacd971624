//go:build unix

package authority

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far, user and system: benchmarks
// report it per operation beside ns/op, which a loaded machine inflates
// with the time spent waiting for a CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
