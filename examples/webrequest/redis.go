package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/edgekit/edgekit/surrogate"
	"github.com/edgekit/edgekit/surrogate/redisbus"
	"github.com/redis/go-redis/v9"
)

// purgeBuses carry purges between the edges: by default one in-process
// surrogate.LocalBus they share (no Redis needed), or with -redis one
// redisbus.Bus per edge, each with a client of its own as separate
// machines would have, in a fleet named for this run. Then a purge
// returns once every edge has applied it (the acknowledgement the
// summary prints). Not safe for concurrent use; the journey builds and
// closes it.
type purgeBuses struct {
	local   *surrogate.LocalBus
	redis   []*redisbus.Bus
	clients []redis.UniversalClient
}

// newPurgeBuses returns the buses of n edges; addr is -redis (empty for
// the in-process bus): host:port, several comma-separated (a Cluster),
// or a redis:// or rediss:// URL; REDIS_USERNAME and REDIS_PASSWORD set
// the ACL user and AUTH.
func newPurgeBuses(addr string, n int) (*purgeBuses, error) {
	p := &purgeBuses{}
	if addr == "" {
		p.local = &surrogate.LocalBus{}
		return p, nil
	}
	var opts redis.UniversalOptions
	if strings.Contains(addr, "://") {
		o, err := redis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		opts = redis.UniversalOptions{Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}
	} else {
		opts.Addrs = strings.Split(addr, ",")
	}
	if u := os.Getenv("REDIS_USERNAME"); u != "" {
		opts.Username = u
	}
	if pw := os.Getenv("REDIS_PASSWORD"); pw != "" {
		opts.Password = pw
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	var id [6]byte
	rand.Read(id[:])
	fleet := "webrequest-" + hex.EncodeToString(id[:])
	for i := range n {
		rdb := redis.NewUniversalClient(&opts)
		p.clients = append(p.clients, rdb)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err != nil {
			p.close()
			return nil, fmt.Errorf("-redis %s: %w", addr, err)
		}
		b, err := redisbus.New(redisbus.Config{Client: rdb, Node: fmt.Sprintf("edge-%d", i+1), Fleet: fleet})
		if err != nil {
			p.close()
			return nil, err
		}
		p.redis = append(p.redis, b)
	}
	return p, nil
}

// bus returns edge i's bus.
func (p *purgeBuses) bus(i int) surrogate.Bus {
	if p.local != nil {
		return p.local
	}
	return p.redis[i]
}

// flush waits until every edge applied the purges published so far: the
// in-process bus's barrier; through Redis the purge already waited for
// every edge's acknowledgement.
func (p *purgeBuses) flush(ctx context.Context) error {
	if p == nil || p.local == nil {
		return nil
	}
	return p.local.Flush(ctx)
}

// close closes the buses, then their clients (after the edges closed).
func (p *purgeBuses) close() {
	if p == nil {
		return
	}
	if p.local != nil {
		p.local.Close()
	}
	for _, b := range p.redis {
		b.Close()
	}
	for _, c := range p.clients {
		c.Close()
	}
}

// describeAck says how the fleet acknowledged a purge: per edge its state
// and when, and how long the whole took.
func describeAck(a *surrogate.Ack) string {
	if a == nil {
		return ""
	}
	var nodes []string
	for _, n := range a.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s %s", n.Node, n.State))
	}
	done := "complete"
	if !a.Complete {
		done = "incomplete"
	}
	return fmt.Sprintf("%s in %.1f ms (%s)", done, float64(a.Took.Microseconds())/1000, strings.Join(nodes, ", "))
}
