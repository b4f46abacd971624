package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCountsExactlyUnderConcurrency(t *testing.T) {
	c := New(3)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				c.Add(g%3, 1)
				c.Inc(2)
			}
		}(g)
	}
	wg.Wait()
	want := []uint64{30000, 30000, 20000 + 80000} // g%3: 0,3,6 | 1,4,7 | 2,5
	for i, w := range want {
		if got := c.Load(i); got != w {
			t.Fatalf("counter %d = %d, want %d", i, got, w)
		}
	}
	if c.Len() != 3 {
		t.Fatalf("Len %d", c.Len())
	}
}

func TestIndexOutOfRangePanics(t *testing.T) {
	c := New(2)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for index 2 of 2")
		}
	}()
	c.Add(2, 1)
}

// BenchmarkParallelIncrement compares a striped counter with one atomic
// counter, both incremented from every core.
func BenchmarkParallelIncrement(b *testing.B) {
	b.Run("percpu", func(b *testing.B) {
		c := New(1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(0, 1)
			}
		})
	})
	b.Run("atomic", func(b *testing.B) {
		var c atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
}

// Ps that appear after New (GOMAXPROCS raised) share the overflow stripe
// with atomic adds: nothing is lost, and stripes of the Ps New saw keep
// one writer each.
func TestCountsExactlyAfterGOMAXPROCSGrows(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	c := New(1)
	runtime.GOMAXPROCS(8)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				c.Inc(0)
			}
		}()
	}
	wg.Wait()
	if got := c.Load(0); got != 16*20000 {
		t.Fatalf("counted %d, want %d", got, 16*20000)
	}
}

// IncStripe counts like Inc and names a stripe no larger than the overflow
// stripe, the same one for as long as the goroutine stays on its P (a
// single-P run here, so always).
func TestIncStripe(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	c := New(1)
	v1, s1 := c.IncStripe(0)
	v2, s2 := c.IncStripe(0)
	if s1 != s2 || s1 < 0 || s1 > c.mask+1 || v2 != v1+1 || c.Load(0) != 2 {
		t.Fatalf("IncStripe: (%d, %d) then (%d, %d), Load %d", v1, s1, v2, s2, c.Load(0))
	}
}
