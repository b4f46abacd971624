package main

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/resolver/authority"
)

// activeHealth feeds authority's steering with balancer's active health
// checks (TCP connect or HTTP GET, with rise and fall): each edge address
// is a backend of a balancer.Pool used only for its checks, and after
// every round the verdicts go into an authority.HealthTable, which the
// zone server reads without locks.
//
// It lives here, not in resolver/authority, because the resolver
// packages import no other edgekit package (STYLE §1): the examples are
// where the two blocks meet, as a user's program would be.
type activeHealth struct {
	table    authority.HealthTable
	pool     *balancer.Pool
	interval time.Duration
	onChange func(addr netip.Addr, healthy bool)

	mu   sync.Mutex // guards last
	last map[netip.Addr]bool

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// newActiveHealth checks addrs on port every check.Interval (which must
// be positive) and calls onChange (if set) from its goroutine for each
// transition. Close stops it.
func newActiveHealth(addrs []netip.Addr, port uint16, check balancer.HealthCheck, onChange func(netip.Addr, bool)) (*activeHealth, error) {
	interval := check.Interval
	check.Interval = 0 // the rounds are ours, not the Pool's goroutine
	pool, err := balancer.New(balancer.Config{Health: check})
	if err != nil {
		return nil, err
	}
	h := &activeHealth{pool: pool, interval: interval, onChange: onChange, last: map[netip.Addr]bool{}, done: make(chan struct{})}
	for _, a := range addrs {
		if err := pool.Add(balancer.Backend{ID: a.String(), Addr: net.JoinHostPort(a.String(), strconv.Itoa(int(port)))}); err != nil {
			pool.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go h.run(ctx)
	return h, nil
}

func (h *activeHealth) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round runs one round of checks and publishes the verdicts.
func (h *activeHealth) round(ctx context.Context) {
	h.pool.CheckNow(ctx)
	if ctx.Err() != nil {
		return
	}
	for _, s := range h.pool.Stats() {
		a, err := netip.ParseAddr(s.Backend.ID)
		if err != nil {
			continue
		}
		up := s.State == balancer.Healthy
		h.table.Set(a, up)
		h.mu.Lock()
		prev, seen := h.last[a]
		h.last[a] = up
		h.mu.Unlock()
		if (!seen && !up || seen && prev != up) && h.onChange != nil {
			h.onChange(a, up)
		}
	}
}

// Healthy implements authority.Health.
func (h *activeHealth) Healthy(a netip.Addr) bool { return h.table.Healthy(a) }

// Close stops the checks and waits for the goroutine. It is idempotent.
func (h *activeHealth) Close() error {
	h.once.Do(func() {
		h.cancel()
		<-h.done
		h.pool.Close()
	})
	return nil
}
