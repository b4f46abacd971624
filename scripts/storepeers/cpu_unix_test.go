//go:build unix

package storepeers

import (
	"syscall"
	"time"
)

// cpuTime returns the process's CPU time so far, or -1.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
