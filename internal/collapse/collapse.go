// Package collapse merges concurrent requests for one key into one piece of
// work, the way a CDN collapses a thundering herd of cache misses into one
// origin fetch.
//
// Unlike golang.org/x/sync/singleflight, the leader decides whether its
// result may be shared: when it may not (an uncacheable response, a body
// too large to keep), every waiter is released at once to do its own work,
// so no request is ever serialised behind another (hit-for-pass).
//
// Do runs the work on the leader's goroutine and publishes its result when
// it returns. Start and Flight.Finish split the two, for work whose
// leader starts using the result (streaming a body) before it is known
// whether the result may be shared: the key stays busy, and waiters wait,
// until Finish is called, from whichever goroutine decides.
package collapse

import (
	"context"
	"sync"
)

// Group collapses work by key. The zero value is ready to use. A Group is
// safe for concurrent use by multiple goroutines and must not be copied.
type Group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done     chan struct{}
	val      T
	shared   bool
	finished bool
	waiters  int
}

// Result tells a caller of Do what happened.
type Result[T any] struct {
	// Val is the leader's result when Shared (or the caller's own when
	// Leader).
	Val T
	// Leader is true for the caller that ran fn.
	Leader bool
	// Shared is true when Val came from (or may be given to) others.
	Shared bool
	// Waiters is how many callers waited on the leader (leader only).
	Waiters int
}

// Flight is a leader's handle on the work it started with Start. It is
// safe for concurrent use by multiple goroutines.
type Flight[T any] struct {
	g   *Group[T]
	key string
	c   *call[T]
}

// Start begins the work for key, or joins the work already running for
// it. The first caller for a key gets a non-nil Flight and becomes the
// leader: it must call Finish exactly once, from any goroutine; until then
// every later caller for key waits. A waiter gets a nil Flight and the
// Result Do would give it: the leader's value when the leader shared it,
// Shared == false when it must do its own work, or ctx.Err() when ctx ends
// first.
func (g *Group[T]) Start(ctx context.Context, key string) (*Flight[T], Result[T], error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[T]{}
	}
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		select {
		case <-c.done:
			if c.shared {
				return nil, Result[T]{Val: c.val, Shared: true}, nil
			}
			return nil, Result[T]{}, nil
		case <-ctx.Done():
			return nil, Result[T]{}, ctx.Err()
		}
	}
	c := &call[T]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	return &Flight[T]{g: g, key: key, c: c}, Result[T]{Leader: true}, nil
}

// Finish publishes the leader's result: with shared, the waiters get val;
// without, they are released to do their own work. The key is free again
// for a new leader. Finish returns how many callers waited; calls after
// the first do nothing and return 0.
func (f *Flight[T]) Finish(val T, shared bool) int {
	f.g.mu.Lock()
	if f.c.finished {
		f.g.mu.Unlock()
		return 0
	}
	f.c.finished = true
	f.c.val, f.c.shared = val, shared
	delete(f.g.calls, f.key)
	n := f.c.waiters
	f.g.mu.Unlock()
	close(f.c.done)
	return n
}

// Do runs fn for key unless a call for key is already running, in which case
// it waits for that call. fn returns its value and whether it may be shared
// with the waiters. A waiter whose ctx ends stops waiting and gets
// ctx.Err(); a waiter whose leader declined to share gets Shared == false
// and must do its own work. fn runs on the caller's goroutine.
func (g *Group[T]) Do(ctx context.Context, key string, fn func() (T, bool)) (Result[T], error) {
	f, res, err := g.Start(ctx, key)
	if f == nil {
		return res, err
	}
	var val T
	shared := false
	// Release waiters even if fn panics.
	defer f.Finish(val, false)
	val, shared = fn()
	n := f.Finish(val, shared)
	return Result[T]{Val: val, Leader: true, Shared: shared, Waiters: n}, nil
}

// InFlight reports whether work for key is running.
func (g *Group[T]) InFlight(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}
