package surrogate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Target is what a purge acts on: the cache. cache.HTTPCache satisfies it.
// A Purger calls it from its callers' goroutines and from its Bus
// delivery goroutine at once, so implementations must be safe for
// concurrent use.
type Target interface {
	// Delete removes the object (a hard purge) and reports whether it was
	// there.
	Delete(key string) bool
	// MarkStale marks the object stale (a soft purge): the next request
	// gets the stale copy while it is revalidated.
	MarkStale(key string) bool
}

// Clearer is implemented by Targets that can drop everything at once; a
// purge-all needs it. A Target with a Len() int method reports through it
// how many objects a purge-all removed.
// Like a Target's methods, Clear may run concurrently with them.
type Clearer interface{ Clear() }

// StaleMarker is implemented by Targets that can mark everything stale at
// once (a soft purge of all): cache.HTTPCache does. A Target without it
// is cleared instead (Clearer), which is stronger. Like a Target's
// methods, MarkAllStale may run concurrently with them.
type StaleMarker interface{ MarkAllStale() }

// Mode is a purge's strength.
// A plain value, safe for concurrent use while no goroutine changes it.
type Mode int

const (
	// Hard removes the objects.
	Hard Mode = iota
	// Soft marks the objects stale so they are revalidated, served stale
	// meanwhile.
	Soft
)

// String returns "hard" or "soft".
func (m Mode) String() string {
	if m == Soft {
		return "soft"
	}
	return "hard"
}

// Message is one purge as it travels over a Bus.
// A plain value, safe for concurrent use while no goroutine changes it. A
// Bus may hand one Message to several subscribers: they must not change
// it.
type Message struct {
	// ID identifies the purge; receivers apply each ID once.
	ID string
	// Node names the node that published it.
	Node string
	// Keys are the surrogate keys to purge; empty with All.
	Keys []string
	// All purges everything.
	All  bool
	Mode Mode
}

// Bus carries purges to every node of a fleet. Delivery may be
// at-least-once: purges are idempotent and Purger ignores IDs it has
// applied. A pub/sub system (Redis, NATS, Kafka, a cloud queue) fits it;
// LocalBus is the in-process implementation.
// Implementations must be safe for concurrent use by multiple goroutines.
type Bus interface {
	// Publish sends m to every subscriber, the publisher's own included.
	Publish(ctx context.Context, m Message) error
	// Subscribe calls fn for each message published after it returns,
	// until unsubscribe is called or ctx ends. fn runs on a goroutine the
	// Bus owns and must not block for long.
	Subscribe(ctx context.Context, fn func(Message)) (unsubscribe func(), err error)
}

// PurgerConfig configures a Purger. Index and Target are required.
// A plain value, safe for concurrent use while no goroutine changes it.
type PurgerConfig struct {
	Index  *Index
	Target Target
	// Bus, if set, carries this node's purges to the fleet and the
	// fleet's to this node.
	Bus Bus
	// Node names this node on the Bus. Empty means a random name.
	Node string
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called at purge events. Nil means none.
	Trace *Trace
}

// Result reports what a purge did on this node.
// A plain value, safe for concurrent use while no goroutine changes it.
type Result struct {
	// Objects is how many objects were purged (removed or marked stale).
	Objects int
	// Keys is how many keys the purge named.
	Keys int
	// Ack is the fleet's acknowledgement when the Bus is an AckBus: which
	// live nodes applied the purge. Nil otherwise.
	Ack *Ack
}

// PurgerStats counts purges.
// A snapshot, a plain value, safe for concurrent use while no goroutine
// changes it.
type PurgerStats struct {
	Purges, RemotePurges, Objects uint64
}

// Purger purges by surrogate key, locally and, through a Bus, on every
// node. It is safe for concurrent use by multiple goroutines.
type Purger struct {
	ix     *Index
	target Target
	bus    Bus
	node   string
	log    *zap.Logger
	trace  *Trace
	unsub  func()

	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int

	purges, remote, objects atomic.Uint64
	closeOnce               sync.Once
}

