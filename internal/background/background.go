// Package background runs work that outlives the request that asked for
// it, one job per key at a time: a cache revalidating a stale response
// while it serves it (RFC 5861 stale-while-revalidate), a resolver
// refreshing a popular answer before it expires. It is the SDK's one
// implementation of that mechanism; the cache, the edge and the resolver
// call it.
//
// Every job runs in a goroutine the Jobs owns, under a context that ends
// after the configured timeout or when the Jobs is closed, whichever comes
// first. A job asked for while one for the same key runs, or while Max
// jobs run, is not started: background work is an optimisation, and the
// caller has already answered from what it had.
package background

import (
	"context"
	"sync"
	"time"
)

// Config configures Jobs.
type Config struct {
	// Timeout bounds every job: its context ends this long after it
	// starts. Zero means 30 s (net/http's and HAProxy's order of a
	// server timeout).
	Timeout time.Duration
	// Max bounds how many jobs run at once. Zero means 1024.
	Max int
}

// DefaultTimeout is what a zero Config.Timeout means.
const DefaultTimeout = 30 * time.Second

// DefaultMax is what a zero Config.Max means.
const DefaultMax = 1024

// Jobs runs background jobs, at most one per key at a time. It is safe for
// concurrent use by multiple goroutines and must not be copied. Close
// cancels the jobs and waits for them.
type Jobs struct {
	timeout time.Duration
	max     int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	idle   sync.Cond // on mu; broadcast when active empties
	active map[string]struct{}
	closed bool
}

// New returns Jobs configured by cfg. Negative values count as zero.
func New(cfg Config) *Jobs {
	j := &Jobs{timeout: cfg.Timeout, max: cfg.Max, active: map[string]struct{}{}}
	j.idle.L = &j.mu
	if j.timeout <= 0 {
		j.timeout = DefaultTimeout
	}
	if j.max <= 0 {
		j.max = DefaultMax
	}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	return j
}

// Go starts fn(ctx) in a goroutine of its own unless a job for key is
// running, Max jobs are running or the Jobs is closed; it reports whether
// it started it. ctx ends when fn's time is up (context.DeadlineExceeded)
// or the Jobs closes (context.Canceled); fn must return soon after. key
// is free again when fn returns.
func (j *Jobs) Go(key string, fn func(ctx context.Context)) bool {
	j.mu.Lock()
	if _, busy := j.active[key]; busy || j.closed || len(j.active) >= j.max {
		j.mu.Unlock()
		return false
	}
	j.active[key] = struct{}{}
	j.wg.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		defer func() {
			j.mu.Lock()
			delete(j.active, key)
			if len(j.active) == 0 {
				j.idle.Broadcast()
			}
			j.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(j.ctx, j.timeout)
		defer cancel()
		fn(ctx)
	}()
	return true
}

// Close cancels the running jobs and waits for them to return; later
// calls to Go start nothing. It is idempotent.
func (j *Jobs) Close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.cancel()
	j.wg.Wait()
}

// Wait waits until no job is running: those running now, and any started
// meanwhile, have returned. Unlike Close it stops nothing, and it may be
// called while Go is (a sync.WaitGroup's Wait may not).
func (j *Jobs) Wait() {
	j.mu.Lock()
	for len(j.active) > 0 {
		j.idle.Wait()
	}
	j.mu.Unlock()
}
