package main

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Health transitions under balancer's rise and fall, on a fake clock.
func TestActiveHealthTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
		var down sync.Map
		var mu sync.Mutex
		var events []string
		h, err := newActiveHealth([]netip.Addr{a, b}, 80, balancer.HealthCheck{
			Interval: 10 * time.Second, Rise: 2, Fall: 2,
			Probe: func(_ context.Context, be balancer.Backend) bool {
				_, isDown := down.Load(be.ID)
				return !isDown
			},
		}, func(addr netip.Addr, up bool) {
			mu.Lock()
			events = append(events, addr.String()+"="+strconv.FormatBool(up))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		synctest.Wait()
		if !h.Healthy(a) || !h.Healthy(b) {
			t.Fatal("not healthy at start")
		}
		down.Store("192.0.2.1", true)
		time.Sleep(10 * time.Second) // fake time: one round
		synctest.Wait()
		if !h.Healthy(a) {
			t.Fatal("down after one failure; Fall is 2")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h.Healthy(a) || !h.Healthy(b) {
			t.Fatal("a still healthy after two failures")
		}
		down.Delete("192.0.2.1")
		time.Sleep(20 * time.Second) // two rounds: Rise 2
		synctest.Wait()
		if !h.Healthy(a) {
			t.Fatal("a not back after two successes")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) != 2 || events[0] != "192.0.2.1=false" || events[1] != "192.0.2.1=true" {
			t.Fatalf("events %v", events)
		}
	})
}

// The real TCP check of balancer, against a loopback listener and a
// closed port.
func TestActiveHealthTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	var changes atomic.Int32
	h, err := newActiveHealth([]netip.Addr{netip.MustParseAddr("127.0.0.1")}, port,
		balancer.HealthCheck{Interval: time.Hour, Rise: 1, Fall: 1}, func(netip.Addr, bool) { changes.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ln.Close()
	h.round(context.Background())
	if h.Healthy(netip.MustParseAddr("127.0.0.1")) || changes.Load() == 0 {
		t.Fatal("a closed port is healthy")
	}
}
