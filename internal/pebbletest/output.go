package pebbletest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Output is an io.Writer for a program's output that a test can wait on
// (WaitFor) without polling. It is safe for concurrent use.
type Output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced at each Write
}

// Write appends p and wakes the waiters.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return n, err
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// WaitFor waits until the output contains s, failing t after timeout.
func (o *Output) WaitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	o.WaitForAny(t, timeout, s)
}

// WaitForAny waits until the output contains one of ss, failing t after
// timeout.
func (o *Output) WaitForAny(t testing.TB, timeout time.Duration, ss ...string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		for _, s := range ss {
			if strings.Contains(o.b.String(), s) {
				o.mu.Unlock()
				return
			}
		}
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("none of %q in the output within %v:\n%s", ss, timeout, o.String())
		}
	}
}
