package origin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// TestTraceFailoverAndEjection: the primary answers 503, so the request
// fails over to the secondary; the trace reports both attempts, the
// failover with its cause, the primary's ejection (EjectAfter 1) and,
// once the ejection has ended, its re-admission.
func TestTraceFailoverAndEjection(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	a, b := newServer(t, "a"), newServer(t, "b")
	a.status.Store(503)
	var mu sync.Mutex
	var attempts []AttemptEvent
	var failovers []FailoverEvent
	var ejected []EjectEvent
	var readmitted []string
	p := newPool(t, Config{Now: fc.Now, EjectAfter: 1, EjectBase: 10 * time.Second,
		Origins: []Origin{{Name: "primary", URL: a.URL, Priority: 0}, {Name: "secondary", URL: b.URL, Priority: 1}},
		Trace: &Trace{
			AttemptDone:      func(ctx context.Context, e AttemptEvent) { mu.Lock(); attempts = append(attempts, e); mu.Unlock() },
			Failover:         func(ctx context.Context, e FailoverEvent) { mu.Lock(); failovers = append(failovers, e); mu.Unlock() },
			OriginEjected:    func(e EjectEvent) { mu.Lock(); ejected = append(ejected, e); mu.Unlock() },
			OriginReadmitted: func(o string) { mu.Lock(); readmitted = append(readmitted, o); mu.Unlock() },
		}})
	if body, resp := get(t, p, "/x"); resp.StatusCode != 200 || body != "b /x" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	if len(attempts) != 2 || attempts[0].Origin != "primary" || attempts[0].Status != 503 || attempts[0].Attempt != 0 ||
		attempts[1].Origin != "secondary" || attempts[1].Status != 200 || attempts[1].Attempt != 1 || attempts[1].Err != nil {
		t.Errorf("attempts %+v", attempts)
	}
	if len(failovers) != 1 || failovers[0].From != "primary" || failovers[0].To != "secondary" || failovers[0].Attempt != 1 || failovers[0].Err == nil {
		t.Errorf("failovers %+v", failovers)
	}
	if len(ejected) != 1 || ejected[0].Origin != "primary" || ejected[0].For != 10*time.Second || ejected[0].Ejections != 1 {
		t.Errorf("ejections %+v", ejected)
	}
	mu.Unlock()
	a.status.Store(200)
	fc.Advance(10 * time.Second)
	get(t, p, "/y")
	mu.Lock()
	defer mu.Unlock()
	if len(readmitted) != 1 || readmitted[0] != "primary" {
		t.Errorf("re-admissions %v", readmitted)
	}
}
