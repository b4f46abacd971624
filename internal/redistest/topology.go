package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pollEvery and pollLimit bound the waits for state that Redis reaches
// on its own (replication links, a Sentinel's view, cluster gossip): an
// external process gives no notification to wait on, so these poll, at
// most pollLimit/pollEvery times.
const (
	pollEvery = 50 * time.Millisecond
	pollLimit = 20 * time.Second
)

// poll calls ok every pollEvery until it reports true, failing t after
// pollLimit with what ok last said.
func poll(t testing.TB, what string, ok func(ctx context.Context) (bool, string)) {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	last := ""
	for range int(pollLimit / pollEvery) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		done, said := ok(ctx)
		cancel()
		if done {
			return
		}
		last = said
		<-tick.C
	}
	t.Fatalf("redistest: %s not reached within %v; last: %s", what, pollLimit, last)
}

// client returns a plain client to addr, closed at t's cleanup.
func client(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// Sentinel is a Redis Sentinel deployment for a test: a master, its
// replicas and one sentinel (quorum 1) watching them, all on loopback. Its
// methods are not safe for concurrent use.
type Sentinel struct {
	// Name is the master's name ("mymaster") that clients ask the
	// sentinel for.
	Name string
	// Servers are the data servers; Servers[0] is the first master.
	Servers []*Server
	t       testing.TB
	bin     string
	dir     string
	port    int
	stop    func() // kills the sentinel and waits
}

// StartSentinel starts a master with replicas replicas, waits until they
// replicate, then a sentinel that watches them (down after 500 ms,
// quorum 1) and knows every replica, so that it can fail over at once.
// Everything stops at t's cleanup. It skips t as Start does when
// redis-server is missing (redis-server --sentinel is the sentinel).
func StartSentinel(t testing.TB, replicas int) *Sentinel {
	t.Helper()
	master := Start(t, Options{})
	s := &Sentinel{Name: "mymaster", Servers: []*Server{master}, t: t, bin: master.bin, dir: t.TempDir()}
	for range replicas {
		s.Servers = append(s.Servers, Start(t, Options{ReplicaOf: master.Addr()}))
	}
	for _, r := range s.Servers[1:] {
		c := client(t, r.Addr())
		poll(t, "replication link of "+r.Addr(), func(ctx context.Context) (bool, string) {
			info, err := c.Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up"), fmt.Sprint(info, err)
		})
	}
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %[3]s 500\nsentinel failover-timeout %[3]s 3000\n",
			s.port, s.dir, s.Name, master.port)
		file := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd, done, err := launch(s.bin, s.dir, []string{file, "--sentinel"}, "+monitor master")
		if err == nil {
			s.stop = func() { cmd.Process.Kill(); <-done }
			break
		}
		if attempt == 4 {
			t.Fatalf("redistest: sentinel: %v", err)
		}
	}
	t.Cleanup(s.stop)
	// The sentinel learns the replicas from the master's INFO and must
	// have talked to each before it can promote one.
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
	t.Cleanup(func() { sc.Close() })
	poll(t, "the sentinel's view of the replicas", func(ctx context.Context) (bool, string) {
		reps, err := sc.Replicas(ctx, s.Name).Result()
		if err != nil || len(reps) != replicas {
			return false, fmt.Sprint(reps, err)
		}
		for _, r := range reps {
			if f := r["flags"]; f != "slave" || r["master-link-status"] != "ok" {
				return false, fmt.Sprint(reps)
			}
		}
		return true, ""
	})
	return s
}

// Addr returns the sentinel's address.
func (s *Sentinel) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Master asks the sentinel for the current master's address.
func (s *Sentinel) Master(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(ctx, s.Name).Result()
	if err != nil {
		return "", err
	}
	if len(a) != 2 {
		return "", fmt.Errorf("redistest: sentinel answered %q", a)
	}
	return a[0] + ":" + a[1], nil
}

// WaitMaster waits until the sentinel names a master other than old, and
// that server answers as a master; it returns its address.
func (s *Sentinel) WaitMaster(old string) string {
	s.t.Helper()
	var addr string
	poll(s.t, "a new master", func(ctx context.Context) (bool, string) {
		a, err := s.Master(ctx)
		if err != nil || a == old {
			return false, fmt.Sprint(a, err)
		}
		c := redis.NewClient(&redis.Options{Addr: a, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		addr = a
		return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(info, err)
	})
	return addr
}

// Cluster is a Redis Cluster for a test: masters only, the 16384 slots
// split evenly among them, on loopback. Its methods are not safe for
// concurrent use.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts masters cluster-enabled servers, assigns each an
// even share of the slots, introduces them (CLUSTER MEET) and waits until
// every one reports the cluster ok and knows the others. Everything stops
// at t's cleanup; it skips t as Start does.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 1 {
		t.Fatal("redistest: a cluster needs a master")
	}
	c := &Cluster{}
	for range masters {
		c.Servers = append(c.Servers, Start(t, Options{cluster: true}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), pollLimit)
	defer cancel()
	const slots = 16384
	var clients []*redis.Client
	for i, s := range c.Servers {
		cl := client(t, s.Addr())
		clients = append(clients, cl)
		lo, hi := i*slots/masters, (i+1)*slots/masters-1
		if err := cl.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster addslots on %s: %v", s.Addr(), err)
		}
		if i > 0 {
			// The bus port is not port+10000 here: say it (Redis 7).
			if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", s.port, s.bus).Err(); err != nil {
				t.Fatalf("redistest: cluster meet %s: %v", s.Addr(), err)
			}
		}
	}
	for _, cl := range clients {
		poll(t, "cluster state ok", func(ctx context.Context) (bool, string) {
			info, err := cl.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)+"\r"), fmt.Sprint(info, err)
		})
	}
	return c
}

// Addrs returns the servers' addresses, for a ClusterClient's Addrs.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.Servers {
		out = append(out, s.Addr())
	}
	return out
}
