// Package clock provides the time source that edgekit packages inject, and a
// fake for tests.
//
// Every package takes the time through a Config.Now func() time.Time field
// (nil means time.Now). Pure logic takes the time as an argument. Tests drive
// TTLs, expiry and back-off with a Fake instead of sleeping; code whose timers
// run in goroutines is tested under testing/synctest instead.
package clock

import (
	"sync"
	"time"
)

// Or returns now, or time.Now when now is nil. Packages call it once in New
// so the hot path never checks for nil.
func Or(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Fake is a manually advanced clock. Its zero value is not usable; create
// one with NewFake. A Fake is safe for concurrent use by multiple goroutines.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake that reads start until advanced. A zero start means
// a fixed, arbitrary instant (2026-01-01T00:00:00Z), so tests are repeatable.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: start}
}

// Now returns the fake time. It has the signature of time.Now so f.Now can be
// passed as a Config.Now field.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d (backward if d is negative) and
// returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	return f.now
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}
