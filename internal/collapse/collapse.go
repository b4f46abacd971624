// Package collapse merges concurrent requests for one key into one piece of
// work, the way a CDN collapses a thundering herd of cache misses into one
// origin fetch.
//
// Unlike golang.org/x/sync/singleflight, the leader decides whether its
// result may be shared: when it may not (an uncacheable response, a body
// too large to keep), every waiter is released at once to do its own work,
// so no request is ever serialised behind another (hit-for-pass).
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
	done    chan struct{}
	val     T
	shared  bool
	waiters int
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

// Do runs fn for key unless a call for key is already running, in which case
// it waits for that call. fn returns its value and whether it may be shared
// with the waiters. A waiter whose ctx ends stops waiting and gets
// ctx.Err(); a waiter whose leader declined to share gets Shared == false
// and must do its own work. fn runs on the caller's goroutine.
func (g *Group[T]) Do(ctx context.Context, key string, fn func() (T, bool)) (Result[T], error) {
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
				return Result[T]{Val: c.val, Shared: true}, nil
			}
			return Result[T]{}, nil
		case <-ctx.Done():
			return Result[T]{}, ctx.Err()
		}
	}
	c := &call[T]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	var val T
	shared := false
	defer func() {
		// Release waiters even if fn panics.
		g.mu.Lock()
		c.val, c.shared = val, shared
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	val, shared = fn()
	g.mu.Lock()
	n := c.waiters
	g.mu.Unlock()
	return Result[T]{Val: val, Leader: true, Shared: shared, Waiters: n}, nil
}

// InFlight reports whether work for key is running.
func (g *Group[T]) InFlight(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}
