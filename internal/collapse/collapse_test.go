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

func TestThousandCallersOneExecution(t *testing.T) {
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]Result[int], 1000)
	started := make(chan struct{})
	var once sync.Once
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := g.Do(context.Background(), "k", func() (int, bool) {
				once.Do(func() { close(started) })
				runs.Add(1)
				<-release
				return 42, true
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}(i)
	}
	<-started
	// Let the others queue up behind the leader (bounded wait).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		n := g.calls["k"].waiters
		g.mu.Unlock()
		if n == 999 {
			break
		}
		time.Sleep(time.Millisecond)
	}
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
}

func TestUnsharedResultReleasesWaiters(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	entered := make(chan struct{})
	done := make(chan Result[string])
	go func() {
		r, _ := g.Do(context.Background(), "k", func() (string, bool) {
			close(entered)
			<-release
			return "private", false
		})
		done <- r
	}()
	<-entered
	waiter := make(chan Result[string])
	go func() {
		r, _ := g.Do(context.Background(), "k", func() (string, bool) { return "own", true })
		waiter <- r
	}()
	for !func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.calls["k"].waiters == 1 }() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if r := <-done; !r.Leader || r.Shared || r.Val != "private" {
		t.Fatalf("leader %+v", r)
	}
	if r := <-waiter; r.Shared || r.Leader || r.Val != "" {
		t.Fatalf("waiter must be released unshared: %+v", r)
	}
}

func TestWaiterContextCancel(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	entered := make(chan struct{})
	go g.Do(context.Background(), "k", func() (int, bool) { close(entered); <-release; return 1, true })
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Do(ctx, "k", func() (int, bool) { return 2, true }); err != context.Canceled {
		t.Fatalf("err %v", err)
	}
	close(release)
	for g.InFlight("k") {
		time.Sleep(time.Millisecond)
	}
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
