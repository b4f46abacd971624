package background

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One job per key: a second request for a busy key starts nothing, and
// the key is free again once the job returns.
func TestOneJobPerKey(t *testing.T) {
	j := New(Config{})
	defer j.Close()
	release := make(chan struct{})
	var runs atomic.Int32
	job := func(ctx context.Context) { runs.Add(1); <-release }
	if !j.Go("k", job) {
		t.Fatal("first job not started")
	}
	if j.Go("k", job) {
		t.Fatal("second job for a busy key started")
	}
	if !j.Go("other", func(context.Context) {}) {
		t.Fatal("job for another key not started")
	}
	close(release)
	j.Wait()
	if !j.Go("k", func(context.Context) { runs.Add(1) }) {
		t.Fatal("key not free after its job returned")
	}
	j.Wait()
	if got := runs.Load(); got != 2 {
		t.Fatalf("runs = %d, want 2", got)
	}
}

// A job that does not return by itself ends at its timeout: its context
// says DeadlineExceeded.
func TestJobTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := New(Config{Timeout: 5 * time.Second})
		defer j.Close()
		var got error
		var took time.Duration
		start := time.Now()
		j.Go("k", func(ctx context.Context) { <-ctx.Done(); got, took = ctx.Err(), time.Since(start) })
		j.Wait()
		if !errors.Is(got, context.DeadlineExceeded) {
			t.Fatalf("job ended with %v, want DeadlineExceeded", got)
		}
		if took != 5*time.Second {
			t.Fatalf("job's context ended after %v, want its 5s timeout", took)
		}
	})
}

// Close cancels running jobs, waits for them, and Go starts nothing after.
func TestCloseCancelsAndWaits(t *testing.T) {
	j := New(Config{})
	var ended atomic.Bool
	started := make(chan struct{})
	j.Go("k", func(ctx context.Context) { close(started); <-ctx.Done(); ended.Store(true) })
	<-started
	j.Close()
	if !ended.Load() {
		t.Fatal("Close returned before the job ended")
	}
	if j.Go("k2", func(context.Context) {}) {
		t.Fatal("Go started a job after Close")
	}
	j.Close() // idempotent
}

// At most Max jobs run at once.
func TestMaxJobs(t *testing.T) {
	j := New(Config{Max: 2})
	defer j.Close()
	release := make(chan struct{})
	block := func(context.Context) { <-release }
	if !j.Go("a", block) || !j.Go("b", block) {
		t.Fatal("jobs under Max not started")
	}
	if j.Go("c", block) {
		t.Fatal("a job beyond Max started")
	}
	close(release)
}
