package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/surrogate"
	"github.com/redis/go-redis/v9"
)

// publishRetrying publishes m, retrying while Redis is unavailable (a
// failover), bounded by waitLimit. A purge whose Publish failed was not
// acknowledged to anyone, so retrying it is what a caller does.
func publishRetrying(t *testing.T, b *Bus, m surrogate.Message) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := b.Publish(context.Background(), m)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %v: %v", m.Keys, err)
		}
		<-tick.C
	}
}

// Through Redis Sentinel (go-redis's failover client, MasterName): a
// purge is acknowledged by every node; the master is killed while an
// acknowledged purge waits for a slow node and while purges keep coming;
// the sentinel promotes a replica and nothing is lost (Config.WaitReplicas:
// a publish returns once a replica holds the purge): every node
// applies every purge published after the failover in order, and each
// purge from before it, or marks everything stale (resync) when the new
// master's log is not the one it was reading.
func TestSentinelFailoverMidPurgeLosesNothing(t *testing.T) {
	// Two replicas: after the failover one still replicates from the new
	// master, so purges keep waiting for a replica.
	s := redistest.StartSentinel(t, 2)
	first := s.Servers[0].Addr()
	cfg := testConfig()
	cfg.AckTimeout = 10 * time.Second
	// Without it a purge the old master had not yet replicated is lost
	// by the failover: this test saw "e9" lost on a loaded machine.
	cfg.WaitReplicas = 1
	var nodes []*node
	for _, id := range []string{"a", "b", "slow"} {
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.Addr()}, MasterName: s.Name,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
		t.Cleanup(func() { rdb.Close() })
		if _, ok := rdb.(*redis.Client); !ok {
			t.Fatalf("client %T, want a failover client", rdb)
		}
		nodes = append(nodes, newNodeClient(t, rdb, id, cfg))
	}
	a, slow := nodes[0], nodes[2]
	ack, err := a.bus.PublishAck(context.Background(), keyMsg("before"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 3 {
		t.Fatalf("through the sentinel: %+v, %v", ack, err)
	}

	// Mid-purge: an acknowledged purge waits for the slow node, and ten
	// more are published, when the master dies.
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
	a.waitUntil(t, "the purge", hasKeys("mid"))
	var early []string
	for i := range 10 {
		early = append(early, "e"+strconv.Itoa(i))
		publishRetrying(t, a.bus, keyMsg(early[i]))
	}
	s.Servers[0].Kill()
	slow.mu.Lock()
	slow.gate = nil
	slow.mu.Unlock()
	close(gate)
	promoted := s.WaitMaster(first)
	if promoted == first {
		t.Fatalf("no failover: master still %s", first)
	}

	var late []string
	for i := range 20 {
		late = append(late, "l"+strconv.Itoa(i))
		publishRetrying(t, nodes[i%3].bus, keyMsg(late[i]))
	}
	for _, n := range nodes {
		got := n.waitUntil(t, "every purge after the failover", hasKeys(late...))
		if !resynced(got) && !hasKeys(append([]string{"mid"}, early...)...)(got) {
			t.Errorf("%s: lost a purge from before the failover and did not resync: %v", n.id, keysOf(got))
		}
		var order []string
		for _, m := range got {
			if len(m.Keys) == 1 && m.Keys[0][0] == 'l' {
				order = append(order, m.Keys[0])
			}
		}
		if fmt.Sprint(order) != fmt.Sprint(late) {
			t.Errorf("%s: purges after the failover in order %v, want %v", n.id, order, late)
		}
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("the acknowledgement in flight: %v", r.err)
	}
	t.Logf("failover %s -> %s; in flight: %v; resyncs a %d, b %d, slow %d", first, promoted, states(r.ack),
		nodes[0].bus.Stats().Resyncs, nodes[1].bus.Stats().Resyncs, nodes[2].bus.Stats().Resyncs)
	for _, n := range r.ack.Nodes {
		if n.State != surrogate.AckApplied && n.State != surrogate.AckResynced {
			t.Errorf("in flight through the failover, %s: %v, want applied or resynced", n.Node, n.State)
		}
	}
	// The outage outlasted MemberTTL: the first heartbeat on the new
	// master expires the others, and the live set is whole again once
	// each has re-announced (within a heartbeat). Redis is external, so
	// this polls the live set, bounded in count, at the heartbeat's pace.
	tick := time.NewTicker(cfg.Heartbeat)
	defer tick.Stop()
	for i := 0; ; i++ {
		live, err := slow.bus.Live(context.Background())
		if err == nil && len(live) == 3 {
			break
		}
		if i == 100 {
			t.Fatalf("live set after the failover: %v, %v", live, err)
		}
		<-tick.C
	}
	ack, err = slow.bus.PublishAck(context.Background(), keyMsg("after"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 3 {
		t.Fatalf("after the failover to %s: %+v, %v", promoted, ack, err)
	}
	for _, n := range ack.Nodes {
		if n.State != surrogate.AckApplied {
			t.Errorf("after the failover, %s: %v", n.Node, n.State)
		}
	}
}

func keysOf(ms []surrogate.Message) []string {
	var out []string
	for _, m := range ms {
		if m.All {
			out = append(out, "ALL/"+m.Mode.String())
		}
		out = append(out, m.Keys...)
	}
	return out
}

// Through a Redis Cluster of three masters (go-redis's cluster client):
// the fleet's keys share one hash tag, so the scripts run on one slot; a
// purge is acknowledged by every node, and purges reach every node in
// one order.
func TestClusterAcknowledgedPurge(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	cfg := testConfig()
	var nodes []*node
	for _, id := range []string{"a", "b", "c"} {
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: c.Addrs(),
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
		t.Cleanup(func() { rdb.Close() })
		if _, ok := rdb.(*redis.ClusterClient); !ok {
			t.Fatalf("client %T, want a cluster client", rdb)
		}
		nodes = append(nodes, newNodeClient(t, rdb, id, cfg))
	}
	ack, err := nodes[1].bus.PublishAck(context.Background(), keyMsg("sports"))
	if err != nil || !ack.Complete || len(ack.Nodes) != 3 {
		t.Fatalf("through the cluster: %+v, %v", ack, err)
	}
	for _, n := range ack.Nodes {
		if n.State != surrogate.AckApplied {
			t.Errorf("%s: %v", n.Node, n.State)
		}
	}
	var want []string
	for i := range 20 {
		want = append(want, "k"+strconv.Itoa(i))
		if err := nodes[i%3].bus.Publish(context.Background(), keyMsg(want[i])); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		got := n.waitUntil(t, "20 purges", func(m []surrogate.Message) bool { return len(m) == 21 })
		if order := keysOf(got[1:]); fmt.Sprint(order) != fmt.Sprint(want) {
			t.Errorf("%s: order %v, want %v", n.id, order, want)
		}
	}
	// The log lives on the master that owns the {fleet} slot, and only
	// there.
	cc := nodes[0].rdb.(*redis.ClusterClient)
	owner, err := cc.MasterForKey(context.Background(), nodes[0].bus.stream)
	if err != nil {
		t.Fatal(err)
	}
	holders := 0
	for _, addr := range c.Addrs() {
		cl := redis.NewClient(&redis.Options{Addr: addr})
		n, err := cl.Exists(context.Background(), nodes[0].bus.stream).Result()
		cl.Close()
		if err != nil && !strings.HasPrefix(err.Error(), "MOVED ") {
			t.Fatal(err)
		}
		if n == 1 {
			holders++
			if addr != owner.Options().Addr {
				t.Errorf("the log is on %s, its slot's master is %s", addr, owner.Options().Addr)
			}
		}
	}
	if holders != 1 {
		t.Errorf("the log is on %d masters, want 1", holders)
	}
}

// WaitReplicas: a server without replicas cannot hold a purge on a
// second machine, so Publish says so (ErrNotReplicated) after the wait,
// the purge being in the log all the same; a Cluster client is refused
// (WAIT has no key to route by).
func TestWaitReplicasWithoutReplica(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	cfg := testConfig()
	cfg.AckTimeout, cfg.WaitReplicas = 100*time.Millisecond, 1
	a := newNode(t, srv.Addr(), "a", cfg)
	err := a.bus.Publish(context.Background(), keyMsg("k"))
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("Publish without a replica: %v, want ErrNotReplicated", err)
	}
	a.waitUntil(t, "the purge, in the log all the same", hasKeys("k"))
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr()}})
	defer cc.Close()
	if _, err := New(Config{Client: cc, WaitReplicas: 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("WaitReplicas with a Cluster client: %v", err)
	}
}
