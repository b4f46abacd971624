package surrogate

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestTracePublishedApplied: a purge is reported applied on the node
// that made it (not remote) and published to the Bus, and applied on
// another node as remote, with its origin and what it removed there.
func TestTracePublishedApplied(t *testing.T) {
	bus := &LocalBus{}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	applied := map[string][]ApplyInfo{}
	var published []PublishInfo
	var purgers []*Purger
	for _, name := range []string{"a", "b"} {
		ix := &Index{}
		tg := newFakeTarget("/x", "/y")
		ix.Set("/x", []string{"k"})
		ix.Set("/y", []string{"k"})
		p, err := NewPurger(PurgerConfig{Index: ix, Target: tg, Bus: bus, Node: name, Trace: &Trace{
			Applied:   func(e ApplyInfo) { mu.Lock(); applied[name] = append(applied[name], e); mu.Unlock() },
			Published: func(e PublishInfo) { mu.Lock(); published = append(published, e); mu.Unlock() },
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		purgers = append(purgers, p)
	}
	if _, err := purgers[0].Purge(ctx, Soft, "k"); err != nil {
		t.Fatal(err)
	}
	if err := bus.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	a, b := applied["a"], applied["b"]
	if len(a) != 1 || a[0].Remote || a[0].From != "a" || a[0].Objects != 2 || a[0].Keys != 1 || a[0].Mode != Soft {
		t.Errorf("applied on a: %+v", a)
	}
	if len(b) != 1 || !b[0].Remote || b[0].From != "a" || b[0].Objects != 2 || len(a) == 1 && b[0].ID != a[0].ID {
		t.Errorf("applied on b: %+v", b)
	}
	if len(published) != 1 || published[0].Err != nil || published[0].Keys != 1 || len(a) == 1 && published[0].ID != a[0].ID {
		t.Errorf("published %+v", published)
	}
}
