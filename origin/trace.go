package origin

import (
	"context"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/balancer"
)

// Trace holds functions a Pool calls at events, for metrics and logs, in
// the style of net/http/httptrace.ClientTrace. Any field may be nil; a
// nil *Trace costs a pointer check per request and allocates nothing. The
// functions run synchronously on the goroutine of the event (a request's,
// a health check's, an ejection timer's), possibly on many at once,
// outside the pool's locks: they must be safe for concurrent use, return
// quickly and not block. A Trace must not be changed once given to New.
// Origins are named by Origin.Name.
type Trace struct {
	// AttemptDone is called when an origin answered an attempt (its
	// response head) or the attempt failed.
	AttemptDone func(ctx context.Context, e AttemptEvent)
	// Failover is called when a request moves on to another origin after
	// an attempt failed or answered 502, 503 or 504.
	Failover func(ctx context.Context, e FailoverEvent)
	// OriginEjected is called when an origin is ejected after EjectAfter
	// failures in a row, OriginReadmitted when its ejection ended.
	OriginEjected    func(e EjectEvent)
	OriginReadmitted func(origin string)
	// HealthTransition is called when active health checks mark an
	// origin healthy or unhealthy.
	HealthTransition func(e HealthEvent)
}

// AttemptEvent is one attempt on an origin, for Trace.AttemptDone.
// A plain value, safe for concurrent use while no goroutine changes it.
type AttemptEvent struct {
	Origin string
	// Attempt is 0 for the first.
	Attempt int
	// Status is the origin's (0 with Err); Latency the time to it.
	Status  int
	Latency time.Duration
	Err     error
}

// FailoverEvent is a failover, for Trace.Failover.
// A plain value, safe for concurrent use while no goroutine changes it.
type FailoverEvent struct {
	// From is the origin that failed, To the one tried next; Attempt is
	// the number of the attempt on To (1 for the first failover).
	From, To string
	Attempt  int
	// Err is why From failed.
	Err error
}

// EjectEvent is an ejection, for Trace.OriginEjected.
// A plain value, safe for concurrent use while no goroutine changes it.
type EjectEvent struct {
	Origin    string
	For       time.Duration
	Ejections int
}

// HealthEvent is a health transition, for Trace.HealthTransition.
// A plain value, safe for concurrent use while no goroutine changes it.
type HealthEvent struct {
	Origin  string
	Healthy bool
}

// balancerTrace maps the origins' balancer events to the Pool's trace
// (nil when none is asked for). The balancer's IDs are the origins' URL
// hosts.
func (p *Pool) balancerTrace() *balancer.Trace {
	t := p.cfg.Trace
	if t == nil || (t.OriginEjected == nil && t.OriginReadmitted == nil && t.HealthTransition == nil) {
		return nil
	}
	name := func(id string) string {
		if m := p.byHost[id]; m != nil {
			return m.Name
		}
		return id
	}
	bt := &balancer.Trace{}
	if t.OriginEjected != nil {
		bt.BackendEjected = func(e balancer.EjectEvent) {
			t.OriginEjected(EjectEvent{Origin: name(e.Backend.ID), For: e.For, Ejections: e.Ejections})
		}
	}
	if t.OriginReadmitted != nil {
		bt.BackendReadmitted = func(b balancer.Backend) { t.OriginReadmitted(name(b.ID)) }
	}
	if t.HealthTransition != nil {
		bt.HealthTransition = func(e balancer.HealthEvent) {
			t.HealthTransition(HealthEvent{Origin: name(e.Backend.ID), Healthy: e.Healthy})
		}
	}
	return bt
}

// traceAttempt runs Trace.AttemptDone.
func (p *Pool) traceAttempt(ctx context.Context, m *member, attempt int, resp *http.Response, lat time.Duration, err error) {
	if t := p.cfg.Trace; t.AttemptDone != nil {
		e := AttemptEvent{Origin: m.Name, Attempt: attempt, Latency: lat, Err: err}
		if resp != nil {
			e.Status = resp.StatusCode
		}
		t.AttemptDone(ctx, e)
	}
}
