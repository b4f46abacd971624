package firewall

import (
	"cmp"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

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

// LimiterConfig configures a Limiter. NewLimiter reads it once; changing
// it afterwards has no effect; a plain value, safe for concurrent use
// while no goroutine changes it.
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
	cfg.Burst = cmp.Or(cfg.Burst, 1)
	cfg.IPv4Bits = cmp.Or(cfg.IPv4Bits, 32)
	cfg.IPv6Bits = cmp.Or(cfg.IPv6Bits, 64)
	cfg.MaxSources = cmp.Or(cfg.MaxSources, 100_000)
	c, err := lru.New[netip.Prefix, *rate.Limiter](cfg.MaxSources)
	if err != nil {
		return nil, err
	}
	return &Limiter{cfg: cfg, buckets: c, now: clock.Or(cfg.Now)}, nil
}

// source returns the prefix a source address is limited under.
func (l *Limiter) source(a netip.Addr) netip.Prefix {
	a, _ = normalize(a)
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
	key := l.source(a)
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
