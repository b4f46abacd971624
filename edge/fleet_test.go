package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/surrogate"
	"github.com/edgekit/edgekit/surrogate/redisbus"
	"github.com/redis/go-redis/v9"
)

// redisBus returns a Bus for node id on the Redis at addr, closed at the
// test's end.
func redisBus(t *testing.T, addr, id string) *redisbus.Bus {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	b, err := redisbus.New(redisbus.Config{Client: rdb, Node: id, Heartbeat: 50 * time.Millisecond,
		Block: 100 * time.Millisecond, Retry: 10 * time.Millisecond, AckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); rdb.Close() })
	return b
}

// waitLive waits until b sees n live members.
func waitLive(t *testing.T, b *redisbus.Bus, n int) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		live, err := b.Live(context.Background())
		if err == nil && len(live) == n {
			return
		}
		if i == 200 {
			t.Fatalf("live members: %v, %v; want %d", live, err, n)
		}
		<-tick.C
	}
}

// Purges through Redis: the purge API answers when every node applied
// it, with the acknowledgement in its JSON, and every node then fetches
// anew. After Redis loses its data, every node serves what it holds stale
// while revalidating (it cannot know what it missed), then resumes.
func TestFleetPurgeThroughRedisAcknowledged(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	fc := clock.NewFake(time.Time{})
	var version atomic.Int32
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", fmt.Sprintf(`"v%d"`, version.Load()))
		w.Header().Set("Surrogate-Key", "sports")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	var nodes []*env
	var buses []*redisbus.Bus
	for i := range 3 {
		id := fmt.Sprint("edge", i)
		buses = append(buses, redisBus(t, srv.Addr(), id))
		nodes = append(nodes, newEnv(t, fc, Config{Name: id, Bus: buses[i]}, o))
	}
	// A node is live from its first heartbeat, once its reader knows
	// where the log stands: wait for all three (Redis is external, so
	// this polls, bounded, at the heartbeat's pace).
	waitLive(t, buses[0], 3)
	for _, n := range nodes {
		n.get("/a")
	}
	version.Store(1)
	r := nodes[0].do(http.MethodPost, "/.edge/purge?key=sports")
	var res PurgeResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
		t.Fatalf("purge API: %d %s", r.status, r.body)
	}
	if res.Fleet == nil || !res.Fleet.Complete || len(res.Fleet.Nodes) != 3 || !strings.Contains(r.body, `"state":"applied"`) {
		t.Fatalf("purge API acknowledgement: %s", r.body)
	}
	for i, n := range nodes {
		if r := n.get("/a"); r.body != "/a v1" || r.xcache != "MISS" {
			t.Fatalf("node %d after the acknowledged purge: %+v", i, r)
		}
	}

	// The publisher below knows the three are live (a Bus remembers the
	// members it saw across a data loss, for one MemberTTL).
	if live, err := buses[1].Live(context.Background()); err != nil || len(live) != 3 {
		t.Fatalf("live before the restart: %v %v", live, err)
	}
	srv.Restart() // no persistence: the purge log is gone
	version.Store(2)
	// Acknowledged by all in the new log: each node has resynced first.
	res2, err := nodes[1].node.Purge(context.Background(), PurgeRequest{Keys: []string{"unrelated"}})
	if err != nil || res2.Fleet == nil || !res2.Fleet.Complete {
		t.Fatalf("purge after the restart: %+v %v", res2, err)
	}
	for i, n := range nodes {
		if r := n.get("/a"); r.body != "/a v1" || r.xcache != "STALE" {
			t.Fatalf("node %d after Redis lost the log: %+v, want the stored copy served stale; ack %+v; stats %+v", i, r, res2.Fleet, buses[i].Stats())
		}
		n.node.waitIdle()
		if r := n.get("/a"); r.body != "/a v2" || r.xcache != "HIT" {
			t.Fatalf("node %d after revalidation: %+v", i, r)
		}
	}
}

// syncBus is a LocalBus whose LastSync the test sets.
type syncBus struct {
	*surrogate.LocalBus
	last atomic.Int64
}

func (b *syncBus) LastSync() time.Time {
	if n := b.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// RevalidateUnsynced: a node out of touch with the purge bus for longer
// than the bound serves stored objects only after the origin validates
// them (RFC 9111 §4.3.1 conditional request, as for a request's no-cache,
// §5.2.1.4).
func TestRevalidateUnsynced(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var validations atomic.Int32
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Etag", `"1"`)
		if r.Header.Get("If-None-Match") == `"1"` {
			validations.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("body"))
	})
	bus := &syncBus{LocalBus: &surrogate.LocalBus{}}
	defer bus.Close()
	bus.last.Store(fc.Now().UnixNano())
	e := newEnv(t, fc, Config{Bus: bus, RevalidateUnsynced: 10 * time.Second}, o)
	e.get("/x")
	if r := e.get("/x"); r.xcache != "HIT" {
		t.Fatalf("in sync: %+v", r)
	}
	fc.Advance(11 * time.Second) // no sync confirmed for 11 s
	if r := e.get("/x"); r.xcache != "REVALIDATED" || r.body != "body" || validations.Load() != 1 {
		t.Fatalf("out of sync: %+v, %d validations", r, validations.Load())
	}
	bus.last.Store(fc.Now().UnixNano())
	if r := e.get("/x"); r.xcache != "HIT" {
		t.Fatalf("in sync again: %+v", r)
	}
}
