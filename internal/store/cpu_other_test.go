//go:build !unix

package store

import "time"

// cpuTime returns -1: no CPU time is reported here.
func cpuTime() time.Duration { return -1 }
