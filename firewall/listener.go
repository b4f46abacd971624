package firewall

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ListenerConfig configures a filtering listener. NewListener reads it
// once; changing it afterwards has no effect; a plain value, safe for
// concurrent use while no goroutine changes it.
type ListenerConfig struct {
	// Filter judges each peer (a *Firewall, a *RuleSet or your own).
	// Required.
	Filter Filter
	// MaxConnsPerSource caps open connections per source address. Zero
	// means no cap.
	MaxConnsPerSource int
	// ConnRate limits new connections per source; a source over it goes
	// on the overload list (pf's max-src-conn-rate / overload) and is
	// refused for OverloadFor. Nil means no limit.
	ConnRate *Limiter
	// OverloadFor is how long an overloading source is refused. Zero
	// means 1 minute.
	OverloadFor time.Duration
	// Trace, if set, is called at verdicts and rate limits. Nil means
	// none.
	Trace *Trace
}

// Listener is a net.Listener in front of another: denied peers are
// closed right after accept, before anything is read, and Accept goes on
// to the next connection, so a denied or slow peer never stalls it. It is
// safe for concurrent use by multiple goroutines and starts none.
type Listener struct {
	inner    net.Listener
	cfg      ListenerConfig
	mu       sync.Mutex
	perSrc   map[netip.Addr]int
	overload map[netip.Addr]time.Time
	conns    map[*conn]struct{}
	refused  atomic.Uint64
}

var (
	_ net.Listener = (*Listener)(nil)
	_ net.Conn     = (*conn)(nil)
)

// NewListener wraps inner.
func NewListener(inner net.Listener, cfg ListenerConfig) (*Listener, error) {
	switch {
	case inner == nil:
		return nil, fmt.Errorf("%w: no listener to wrap", ErrInvalidConfig)
	case cfg.Filter == nil:
		return nil, fmt.Errorf("%w: ListenerConfig.Filter is required", ErrInvalidConfig)
	case cfg.MaxConnsPerSource < 0 || cfg.OverloadFor < 0:
		return nil, fmt.Errorf("%w: negative MaxConnsPerSource or OverloadFor", ErrInvalidConfig)
	}
	if err := checkFilter(cfg.Filter); err != nil {
		return nil, err
	}
	cfg.OverloadFor = cmp.Or(cfg.OverloadFor, time.Minute)
	return &Listener{inner: inner, cfg: cfg, perSrc: map[netip.Addr]int{}, overload: map[netip.Addr]time.Time{}, conns: map[*conn]struct{}{}}, nil
}

// Addr returns the wrapped listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the listener, not the connections it accepted.
func (l *Listener) Close() error { return l.inner.Close() }

// Accept returns the next allowed connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			return nil, err
		}
		// A peer that is no IP address (a Unix socket) gets the default
		// policy, and all such peers share one source for the caps and
		// the rate limit, never none.
		src, _ := peerAddr(c.RemoteAddr())
		v := l.cfg.Filter.Decide(Flow{Src: netip.AddrPortFrom(src, 0), Proto: TCP})
		l.cfg.Trace.verdict(PointListener, src, v)
		if v.Action != Allow {
			l.refuse(c)
			continue
		}
		if ok, limited := l.admit(src); !ok {
			if limited {
				l.cfg.Trace.limited(PointListener, src)
			}
			l.refuse(c)
			continue
		}
		wc := &conn{Conn: c, l: l, src: src}
		l.mu.Lock()
		l.conns[wc] = struct{}{}
		l.mu.Unlock()
		return wc, nil
	}
}

func (l *Listener) refuse(c net.Conn) {
	l.refused.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // reset at once, no lingering state
	}
	c.Close()
}

// admit applies the overload list, the connection-rate limit and the
// per-source cap; limited reports a refusal by the first two.
func (l *Listener) admit(src netip.Addr) (ok, limited bool) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.overload[src]; ok {
		if now.Before(until) {
			return false, true
		}
		delete(l.overload, src)
	}
	if l.cfg.ConnRate != nil && !l.cfg.ConnRate.Allow(src) {
		if len(l.overload) < 100_000 {
			l.overload[src] = now.Add(l.cfg.OverloadFor)
		}
		return false, true
	}
	if l.cfg.MaxConnsPerSource > 0 && l.perSrc[src] >= l.cfg.MaxConnsPerSource {
		return false, false
	}
	l.perSrc[src]++
	return true, false
}

// Flush judges every open connection this listener accepted again, by
// the Filter as it stands now, and closes those it denies; it returns how
// many it closed. Call it after Firewall.Reload to drop connections the
// new rules deny (pfctl -k; a plain reload keeps them, as pf keeps its
// states). The Filter is called outside the listener's lock.
func (l *Listener) Flush() int {
	l.mu.Lock()
	open := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	n := 0
	for _, c := range open {
		if l.cfg.Filter.Decide(Flow{Src: netip.AddrPortFrom(c.src, 0), Proto: TCP}).Action != Allow {
			c.Close()
			n++
		}
	}
	return n
}

// Refused returns how many connections the listener refused.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

type conn struct {
	net.Conn
	l    *Listener
	src  netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if c.l.perSrc[c.src]--; c.l.perSrc[c.src] <= 0 {
			delete(c.l.perSrc, c.src)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func peerAddr(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok {
			return netip.Addr{}, false
		}
		return normalize(ip)
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok {
			return netip.Addr{}, false
		}
		return normalize(ip)
	}
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(ap.Addr())
}
