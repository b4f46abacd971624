// Package conntrack is a connection-tracking table, as Linux conntrack
// keeps one: it remembers outbound flows so their replies are let in and
// unsolicited packets are not (NEW, ESTABLISHED, RELATED, INVALID), with
// DNS replies matched on server, port and query ID. It bounds its memory
// (least recently used flows go first under a flood) and reads an
// injected clock. A Table is safe for concurrent use by multiple
// goroutines and starts none.
package conntrack

import (
	"cmp"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// State is a tracked flow's state, as conntrack names them. A plain
// value, safe for concurrent use.
type State uint8

const (
	// StateNew: the first packet of an outbound flow.
	StateNew State = iota
	// StateEstablished: a reply that matches a tracked outbound flow.
	StateEstablished
	// StateRelated: an inbound packet from a host with an established
	// flow to the same local address, on another port (a data channel).
	StateRelated
	// StateInvalid: an unsolicited or mismatched reply.
	StateInvalid
)

// String returns the conntrack name ("NEW", ...), or "State(n)".
func (s State) String() string {
	if names := [...]string{"NEW", "ESTABLISHED", "RELATED", "INVALID"}; int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Config configures a Table. New reads it once; changing
// it afterwards has no effect; a plain value, safe for concurrent use
// while no goroutine changes it.
type Config struct {
	// MaxFlows bounds the table; under a flood the least recently used
	// flows are evicted. Zero means 65,536.
	MaxFlows int
	// NewTimeout is how long an outbound flow waits for its reply;
	// EstablishedTimeout how long an answered flow lives idle. Zero means
	// 30 s and 5 min (UDP; pass longer for TCP).
	NewTimeout, EstablishedTimeout time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Table is a connection-tracking table: it remembers outbound flows so
// their replies are let in and unsolicited packets are not. It is safe
// for concurrent use.
type Table struct {
	cfg     Config
	now     func() time.Time
	mu      sync.Mutex
	flows   *simplelru.LRU[flowKey, *tracked]
	hosts   map[hostPair]int // established flows per (local, remote host)
	evicted atomic.Uint64
}

type flowKey struct {
	local, remote netip.AddrPort
	proto         firewall.Proto
}

type hostPair struct {
	local, remote netip.Addr
}

type tracked struct {
	state   State
	dnsID   int32 // -1: not a DNS query
	expires time.Time
}

// New validates cfg and returns a Table.
func New(cfg Config) (*Table, error) {
	if cfg.MaxFlows < 0 || cfg.NewTimeout < 0 || cfg.EstablishedTimeout < 0 {
		return nil, fmt.Errorf("conntrack: negative MaxFlows or timeout: %w", firewall.ErrInvalidConfig)
	}
	cfg.MaxFlows = cmp.Or(cfg.MaxFlows, 65536)
	cfg.NewTimeout = cmp.Or(cfg.NewTimeout, 30*time.Second)
	cfg.EstablishedTimeout = cmp.Or(cfg.EstablishedTimeout, 5*time.Minute)
	t := &Table{cfg: cfg, now: clock.Or(cfg.Now), hosts: map[hostPair]int{}}
	l, err := simplelru.NewLRU[flowKey, *tracked](cfg.MaxFlows, func(k flowKey, v *tracked) {
		t.evicted.Add(1)
		t.forget(k, v)
	})
	if err != nil {
		return nil, err
	}
	t.flows = l
	return t, nil
}

// norm unmaps IPv4-mapped IPv6 and drops a zone, as every firewall entry
// point does.
func norm(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// Outbound records a flow leaving from local to remote (dnsID is the DNS
// query ID for UDP DNS queries, or -1) and returns its state: StateNew, or
// Established if it was already answered.
func (t *Table) Outbound(local, remote netip.AddrPort, proto firewall.Proto, dnsID int) State {
	k := flowKey{norm(local), norm(remote), proto}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.flows.Get(k); ok && now.Before(f.expires) {
		if f.state == StateEstablished {
			f.expires = now.Add(t.cfg.EstablishedTimeout)
		}
		if dnsID >= 0 {
			f.dnsID = int32(dnsID)
		}
		return f.state
	}
	t.flows.Add(k, &tracked{state: StateNew, dnsID: int32(dnsID), expires: now.Add(t.cfg.NewTimeout)})
	return StateNew
}

// Inbound judges a packet arriving at local from remote. For UDP DNS
// replies pass the reply's ID as dnsID (else -1): a reply is
// StateEstablished only from the server that was asked, to the port that asked, with the
// ID that was sent.
func (t *Table) Inbound(local, remote netip.AddrPort, proto firewall.Proto, dnsID int) State {
	k := flowKey{norm(local), norm(remote), proto}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.flows.Get(k)
	if ok && !now.Before(f.expires) {
		t.flows.Remove(k)
		ok = false
	}
	if !ok {
		if t.hosts[hostPair{k.local.Addr(), k.remote.Addr()}] > 0 {
			return StateRelated
		}
		return StateInvalid
	}
	if f.dnsID >= 0 && int32(dnsID) != f.dnsID {
		return StateInvalid // a spoofed DNS answer guessing the ID
	}
	if f.state == StateNew {
		f.state = StateEstablished
		t.hosts[hostPair{k.local.Addr(), k.remote.Addr()}]++
	}
	f.expires = now.Add(t.cfg.EstablishedTimeout)
	return StateEstablished
}

func (t *Table) forget(k flowKey, f *tracked) {
	if f.state == StateEstablished {
		hp := hostPair{k.local.Addr(), k.remote.Addr()}
		if t.hosts[hp]--; t.hosts[hp] <= 0 {
			delete(t.hosts, hp)
		}
	}
}

// Expire removes flows past their timeout and returns how many it
// removed. Lookups ignore expired flows anyway; Expire frees the memory.
func (t *Table) Expire() int {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range t.flows.Keys() {
		if f, ok := t.flows.Peek(k); ok && !now.Before(f.expires) {
			t.flows.Remove(k)
			n++
		}
	}
	return n
}

// Stats counts the table: a snapshot, a plain value safe for
// concurrent use while no goroutine changes it.
type Stats struct {
	Flows   int
	Evicted uint64
}

// Stats returns the table's size and evictions.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Flows: t.flows.Len(), Evicted: t.evicted.Load()}
}
