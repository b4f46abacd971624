package balancer

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The time-based behaviour of a Pool (ejection and its backoff, drains,
// the health-check loop) runs here in synctest bubbles: the Pool's own
// timers and goroutines run on fake time, and nothing sleeps or polls to
// synchronise.

// pickOf picks until it gets backend id (round robin reaches every
// available backend within the pool's size) and reports whether it did.
func pickOf(p *Pool, id string) (Pick, bool) {
	for range len(p.Backends()) {
		pk, err := p.Pick(PickInfo{})
		if err != nil {
			return Pick{}, false
		}
		if pk.Backend().ID == id {
			return pk, true
		}
		pk.Done(DoneInfo{})
	}
	return Pick{}, false
}

// Passive ejection (Envoy's outlier detection): each ejection in a row is
// twice as long as the one before, up to MaxEjection, and the backend
// comes back on time on the Pool's own timer (no Refresh, no injected
// clock).
func TestEjectionBackoffOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{Outlier: OutlierDetection{Consecutive: 1, BaseEjection: 10 * time.Second, MaxEjection: 25 * time.Second}}, backends(2)...)
		for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second, 25 * time.Second} {
			pk, ok := pickOf(p, "b000")
			if !ok {
				t.Fatalf("ejection %d: b000 not available", i)
			}
			pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
			if st := p.Stats()[0]; st.State != Ejected || st.Ejections != uint64(i+1) {
				t.Fatalf("ejection %d: %+v", i, st)
			}
			time.Sleep(want - time.Nanosecond)
			synctest.Wait()
			if _, ok := pickOf(p, "b000"); ok {
				t.Fatalf("ejection %d: back before its %v", i, want)
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait() // the re-admitting timer has run
			if st := p.Stats()[0]; st.State != Healthy {
				t.Fatalf("ejection %d: %v after its %v", i, st.State, want)
			}
			if _, ok := pickOf(p, "b000"); !ok {
				t.Fatalf("ejection %d: not back after its %v", i, want)
			}
		}
	})
}

// Ejections are doubled only "in a row": a backend that came back and
// served successfully starts again from BaseEjection when it next fails.
// (It failed before the fix: success() returned early while the failure
// streak was 0, and an ejection zeroed the streak, so a re-admitted
// backend's successes never reset its ejection count.)
func TestEjectionBackoffResetsAfterSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{Outlier: OutlierDetection{Consecutive: 1, BaseEjection: 10 * time.Second}}, backends(2)...)
		pk, _ := pickOf(p, "b000")
		pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
		time.Sleep(10 * time.Second)
		synctest.Wait() // the re-admitting timer, due now too, has run
		for range 100 {
			pk, ok := pickOf(p, "b000")
			if !ok {
				t.Fatal("not back after its first ejection")
			}
			pk.Done(DoneInfo{})
		}
		time.Sleep(time.Hour)
		pk, _ = pickOf(p, "b000")
		pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, ok := pickOf(p, "b000"); !ok {
			t.Fatal("an ejection after 100 successes and an hour lasted more than BaseEjection")
		}
	})
}

// A drain waits for the backend's requests in flight, however long they
// take, then removes it and reports it; new picks never reach it.
func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var drained []string
		p := newPool(t, Config{OnDrained: func(b Backend) { mu.Lock(); drained = append(drained, b.ID); mu.Unlock() }}, backends(3)...)
		held, _ := p.Pick(PickInfo{}) // b000, held across the drain
		ch, err := p.Drain(held.Backend().ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := pickN(t, p, 30, nil); got[held.Backend().ID] != 0 {
			t.Fatalf("draining backend picked: %v", got)
		}
		if st := p.Stats()[0]; st.State != Draining {
			t.Fatalf("state %v while draining", st.State)
		}
		time.Sleep(time.Minute) // a long request
		synctest.Wait()
		select {
		case <-ch:
			t.Fatal("drained while a request was in flight")
		default:
		}
		held.Done(DoneInfo{})
		<-ch // in fake time: the drain's own pace, however it waits
		mu.Lock()
		n := len(drained)
		mu.Unlock()
		if n != 1 || len(p.Backends()) != 2 {
			t.Fatalf("drained %d, left %d", n, len(p.Backends()))
		}
		if _, err := p.Drain(held.Backend().ID); err == nil {
			t.Fatal("Drain of a removed backend")
		}
		p.Add(Backend{ID: "new", Addr: "n:1"})
		if got := pickN(t, p, 30, nil); got["new"] != 10 {
			t.Fatalf("added backend: %v", got)
		}
		if err := p.SetWeight("nope", 2); err == nil {
			t.Fatal("SetWeight of an unknown backend")
		}
	})
}

