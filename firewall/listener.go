package firewall

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ListenerConfig configures a filtering listener.
type ListenerConfig struct {
	// Firewall judges each peer. Required.
	Firewall *Firewall
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
}

// Listener wraps a net.Listener: denied peers are closed right after
// accept, before anything is read, and Accept goes on to the next
// connection, so a denied or slow peer never stalls it. It is safe for
// concurrent use.
type Listener struct {
	net.Listener
	cfg      ListenerConfig
	mu       sync.Mutex
	perSrc   map[netip.Addr]int
	overload map[netip.Addr]time.Time
	conns    map[*conn]struct{}
	epoch    uint64
	refused  atomic.Uint64
}

// NewListener wraps inner.
func NewListener(inner net.Listener, cfg ListenerConfig) (*Listener, error) {
	if cfg.Firewall == nil {
		return nil, ErrInvalidConfig
	}
	if cfg.OverloadFor == 0 {
		cfg.OverloadFor = time.Minute
	}
	l := &Listener{Listener: inner, cfg: cfg, perSrc: map[netip.Addr]int{}, overload: map[netip.Addr]time.Time{}, conns: map[*conn]struct{}{}}
	cfg.Firewall.register(l)
	return l, nil
}

// Close closes the listener (not the connections it accepted) and stops
// following the firewall's flushes.
func (l *Listener) Close() error {
	l.cfg.Firewall.unregister(l)
	return l.Listener.Close()
}

// Accept returns the next allowed connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.flushIfReloaded()
		// A peer that is no IP address (a Unix socket) gets the default
		// policy, and all such peers share one source for the caps and
		// the rate limit, never none.
		src, _ := peerAddr(c.RemoteAddr())
		if l.cfg.Firewall.Decide(Flow{Src: netip.AddrPortFrom(src, 0), Proto: TCP}).Action != Allow || !l.admit(src) {
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
// per-source cap.
func (l *Listener) admit(src netip.Addr) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.overload[src]; ok {
		if now.Before(until) {
			return false
		}
		delete(l.overload, src)
	}
	if l.cfg.ConnRate != nil && !l.cfg.ConnRate.Allow(src) {
		if len(l.overload) < 100_000 {
			l.overload[src] = now.Add(l.cfg.OverloadFor)
		}
		return false
	}
	if l.cfg.MaxConnsPerSource > 0 && l.perSrc[src] >= l.cfg.MaxConnsPerSource {
		return false
	}
	l.perSrc[src]++
	return true
}

// flushIfReloaded closes open connections the rules in force deny, after
// a ReloadAndFlush.
func (l *Listener) flushIfReloaded() {
	e := l.cfg.Firewall.epoch.Load()
	l.mu.Lock()
	if e == l.epoch {
		l.mu.Unlock()
		return
	}
	l.epoch = e
	var victims []*conn
	for c := range l.conns {
		if l.cfg.Firewall.Rules().DecideAddr(c.src) != Allow {
			victims = append(victims, c)
		}
	}
	l.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
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
		return Normalize(ip)
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok {
			return netip.Addr{}, false
		}
		return Normalize(ip)
	}
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return Normalize(ap.Addr())
}