// NewPurger returns a Purger; with a Bus it subscribes at once.
func NewPurger(cfg PurgerConfig) (*Purger, error) {
	if cfg.Index == nil || cfg.Target == nil {
		return nil, fmt.Errorf("%w: PurgerConfig needs an Index and a Target", ErrInvalidConfig)
	}
	p := &Purger{ix: cfg.Index, target: cfg.Target, bus: cfg.Bus, node: cfg.Node, log: cfg.Logger, trace: cfg.Trace,
		seen: map[string]struct{}{}, ring: make([]string, 1024)}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.node == "" {
		p.node = randomID()
	}
	if p.bus != nil {
		unsub, err := p.bus.Subscribe(context.Background(), p.receive)
		if err != nil {
			return nil, err
		}
		p.unsub = unsub
	}
	return p, nil
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Node returns this purger's node name.
func (p *Purger) Node() string { return p.node }

// Purge purges the objects tagged with any of keys, in the given mode, on
// this node and (with a Bus) on every node.
func (p *Purger) Purge(ctx context.Context, mode Mode, keys ...string) (Result, error) {
	if len(keys) == 0 {
		return Result{}, ErrNoKeys
	}
	return p.publish(ctx, Message{ID: randomID(), Node: p.node, Keys: keys, Mode: mode})
}

// PurgeAll purges everything on this node and every node: Hard removes
// it (the Target must implement Clearer), Soft marks it stale (with a
// StaleMarker; a Target with only Clearer is cleared).
func (p *Purger) PurgeAll(ctx context.Context, mode Mode) (Result, error) {
	if !canPurgeAll(p.target, mode) {
		return Result{}, fmt.Errorf("%w: target %T has no Clear method", ErrCannotPurgeAll, p.target)
	}
	return p.publish(ctx, Message{ID: randomID(), Node: p.node, All: true, Mode: mode})
}

func canPurgeAll(t Target, mode Mode) bool {
	if _, ok := t.(StaleMarker); ok && mode == Soft {
		return true
	}
	_, ok := t.(Clearer)
	return ok
}

// publish applies this node's purge m here and sends it to the fleet.
func (p *Purger) publish(ctx context.Context, m Message) (Result, error) {
	p.markSeen(m.ID)
	res := p.apply(m)
	p.purges.Add(1)
	p.traceApplied(m, res)
	var err error
	start := time.Now()
	switch b := p.bus.(type) {
	case nil:
		return res, nil
	case AckBus:
		var ack Ack
		ack, err = b.PublishAck(ctx, m)
		res.Ack = &ack
	default:
		err = p.bus.Publish(ctx, m)
	}
	p.tracePublished(m, time.Since(start), res.Ack, err)
	return res, err
}

func (p *Purger) apply(m Message) Result {
	if m.All {
		n := p.ix.Stats().Objects
		if l, ok := p.target.(interface{ Len() int }); ok {
			n = l.Len() // objects without surrogate keys are not indexed
		}
		if sm, ok := p.target.(StaleMarker); ok && m.Mode == Soft {
			sm.MarkAllStale() // the objects stay, and so do their keys
			p.objects.Add(uint64(n))
			return Result{Objects: n}
		}
		p.target.(Clearer).Clear()
		p.ix.Clear()
		p.objects.Add(uint64(n))
		return Result{Objects: n}
	}
	res := Result{Keys: len(m.Keys)}
	for _, k := range m.Keys {
		for _, obj := range p.ix.Objects(k) {
			var hit bool
			if m.Mode == Soft {
				hit = p.target.MarkStale(obj)
			} else {
				hit = p.target.Delete(obj)
				p.ix.Remove(obj)
			}
			if hit {
				res.Objects++
			}
		}
	}
	p.objects.Add(uint64(res.Objects))
	return res
}

// markSeen records id and reports whether it was new.
func (p *Purger) markSeen(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.seen[id]; dup {
		return false
	}
	if old := p.ring[p.next]; old != "" {
		delete(p.seen, old)
	}
	p.ring[p.next] = id
	p.next = (p.next + 1) % len(p.ring)
	p.seen[id] = struct{}{}
	return true
}

func (p *Purger) receive(m Message) {
	if m.Node == p.node || !p.markSeen(m.ID) {
		return
	}
	if m.All && !canPurgeAll(p.target, m.Mode) {
		p.log.Warn("surrogate: cannot purge all", zap.String("from", m.Node), zap.String("target", fmt.Sprintf("%T", p.target)))
		return
	}
	res := p.apply(m)
	p.remote.Add(1)
	p.traceApplied(m, res)
	p.log.Debug("surrogate: remote purge", zap.String("from", m.Node), zap.Int("objects", res.Objects))
}

// Stats returns the purge counters.
func (p *Purger) Stats() PurgerStats {
	return PurgerStats{Purges: p.purges.Load(), RemotePurges: p.remote.Load(), Objects: p.objects.Load()}
}

// Close unsubscribes from the Bus. It is idempotent.
func (p *Purger) Close() error {
	p.closeOnce.Do(func() {
		if p.unsub != nil {
			p.unsub()
		}
	})
	return nil
}

// LocalBus is an in-process Bus: every subscriber gets every message, in
// order, on its own delivery goroutine. The zero value is ready to use.
// It is safe for concurrent use; Close stops delivery and waits.
type LocalBus struct {
	mu     sync.Mutex
	subs   map[int]*subscription
	nextID int
	closed bool
	wg     sync.WaitGroup
}

// The in-process Bus, and the closers.
var (
	_ Bus       = (*LocalBus)(nil)
	_ io.Closer = (*LocalBus)(nil)
	_ io.Closer = (*Purger)(nil)
)

// delivery is a message in a subscriber's queue, or a Flush barrier.
type delivery struct {
	m       Message
	barrier chan struct{} // LocalBus.Flush: closed when reached
}

type subscription struct {
	ch   chan delivery
	stop chan struct{}
	once sync.Once
}

// Publish implements Bus. It blocks while a subscriber's queue (256
// messages) is full, until ctx ends.
func (b *LocalBus) Publish(ctx context.Context, m Message) error {
	subs, ok := b.subscribers()
	if !ok {
		return ErrBusClosed
	}
	m.Keys = append([]string(nil), m.Keys...)
	for _, s := range subs {
		select {
		case s.ch <- delivery{m: m}:
		case <-s.stop:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// subscribers returns the current subscriptions; ok is false once the
// bus is closed.
func (b *LocalBus) subscribers() (subs []*subscription, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs = make([]*subscription, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	return subs, !b.closed
}

// Subscribe implements Bus.
func (b *LocalBus) Subscribe(ctx context.Context, fn func(Message)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBusClosed
	}
	if b.subs == nil {
		b.subs = map[int]*subscription{}
	}
	id := b.nextID
	b.nextID++
	s := &subscription{ch: make(chan delivery, 256), stop: make(chan struct{})}
	b.subs[id] = s
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			select {
			case d := <-s.ch:
				if d.barrier != nil {
					close(d.barrier)
					continue
				}
				fn(d.m)
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
		s.once.Do(func() { close(s.stop) })
	}, nil
}

// Close stops every subscription and waits for delivery goroutines. It is
// idempotent.
func (b *LocalBus) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for _, s := range subs {
		s.once.Do(func() { close(s.stop) })
	}
	b.wg.Wait()
	return nil
}

// Flush waits until every message published before the call has been
// handled by every current subscriber, or ctx ends. Tests and examples use
// it to make fan-out observable.
func (b *LocalBus) Flush(ctx context.Context) error {
	subs, _ := b.subscribers()
	for _, s := range subs {
		barrier := make(chan struct{})
		select {
		case s.ch <- delivery{barrier: barrier}:
		case <-s.stop:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-barrier:
		case <-s.stop:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
