package serve

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Conns is the set of a listener's open connections, each served on its
// own goroutine, so that a shutdown can reach and drain them. It is safe
// for concurrent use.
type Conns[C comparable] struct {
	mu sync.Mutex
	m  map[C]struct{}
	wg sync.WaitGroup
}

// Serve runs fn for c on a new goroutine, with c in the set meanwhile.
func (s *Conns[C]) Serve(c C, fn func()) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[C]struct{}{}
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
		s.mu.Lock()
		delete(s.m, c)
		s.mu.Unlock()
	}()
}

// Each calls fn for every connection in the set, under its lock.
func (s *Conns[C]) Each(fn func(C)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		fn(c)
	}
}

// Drain waits up to timeout for every connection's goroutine to end, then
// calls kill for each connection left and reports false.
func (s *Conns[C]) Drain(timeout time.Duration, kill func(C)) bool {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		s.Each(kill)
		return false
	}
}

// Wait waits for every connection's goroutine to end.
func (s *Conns[C]) Wait() { s.wg.Wait() }

// Accept accepts connections on ln until ctx is done or accepting fails
// for good, and passes each to handle, which must not block (it starts
// the connection's goroutine, with Conns.Serve say). Temporary failures
// are ridden out (see acceptor). It returns once ln is closed: nil after
// ctx, else the accept error.
func Accept(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	closeListener := closeOnDone(ctx, ln)
	defer closeListener()
	var acc acceptor
	for {
		c, err := acc.accept(ctx, ln)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		handle(c)
	}
}

// closeOnDone closes ln when ctx is done, so that a blocked Accept returns.
// The func it returns is for the accept loop's end: it closes ln itself if
// ctx is not done, or else waits until the close ctx started has finished.
// Either way ln's socket is closed when it returns: a second ln.Close
// returns at once while the first is still at work, and until that one
// ends the port still takes connections.
func closeOnDone(ctx context.Context, ln net.Listener) (closeNow func()) {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		close(closed)
	})
	return func() {
		if stop() {
			ln.Close()
		} else {
			<-closed
		}
	}
}

// acceptor accepts connections for one accept loop, which owns it (it is
// not for concurrent use). It rides out the
// temporary failures a busy server meets (out of descriptors, an aborted
// handshake) with a pause that doubles from 5 ms up to a second, as
// net/http's server does, instead of ending the loop.
type acceptor struct {
	backoff time.Duration
}

// accept returns the next connection, or the first error that is not
// temporary, or any error once ctx is done.
func (a *acceptor) accept(ctx context.Context, ln net.Listener) (net.Conn, error) {
	for {
		c, err := ln.Accept()
		if err == nil {
			a.backoff = 0
			return c, nil
		}
		// Errno's Temporary covers EMFILE, ENFILE, EINTR and timeouts
		// (the poller already retries ECONNABORTED and EINTR itself).
		// (net.Error's Temporary is deprecated for being vague; the
		// errno's is what net/http still relies on here, and what we
		// want.)
		var te interface{ Temporary() bool }
		if ctx.Err() != nil || !errors.As(err, &te) || !te.Temporary() {
			return nil, err
		}
		a.backoff = min(max(2*a.backoff, 5*time.Millisecond), time.Second)
		t := time.NewTimer(a.backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}
