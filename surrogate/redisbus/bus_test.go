package redisbus

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/surrogate"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait in these tests; waits end on
// notifications, not on time.
const waitLimit = 15 * time.Second

// testConfig is fast: heartbeats every 50 ms, members expire after
// 250 ms, reads block 100 ms.
func testConfig() Config {
	return Config{Heartbeat: 50 * time.Millisecond, MemberTTL: 250 * time.Millisecond,
		Block: 100 * time.Millisecond, Retry: 10 * time.Millisecond, AckTimeout: 5 * time.Second}
}

// node is a subscribed Bus that records what it receives.
type node struct {
	id    string
	rdb   redis.UniversalClient
	bus   *Bus
	unsub func()

	mu     sync.Mutex
	got    []surrogate.Message
	notify chan struct{}
	gate   chan struct{} // if set, each delivery waits for it (a slow node)
}

func newClient(t testing.TB, addr string) redis.UniversalClient {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr},
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func newNode(t testing.TB, addr, id string, cfg Config) *node {
	t.Helper()
	return newNodeClient(t, newClient(t, addr), id, cfg)
}

// newNodeClient is newNode over a client of the caller's (Sentinel,
// Cluster).
func newNodeClient(t testing.TB, rdb redis.UniversalClient, id string, cfg Config) *node {
	t.Helper()
	n := &node{id: id, rdb: rdb, notify: make(chan struct{}, 1)}
	cfg.Client, cfg.Node = n.rdb, id
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.bus = b
	t.Cleanup(func() { b.Close() })
	n.unsub, err = b.Subscribe(context.Background(), n.receive)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) receive(m surrogate.Message) {
	n.mu.Lock()
	gate := n.gate
	n.mu.Unlock()
	if gate != nil {
		<-gate
	}
	n.mu.Lock()
	n.got = append(n.got, m)
	n.mu.Unlock()
	select {
	case n.notify <- struct{}{}:
	default:
	}
}

func (n *node) messages() []surrogate.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]surrogate.Message(nil), n.got...)
}

// waitUntil waits for n to have received messages satisfying ok.
func (n *node) waitUntil(t testing.TB, what string, ok func([]surrogate.Message) bool) []surrogate.Message {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		if got := n.messages(); ok(got) {
			return got
		}
		select {
		case <-n.notify:
		case <-timer.C:
			t.Fatalf("%s: %s not seen within %v; got %d messages", n.id, what, waitLimit, len(n.messages()))
		}
	}
}

func keyMsg(key string) surrogate.Message {
	return surrogate.Message{ID: "id-" + key, Node: "test", Keys: []string{key}, Mode: surrogate.Hard}
}

func hasKeys(keys ...string) func([]surrogate.Message) bool {
	return func(got []surrogate.Message) bool {
		seen := map[string]bool{}
		for _, m := range got {
			for _, k := range m.Keys {
				seen[k] = true
			}
		}
		for _, k := range keys {
			if !seen[k] {
				return false
			}
		}
		return true
	}
}

func resynced(got []surrogate.Message) bool {
	for _, m := range got {
		if m.All && m.Mode == surrogate.Soft && m.Node == "" {
			return true
		}
	}
	return false
}

func states(a surrogate.Ack) map[string]surrogate.AckState {
	out := map[string]surrogate.AckState{}
	for _, n := range a.Nodes {
		out[n.Node] = n.State
	}
	return out
}

func TestAcknowledgedPurgeReachesEveryNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	nodes := []*node{newNode(t, srv.Addr(), "a", cfg), newNode(t, srv.Addr(), "b", cfg), newNode(t, srv.Addr(), "c", cfg)}
	ack, err := nodes[0].bus.PublishAck(context.Background(), keyMsg("sports"))
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Complete || len(ack.Nodes) != 3 {
		t.Fatalf("ack = %+v, want complete over 3 nodes", ack)
	}
	for _, n := range nodes {
		if s := states(ack)[n.id]; s != surrogate.AckApplied {
			t.Errorf("%s: %v, want applied", n.id, s)
		}
		// Applied means delivered: the record follows fn.
		if got := n.messages(); len(got) != 1 || got[0].Keys[0] != "sports" || got[0].ID != "id-sports" {
			t.Errorf("%s got %+v", n.id, got)
		}
	}
	// Total order: every node sees the same sequence.
	for i := range 20 {
		if err := nodes[i%3].bus.Publish(context.Background(), keyMsg("k"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i, n := range nodes {
		got := n.waitUntil(t, "20 purges", func(m []surrogate.Message) bool { return len(m) == 21 })
		var order []string
		for _, m := range got {
			order = append(order, m.Keys[0])
		}
		if i == 0 {
			want = order
		} else if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Errorf("%s order %v, a's %v", n.id, order, want)
		}
	}
}

// A slow node holds the acknowledgement until the deadline and is
// reported lagging; the others applied.
func TestSlowNodeHoldsAckUntilDeadline(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	cfg.AckTimeout = 400 * time.Millisecond
	a, slow := newNode(t, srv.Addr(), "a", cfg), newNode(t, srv.Addr(), "slow", cfg)
	gate := make(chan struct{})
	slow.mu.Lock()
	slow.gate = gate
	slow.mu.Unlock()
	start := time.Now()
	ack, err := a.bus.PublishAck(context.Background(), keyMsg("k"))
	took := time.Since(start)
	close(gate)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Complete || took < cfg.AckTimeout {
		t.Fatalf("ack complete=%v after %v, want incomplete at the %v deadline", ack.Complete, took, cfg.AckTimeout)
	}
	if st := states(ack); st["a"] != surrogate.AckApplied || st["slow"] != surrogate.AckLagging {
		t.Fatalf("states %v, want a applied, slow lagging", st)
	}
	slow.waitUntil(t, "the purge", hasKeys("k"))
}

// A node cut off from Redis misses nothing: it catches up from its last
// applied entry when the connection heals (0 purges lost), and while cut
// off it is reported unreachable.
func TestPartitionedNodeCatchesUp(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	proxy := redistest.NewProxy(t, srv.Addr())
	cfg := testConfig()
	cfg.AckTimeout = 300 * time.Millisecond
	a := newNode(t, srv.Addr(), "a", cfg)
	cut := newNode(t, proxy.Addr(), "cut", cfg)
	proxy.Cut()
	var keys []string
	for i := range 50 {
		keys = append(keys, "p"+strconv.Itoa(i))
		if i == 0 {
			ack, err := a.bus.PublishAck(context.Background(), keyMsg(keys[0]))
			if err != nil {
				t.Fatal(err)
			}
			if st := states(ack)["cut"]; ack.Complete || st != surrogate.AckUnreachable {
				t.Fatalf("partitioned node: %v (complete %v), want unreachable", st, ack.Complete)
			}
			continue
		}
		if err := a.bus.Publish(context.Background(), keyMsg(keys[i])); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Heal()
	got := cut.waitUntil(t, "all 50 purges", hasKeys(keys...))
	if resynced(got) || cut.bus.Stats().Resyncs != 0 {
		t.Fatalf("the node resynced; it should have caught up from its cursor")
	}
	for i, m := range got {
		if m.Keys[0] != keys[i] {
			t.Fatalf("purge %d is %q, want %q (order)", i, m.Keys[0], keys[i])
		}
	}
	// Back in the live set, acknowledging again.
	ack, err := a.bus.PublishAck(context.Background(), keyMsg("after"))
	if err != nil || !ack.Complete {
		t.Fatalf("after healing: %+v, %v", ack, err)
	}
}

// Redis killed mid-purge and restarted without persistence: the nodes
// cannot know what they missed, mark everything stale, and resume; the
// acknowledgement in flight completes (applied or resynced).
func TestRedisRestartMidPurgeResyncs(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	a, slow := newNode(t, srv.Addr(), "a", cfg), newNode(t, srv.Addr(), "slow", cfg)
	gate := make(chan struct{})
	slow.mu.Lock()
	slow.gate = gate
	slow.mu.Unlock()
	type result struct {
		ack surrogate.Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		ack, err := a.bus.PublishAck(context.Background(), keyMsg("mid"))
		done <- result{ack, err}
	}()
	a.waitUntil(t, "the purge", hasKeys("mid")) // published; slow holds it
	srv.Kill()
	srv.Restart()
	slow.mu.Lock()
	slow.gate = nil
	slow.mu.Unlock()
	close(gate)
	for _, n := range []*node{a, slow} {
		n.waitUntil(t, "a resync (soft purge of all)", resynced)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, n := range r.ack.Nodes {
		if n.State != surrogate.AckApplied && n.State != surrogate.AckResynced {
			t.Errorf("%s: %v, want applied or resynced", n.Node, n.State)
		}
	}
	if !r.ack.Complete {
		t.Errorf("ack %+v incomplete", r.ack)
	}
	// Resumed: a new purge is acknowledged by both.
	ack, err := slow.bus.PublishAck(context.Background(), keyMsg("after"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 2 {
		t.Fatalf("after the restart: %+v, %v", ack, err)
	}
	a.waitUntil(t, "the purge after", hasKeys("after"))
}

// A node whose cursor was trimmed away while it was cut off cannot know
// what it missed: it marks everything stale and resumes.
func TestTrimmedPastCursorResyncs(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	proxy := redistest.NewProxy(t, srv.Addr())
	cfg := testConfig()
	a := newNode(t, srv.Addr(), "a", cfg)
	cut := newNode(t, proxy.Addr(), "cut", cfg)
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
	if err := a.bus.Publish(context.Background(), keyMsg("next")); err != nil {
		t.Fatal(err)
	}
	got := cut.waitUntil(t, "the next purge", hasKeys("next"))
	if hasKeys("t0")(got) {
		t.Errorf("a trimmed purge was delivered: %+v", got)
	}
}

// A malformed or foreign entry is logged and skipped, never fatal.
func TestMalformedEntrySkipped(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	a := newNode(t, srv.Addr(), "a", cfg)
	ctx := context.Background()
	if err := a.rdb.XAdd(ctx, &redis.XAddArgs{Stream: a.bus.stream, Values: []string{"foo", "bar"}}).Err(); err != nil {
		t.Fatal(err)
	}
	// In sequence, but not a purge.
	bad := []any{int64(100), "r", fVersion, version, fID, "x", fMode, "medium", fKeys, "3:abc"}
	if err := appendScript.Run(ctx, a.rdb, []string{a.bus.stream, a.bus.meta}, bad...).Err(); err != nil {
		t.Fatal(err)
	}
	bad = []any{int64(100), "r", fVersion, version, fID, "y", fMode, "hard", fKeys, "9:abc"}
	if err := appendScript.Run(ctx, a.rdb, []string{a.bus.stream, a.bus.meta}, bad...).Err(); err != nil {
		t.Fatal(err)
	}
	ack, err := a.bus.PublishAck(ctx, keyMsg("good"))
	if err != nil || !ack.Complete {
		t.Fatalf("%+v, %v", ack, err)
	}
	got := a.messages()
	if len(got) != 1 || got[0].Keys[0] != "good" || resynced(got) {
		t.Fatalf("got %+v, want the one good purge", got)
	}
	if s := a.bus.Stats().Skipped; s != 3 {
		t.Errorf("Skipped = %d, want 3", s)
	}
}

// Membership: a node joining is waited for, a node leaving is not, and a
// node that stops heartbeating leaves the live set within MemberTTL, all
// while purges flow.
func TestMembershipJoinAndLeaveUnderLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	proxy := redistest.NewProxy(t, srv.Addr())
	cfg := testConfig()
	a, b := newNode(t, srv.Addr(), "a", cfg), newNode(t, proxy.Addr(), "b", cfg)
	ctx := context.Background()

	stop := make(chan struct{})
	loadDone := make(chan int)
	go func() { // load: purges from a until stopped
		i := 0
		defer func() { loadDone <- i }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := a.bus.Publish(ctx, keyMsg("load"+strconv.Itoa(i))); err != nil {
				t.Error(err)
				return
			}
			i++
		}
	}()

	c := newNode(t, srv.Addr(), "c", cfg)
	ack, err := a.bus.PublishAck(ctx, keyMsg("joined"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 3 {
		t.Fatalf("after c joined: %+v, %v", ack, err)
	}
	c.unsub()
	ack, err = a.bus.PublishAck(ctx, keyMsg("left"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 2 {
		t.Fatalf("after c left: %+v, %v", ack, err)
	}
	// b stops heartbeating (cut off); Redis is external, so this polls
	// the live set, bounded in count, at the heartbeat's pace.
	proxy.Cut()
	tick := time.NewTicker(cfg.Heartbeat)
	defer tick.Stop()
	gone := false
	for range 100 {
		live, err := a.bus.Live(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) == 1 && live[0].ID == "a" {
			gone = true
			break
		}
		<-tick.C
	}
	if !gone {
		t.Fatal("b did not leave the live set")
	}
	close(stop)
	n := <-loadDone
	ack, err = a.bus.PublishAck(ctx, keyMsg("alone"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 1 {
		t.Fatalf("after b expired: %+v, %v", ack, err)
	}
	proxy.Heal()
	var all []string
	for i := range n {
		all = append(all, "load"+strconv.Itoa(i))
	}
	b.waitUntil(t, "every purge of the load", hasKeys(append(all, "alone")...))
	a.waitUntil(t, "every purge of the load", hasKeys(all...))
}

// A static member list: a listed node that never heartbeats is
// unreachable.
func TestStaticMembers(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	cfg.AckTimeout = 200 * time.Millisecond
	cfg.Members = surrogate.StaticMembers{{ID: "a"}, {ID: "ghost"}}
	a := newNode(t, srv.Addr(), "a", cfg)
	ack, err := a.bus.PublishAck(context.Background(), keyMsg("k"))
	if err != nil {
		t.Fatal(err)
	}
	if st := states(ack); ack.Complete || st["a"] != surrogate.AckApplied || st["ghost"] != surrogate.AckUnreachable {
		t.Fatalf("%+v", ack)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no client accepted")
	}
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	if _, err := New(Config{Client: rdb, Node: "a b"}); err == nil {
		t.Error("node with a space accepted")
	}
	b, err := New(Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(context.Background(), func(surrogate.Message) {}); err == nil {
		t.Error("subscribe without Node accepted")
	}
}
