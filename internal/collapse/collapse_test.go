package collapse

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
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
