package clock

import (
	"sync"
	"testing"
	"time"
)

func TestOrDefaultsToTimeNow(t *testing.T) {
	before := time.Now()
	got := Or(nil)()
	if got.Before(before) {
		t.Fatalf("Or(nil)() = %v, before %v", got, before)
	}
	fixed := time.Unix(42, 0)
	if got := Or(func() time.Time { return fixed })(); !got.Equal(fixed) {
		t.Fatalf("Or(f)() = %v, want %v", got, fixed)
	}
}

func TestFakeAdvanceAndSet(t *testing.T) {
	f := NewFake(time.Time{})
	start := f.Now()
	if start.IsZero() {
		t.Fatal("NewFake(zero) must start at a fixed non-zero instant")
	}
	if got := f.Advance(90 * time.Second); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	if got := f.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Now after Advance = %v", got)
	}
	f.Set(start)
	if got := f.Now(); !got.Equal(start) {
		t.Fatalf("Now after Set = %v", got)
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake(time.Time{})
	start := f.Now()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				f.Advance(time.Millisecond)
				_ = f.Now()
			}
		}()
	}
	wg.Wait()
	if got := f.Now().Sub(start); got != 800*time.Millisecond {
		t.Fatalf("advanced %v, want 800ms", got)
	}
}