// Re-adding a known backend (new weight or address) while requests to it
// are in flight: their Done calls land on the replacement, so its
// in-flight count returns to zero and a later drain completes.
func TestReplaceBackendWithRequestsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, Config{Policy: LeastConnections()}, Backend{ID: "a", Addr: "a:1"})
		var held []Pick
		for range 3 {
			pk, err := p.Pick(PickInfo{})
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, pk)
		}
		if err := p.Add(Backend{ID: "a", Addr: "a:2", Weight: 5}); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st[0].Active != 3 || st[0].Picks != 3 || st[0].Addr != "a:2" {
			t.Fatalf("after replacement: %+v", st[0])
		}
		for _, pk := range held {
			pk.Done(DoneInfo{Latency: time.Millisecond})
		}
		if st := p.Stats(); st[0].Active != 0 {
			t.Fatalf("in flight after every Done: %d", st[0].Active)
		}
		ch, err := p.Drain("a")
		if err != nil {
			t.Fatal(err)
		}
		<-ch // a drain that never completed would leave the bubble deadlocked
	})
}

// The health-check loop probes every Interval and applies rise and fall:
// Fall failed rounds in a row mark a backend unhealthy (out of rotation),
// Rise passed rounds in a row bring it back; Close stops the loop.
func TestHealthLoopRiseAndFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var up atomic.Bool
		up.Store(true)
		var probes atomic.Int32
		probe := func(ctx context.Context, b Backend) bool {
			if b.ID != "b000" {
				return true
			}
			probes.Add(1)
			return up.Load()
		}
		const every = 5 * time.Second
		t0 := time.Now()
		p := newPool(t, Config{Health: HealthCheck{Interval: every, Rise: 2, Fall: 3, Probe: probe}}, backends(2)...)
		// A round runs at once, then one per Interval: sleeping to just
		// after round n's time leaves round n done. (Round 0 may run
		// before newPool has added the backends: it may probe none.)
		var base int32
		round := func(n int) {
			t.Helper()
			time.Sleep(time.Until(t0.Add(time.Duration(n)*every + time.Millisecond)))
			synctest.Wait()
			if n == 0 {
				base = probes.Load()
			}
			if got := probes.Load(); got != base+int32(n) {
				t.Fatalf("after round %d: %d probes, want %d", n, got, base+int32(n))
			}
		}
		state := func() State { return p.Stats()[0].State }
		round(0)
		up.Store(false)
		round(1)
		round(2)
		if state() != Healthy {
			t.Fatal("two failed rounds reached Fall=3")
		}
		round(3)
		if state() != Unhealthy {
			t.Fatalf("%v after three failed rounds, want Unhealthy", state())
		}
		if got := pickN(t, p, 10, nil); got["b000"] != 0 {
			t.Fatalf("unhealthy backend picked: %v", got)
		}
		up.Store(true)
		round(4)
		if state() != Unhealthy {
			t.Fatal("one passed round reached Rise=2")
		}
		round(5)
		if state() != Healthy {
			t.Fatalf("%v after two passed rounds, want Healthy", state())
		}
		if got := pickN(t, p, 10, nil); got["b000"] != 5 {
			t.Fatalf("backend back in rotation: %v", got)
		}
		p.Close()
		time.Sleep(time.Hour)
		if got := probes.Load(); got != base+5 {
			t.Fatalf("%d probes after Close, want none", got-base-5)
		}
	})
}

// A probe that hangs is cut at the check's Timeout and counts as failed;
// rounds start an Interval apart, as a ticker's.
func TestHealthProbeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ended []time.Duration
		var mu sync.Mutex
		t0 := time.Now()
		probe := func(ctx context.Context, b Backend) bool {
			<-ctx.Done() // a backend that never answers
			mu.Lock()
			ended = append(ended, time.Since(t0))
			mu.Unlock()
			return false
		}
		p := newPool(t, Config{Health: HealthCheck{Interval: 10 * time.Second, Timeout: 3 * time.Second, Fall: 2, Probe: probe}}, backends(1)...)
		// Rounds start at 0 s (maybe before newPool added the backend),
		// 10 s and 20 s.
		time.Sleep(23*time.Second + time.Millisecond)
		synctest.Wait()
		if st := p.Stats()[0].State; st != Unhealthy {
			t.Fatalf("%v after two hung probes, want Unhealthy", st)
		}
		p.Close()
		mu.Lock()
		defer mu.Unlock()
		if n := len(ended); n < 2 || n > 3 || ended[n-2] != 13*time.Second || ended[n-1] != 23*time.Second || (n == 3 && ended[0] != 3*time.Second) {
			t.Fatalf("probes cut at %v, want [(3s) 13s 23s]", ended)
		}
	})
}
