package firewall

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Filter decides whether a flow may pass. Firewall is the default
// implementation.
type Filter interface {
	Decide(f Flow) Verdict
}

// Config configures a Firewall.
type Config struct {
	// Rules is the initial rule set. Nil means allow everything.
	Rules *RuleSet
	// Logger receives sampled denials. Nil means zap.NewNop().
	Logger *zap.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Firewall holds the rule set in force and swaps it atomically: a reload
// never shows readers a half-loaded set, and Decide never blocks. It is
// safe for concurrent use by multiple goroutines.
type Firewall struct {
	rules   atomic.Pointer[RuleSet]
	log     *zap.Logger
	now     func() time.Time
	allowed atomic.Uint64
	denied  atomic.Uint64
	reloads atomic.Uint64
	flushes atomic.Uint64
	epoch   atomic.Uint64 // bumped by flushing reloads

	lmu       sync.Mutex
	listeners map[*Listener]struct{} // flushed by ReloadAndFlush
}

// New returns a Firewall.
func New(cfg Config) (*Firewall, error) {
	f := &Firewall{log: cfg.Logger, now: clock.Or(cfg.Now)}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	rs := cfg.Rules
	if rs == nil {
		var err error
		if rs, err = NewRuleSet(RuleSetConfig{Default: Allow}); err != nil {
			return nil, err
		}
	}
	f.rules.Store(rs)
	return f, nil
}

// Reload puts rs in force. Connections already allowed stay up.
func (f *Firewall) Reload(rs *RuleSet) {
	f.rules.Store(rs)
	f.reloads.Add(1)
}

// ReloadAndFlush puts rs in force and makes every Listener wrapping this
// firewall close, at once, the open connections the new rules deny.
func (f *Firewall) ReloadAndFlush(rs *RuleSet) {
	f.rules.Store(rs)
	f.reloads.Add(1)
	f.flushes.Add(1)
	f.epoch.Add(1)
	f.lmu.Lock()
	ls := make([]*Listener, 0, len(f.listeners))
	for l := range f.listeners {
		ls = append(ls, l)
	}
	f.lmu.Unlock()
	for _, l := range ls {
		l.flushIfReloaded()
	}
}

func (f *Firewall) register(l *Listener) {
	f.lmu.Lock()
	if f.listeners == nil {
		f.listeners = map[*Listener]struct{}{}
	}
	f.listeners[l] = struct{}{}
	f.lmu.Unlock()
}

func (f *Firewall) unregister(l *Listener) {
	f.lmu.Lock()
	delete(f.listeners, l)
	f.lmu.Unlock()
}

// Rules returns the rule set in force.
func (f *Firewall) Rules() *RuleSet { return f.rules.Load() }

// Decide implements Filter.
func (f *Firewall) Decide(fl Flow) Verdict { return f.decide(f.rules.Load(), fl) }

// decide judges fl by rs (the rule set in force, loaded once by a caller
// that reads more of it) and counts.
func (f *Firewall) decide(rs *RuleSet, fl Flow) Verdict {
	v := rs.Decide(fl)
	if v.Action == Allow {
		f.allowed.Add(1)
	} else {
		f.denied.Add(1)
	}
	return v
}

// Limiter is a per-source token bucket, keyed by prefix (IPv4 /32 by
// default, IPv6 /64) so a client rotating addresses inside its allocation
// cannot exhaust memory. The table holds at most MaxSources buckets and
// forgets the least recently used. It is safe for concurrent use.
type Limiter struct {
	cfg     LimiterConfig
	buckets *lru.Cache[netip.Prefix, *rate.Limiter]
	limited atomic.Uint64
	now     func() time.Time
}

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Rate is tokens per second per source; Burst the bucket size. Rate
	// must be positive; zero Burst means 1.
	Rate  float64
	Burst int
	// IPv4Bits and IPv6Bits are the prefix lengths sources are grouped
	// by. Zero means 32 and 64.
	IPv4Bits, IPv6Bits int
	// MaxSources bounds the table. Zero means 100,000.
	MaxSources int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// NewLimiter returns a Limiter.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if cfg.Rate <= 0 || cfg.Burst < 0 || cfg.IPv4Bits < 0 || cfg.IPv4Bits > 32 || cfg.IPv6Bits < 0 || cfg.IPv6Bits > 128 {
		return nil, ErrInvalidConfig
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.IPv4Bits == 0 {
		cfg.IPv4Bits = 32
	}
	if cfg.IPv6Bits == 0 {
		cfg.IPv6Bits = 64
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = 100_000
	}
	c, err := lru.New[netip.Prefix, *rate.Limiter](cfg.MaxSources)
	if err != nil {
		return nil, err
	}
	return &Limiter{cfg: cfg, buckets: c, now: clock.Or(cfg.Now)}, nil
}

// Source returns the prefix a source address is limited under.
func (l *Limiter) Source(a netip.Addr) netip.Prefix {
	a, _ = Normalize(a)
	bits := l.cfg.IPv6Bits
	if a.Is4() {
		bits = l.cfg.IPv4Bits
	}
	p, _ := a.Prefix(bits)
	return p
}

// Allow takes a token for a. It reports false, and counts, when the
// source is over its rate.
func (l *Limiter) Allow(a netip.Addr) bool {
	key := l.Source(a)
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)
		if prev, found, _ := l.buckets.PeekOrAdd(key, b); found {
			b = prev
		}
	}
	if b.AllowN(l.now(), 1) {
		return true
	}
	l.limited.Add(1)
	return false
}

// Limited returns how many requests or connections the limiter refused.
func (l *Limiter) Limited() uint64 { return l.limited.Load() }

// Sources returns how many source prefixes the limiter tracks.
func (l *Limiter) Sources() int { return l.buckets.Len() }

// Stats is a snapshot of a Firewall's counters.
type Stats struct {
	Allowed, Denied uint64
	Reloads         uint64
	// Rules are per-rule hit counts of the rule set in force.
	Rules []RuleCount
}

// Stats returns a snapshot.
func (f *Firewall) Stats() Stats {
	return Stats{Allowed: f.allowed.Load(), Denied: f.denied.Load(), Reloads: f.reloads.Load(), Rules: f.rules.Load().Counts()}
}
