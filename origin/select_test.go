package origin

import (
	"fmt"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

func selectPool(tb testing.TB, steering Steering) *Pool {
	tb.Helper()
	var os []Origin
	for i := range 8 {
		os = append(os, Origin{URL: fmt.Sprintf("http://127.0.0.1:%d", 1000+i), Priority: i % 3, Region: "r", Lat: float64(i), Lon: 1})
	}
	p, err := New(Config{Origins: os, Steering: steering, Lat: 1, Lon: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// Choosing the origins for a request reads the balancer's snapshot: no
// lock, and no allocation for the first choice or a failover (the old
// order() built two maps, sorted twice and locked every origin).
func TestRankingSelectsWithoutAllocating(t *testing.T) {
	for _, st := range []Steering{Priority, Geography, Latency} {
		p := selectPool(t, st)
		exclude := make([]string, 0, 2)
		allocs := testing.AllocsPerRun(200, func() {
			exclude = exclude[:0]
			for range 3 {
				pk, err := p.bal.Pick(balancer.PickInfo{Exclude: exclude})
				if err != nil {
					t.Fatal(err)
				}
				exclude = append(exclude, pk.Backend().ID)
				pk.Done(balancer.DoneInfo{Aborted: true})
			}
		})
		if allocs != 0 {
			t.Errorf("steering %d: %.1f allocations per request's three choices", st, allocs)
		}
	}
}

// Failover order under Priority: every origin of the best rank before any
// of the next, each exactly once.
func TestRankingFailoverOrder(t *testing.T) {
	p := selectPool(t, Priority)
	for range 50 {
		var exclude []string
		prev := -1
		for range 8 {
			pk, err := p.bal.Pick(balancer.PickInfo{Exclude: exclude})
			if err != nil {
				t.Fatal(err)
			}
			m := p.byHost[pk.Backend().ID]
			if m.Priority < prev {
				t.Fatalf("priority %d after %d (tried %v)", m.Priority, prev, exclude)
			}
			prev = m.Priority
			exclude = append(exclude, pk.Backend().ID)
			pk.Done(balancer.DoneInfo{Aborted: true})
		}
		if _, err := p.bal.Pick(balancer.PickInfo{Exclude: exclude}); err == nil {
			t.Fatal("a ninth choice among eight origins")
		}
	}
}

// BenchmarkSelect measures choosing a request's first origin and one
// failover.
func BenchmarkSelect(b *testing.B) {
	for _, st := range []Steering{Priority, Geography, Latency} {
		b.Run(fmt.Sprint("steering=", st), func(b *testing.B) {
			p := selectPool(b, st)
			b.ReportAllocs()
			exclude := make([]string, 0, 2)
			for b.Loop() {
				exclude = exclude[:0]
				for range 2 {
					pk, _ := p.bal.Pick(balancer.PickInfo{Exclude: exclude})
					exclude = append(exclude, pk.Backend().ID)
					pk.Done(balancer.DoneInfo{Aborted: true})
				}
			}
		})
	}
}
