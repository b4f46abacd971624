package origin

import (
	"testing"
	"testing/synctest"
	"time"
)

// Health.Interval starts package balancer's health loop for the origins:
// Fall failed rounds take an origin out, Rise passed rounds bring it back,
// each round an Interval after the last (fake time; the origins are real
// loopback servers outside the bubble, which only wait for their answers).
func TestHealthLoopOnInterval(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	synctest.Test(t, func(t *testing.T) {
		const every = 10 * time.Second
		t0 := time.Now()
		p := newPool(t, Config{Origins: []Origin{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL, Priority: 1}},
			Health: HealthCheck{Interval: every, Rise: 2, Fall: 2}})
		after := func(round int) State {
			time.Sleep(time.Until(t0.Add(time.Duration(round)*every + time.Millisecond)))
			synctest.Wait()
			return p.Stats()[0].State
		}
		if st := after(0); st != Healthy {
			t.Fatalf("round 0: %v", st)
		}
		a.status.Store(503)
		if st := after(1); st != Healthy {
			t.Fatalf("one failed round reached Fall=2: %v", st)
		}
		if st := after(2); st != Unhealthy {
			t.Fatalf("two failed rounds: %v, want Unhealthy", st)
		}
		a.status.Store(200)
		if st := after(3); st != Unhealthy {
			t.Fatalf("one passed round reached Rise=2: %v", st)
		}
		if st := after(4); st != Healthy {
			t.Fatalf("two passed rounds: %v, want Healthy", st)
		}
		p.Close()
	})
}
