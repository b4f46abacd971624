package collapse

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A thousand callers for one key: fn runs once, the 999 others wait on it
// and all get its shared value; the leader counts them.
func TestThousandCallersOneExecution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		var runs atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		results := make([]Result[int], 1000)
		for i := range results {
			wg.Go(func() {
				r, err := g.Do(context.Background(), "k", func() (int, bool) {
					runs.Add(1)
					<-release
					return 42, true
				})
				if err != nil {
					t.Error(err)
				}
				results[i] = r
			})
		}
		synctest.Wait() // one leader in fn, 999 callers waiting on it
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("fn ran %d times", runs.Load())
		}
		leaders := 0
		for _, r := range results {
			if r.Val != 42 || !r.Shared {
				t.Fatalf("result %+v", r)
			}
			if r.Leader {
				leaders++
				if r.Waiters != 999 {
					t.Fatalf("leader saw %d waiters", r.Waiters)
				}
			}
		}
		if leaders != 1 {
			t.Fatalf("%d leaders", leaders)
		}
	})
}

// A leader that declines to share (hit-for-pass) releases its waiter at
// once, unshared, to do its own work.
func TestUnsharedResultReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string]
		release := make(chan struct{})
		done := make(chan Result[string])
		go func() {
			r, _ := g.Do(context.Background(), "k", func() (string, bool) {
				<-release
				return "private", false
			})
			done <- r
		}()
		synctest.Wait() // the leader is in fn
		waiter := make(chan Result[string])
		go func() {
			r, _ := g.Do(context.Background(), "k", func() (string, bool) { return "own", true })
			waiter <- r
		}()
		synctest.Wait() // the second caller waits on the leader
		close(release)
		if r := <-done; !r.Leader || r.Shared || r.Val != "private" || r.Waiters != 1 {
			t.Fatalf("leader %+v", r)
		}
		if r := <-waiter; r.Shared || r.Leader || r.Val != "" {
			t.Fatalf("waiter must be released unshared: %+v", r)
		}
	})
}

// A waiter whose context ends stops waiting with ctx's error, whether it
// ended before the call or while it waited; the leader goes on.
func TestWaiterContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		led := make(chan Result[int])
		go func() {
			r, _ := g.Do(context.Background(), "k", func() (int, bool) { <-release; return 1, true })
			led <- r
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := g.Do(ctx, "k", func() (int, bool) { return 2, true }); err != context.Canceled {
			t.Fatalf("err %v", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := g.Do(ctx, "k", func() (int, bool) { return 3, true }); err != context.DeadlineExceeded {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("waited %v, want the context's second", d)
		}
		if !g.InFlight("k") {
			t.Fatal("the leader's work ended with its waiters' contexts")
		}
		close(release)
		if r := <-led; r.Val != 1 || r.Waiters != 2 {
			t.Fatalf("leader %+v", r)
		}
		if g.InFlight("k") {
			t.Fatal("key busy after the leader returned")
		}
	})
}

// TestFinishFromAnotherGoroutine: the leader hands its Flight to a
// goroutine that decides later (a body still arriving); the key stays busy
// until then, so a caller that arrives meanwhile waits instead of leading
// a second piece of work, and a second Finish changes nothing.
func TestFinishFromAnotherGoroutine(t *testing.T) {
	synctest.Test(t, testFinishFromAnotherGoroutine)
}

func testFinishFromAnotherGoroutine(t *testing.T) {
	var g Group[string]
	f, res, err := g.Start(context.Background(), "k")
	if f == nil || !res.Leader || err != nil {
		t.Fatalf("first caller must lead: %v %+v %v", f, res, err)
	}
	got := make(chan Result[string])
	go func() {
		f2, r, _ := g.Start(context.Background(), "k")
		if f2 != nil {
			t.Error("second caller led while the first flight was open")
			f2.Finish("", false)
		}
		got <- r
	}()
	synctest.Wait() // the second caller is blocked waiting on the flight
	finished := make(chan int)
	go func() { finished <- f.Finish("body", true) }()
	if n := <-finished; n != 1 {
		t.Fatalf("Finish saw %d waiters, want 1", n)
	}
	if r := <-got; !r.Shared || r.Val != "body" || r.Leader {
		t.Fatalf("waiter %+v", r)
	}
	if n := f.Finish("other", false); n != 0 || g.InFlight("k") {
		t.Fatalf("second Finish: %d, in flight %v", n, g.InFlight("k"))
	}
}

func TestDoReleasesWaitersWhenFnPanics(t *testing.T) {
	var g Group[int]
	func() {
		defer func() { recover() }()
		g.Do(context.Background(), "k", func() (int, bool) { panic("boom") })
	}()
	if g.InFlight("k") {
		t.Fatal("a panicking leader left the key busy")
	}
}
