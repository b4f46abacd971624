package redisbus

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/edgekit/edgekit/internal/redistest"
)

type busEvents struct {
	mu        sync.Mutex
	appended  []AppendEvent
	delivered []DeliverEvent
	resynced  []ResyncEvent
	errors    []ErrorEvent
}

func (be *busEvents) trace() *Trace {
	return &Trace{
		Appended:  func(e AppendEvent) { be.mu.Lock(); be.appended = append(be.appended, e); be.mu.Unlock() },
		Delivered: func(e DeliverEvent) { be.mu.Lock(); be.delivered = append(be.delivered, e); be.mu.Unlock() },
		Resynced:  func(e ResyncEvent) { be.mu.Lock(); be.resynced = append(be.resynced, e); be.mu.Unlock() },
		Error:     func(e ErrorEvent) { be.mu.Lock(); be.errors = append(be.errors, e); be.mu.Unlock() },
	}
}

// TestTraceAppendDeliverResync: a publisher's append reports the entry it
// made, the subscriber's delivery reports the same entry and message with
// a lag; a node cut off while the log was trimmed past it reports its
// resync with the reason (and any failed operation its name and error).
func TestTraceAppendDeliverResync(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	proxy := redistest.NewProxy(t, srv.Addr())
	pub, sub := &busEvents{}, &busEvents{}
	cfg := testConfig()
	cfg.Trace = pub.trace()
	a := newNode(t, srv.Addr(), "a", cfg)
	cfg.Trace = sub.trace()
	cut := newNode(t, proxy.Addr(), "cut", cfg)
	if err := a.bus.Publish(context.Background(), keyMsg("first")); err != nil {
		t.Fatal(err)
	}
	cut.waitUntil(t, "the first purge", hasKeys("first"))
	pub.mu.Lock()
	sub.mu.Lock()
	if len(pub.appended) != 1 || pub.appended[0].ID != "id-first" || pub.appended[0].Entry == "" || pub.appended[0].Err != nil || pub.appended[0].Duration <= 0 {
		t.Errorf("appended %+v", pub.appended)
	}
	if len(sub.delivered) != 1 || len(pub.appended) == 1 && sub.delivered[0].Entry != pub.appended[0].Entry ||
		sub.delivered[0].Message.ID != "id-first" || sub.delivered[0].Lag < 0 {
		t.Errorf("delivered %+v", sub.delivered)
	}
	pub.mu.Unlock()
	sub.mu.Unlock()

	proxy.Cut()
	for i := range 5 {
		if err := a.bus.Publish(context.Background(), keyMsg("t"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.rdb.XTrimMaxLen(context.Background(), a.bus.stream, 1).Err(); err != nil {
		t.Fatal(err)
	}
	proxy.Heal()
	cut.waitUntil(t, "a resync", resynced)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.resynced) != 1 || sub.resynced[0].Why == "" {
		t.Errorf("resynced %+v", sub.resynced)
	}
	for _, e := range sub.errors {
		if e.Err == nil || (e.Op != "read" && e.Op != "sync" && e.Op != "record" && e.Op != "heartbeat") {
			t.Errorf("error event %+v", e)
		}
	}
}
