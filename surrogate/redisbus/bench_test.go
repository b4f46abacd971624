package redisbus

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/surrogate"
)

// BenchmarkAckPurge measures an acknowledged purge by key across a fleet
// on loopback (one redis-server, each node with its own client): from
// PublishAck to every node having applied it. It reports p50 and p99 in
// ms; the target is p99 under 50 ms for 10 nodes. The baseline is one
// plain round trip through the same client (PING).
func BenchmarkAckPurge(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			cfg := Config{Fleet: fmt.Sprint("bench", n), Heartbeat: 200 * time.Millisecond}
			var nodes []*node
			for i := range n {
				nodes = append(nodes, newNode(b, srv.Addr(), fmt.Sprint("n", i), cfg))
			}
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				ack, err := nodes[i%n].bus.PublishAck(ctx, surrogate.Message{ID: fmt.Sprint(i), Node: "bench", Keys: []string{"k"}})
				lat = append(lat, time.Since(start))
				if err != nil || !ack.Complete || len(ack.Nodes) != n {
					b.Fatalf("%+v %v", ack, err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			for _, nd := range nodes {
				nd.unsub()
				nd.bus.Close()
			}
		})
	}
	b.Run("baseline=ping", func(b *testing.B) {
		rdb := newClient(b, srv.Addr())
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
