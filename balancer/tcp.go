package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/serve"
	"go.uber.org/zap"
)

// TCPProxyConfig configures an L4 TCPProxy. Pool is required.
// A plain value, safe for concurrent use while no goroutine changes it.
// NewTCPProxy copies it.
type TCPProxyConfig struct {
	// Pool is the Balancer (a *Pool or any other) that picks a backend
	// per connection, keyed by the client's IP.
	Pool Balancer
	// ConnectTimeout bounds dialing a backend. Zero means 3 s.
	ConnectTimeout time.Duration
	// IdleTimeout closes a connection idle in both directions this long.
	// Zero means 5 min.
	IdleTimeout time.Duration
	// DrainTimeout bounds how long Serve waits for open connections after
	// ctx ends before closing them. Zero means 10 s.
	DrainTimeout time.Duration
	// Retries bounds extra backends tried when connecting fails. Zero
	// means 2.
	Retries int
	Logger  *zap.Logger
}

// TCPProxy is an L4 load balancer: it picks a backend per connection
// (keyed by the client's IP for hash policies) and copies bytes both ways,
// honouring half-close. It is safe for concurrent use.
type TCPProxy struct {
	cfg TCPProxyConfig
	log *zap.Logger
}

// NewTCPProxy returns a TCPProxy configured by cfg.
func NewTCPProxy(cfg TCPProxyConfig) (*TCPProxy, error) {
	if cfg.Pool == nil {
		return nil, fmt.Errorf("%w: TCPProxyConfig needs a Pool", ErrInvalidConfig)
	}
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 3*time.Second)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, 5*time.Minute)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, 10*time.Second)
	cfg.Retries = cmp.Or(cfg.Retries, 2)
	t := &TCPProxy{cfg: cfg, log: cfg.Logger}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	return t, nil
}

// Serve accepts connections on ln until ctx ends, then stops accepting,
// waits up to DrainTimeout for open connections and closes the rest. It
// closes ln and returns nil after a clean shutdown.
func (t *TCPProxy) Serve(ctx context.Context, ln net.Listener) error {
	var conns serve.Conns[net.Conn]
	err := serve.Accept(ctx, ln, func(c net.Conn) {
		conns.Serve(c, func() { t.handle(c) })
	})
	if !conns.Drain(t.cfg.DrainTimeout, func(c net.Conn) { c.Close() }) {
		conns.Wait()
	}
	return err
}

func (t *TCPProxy) handle(client net.Conn) {
	defer client.Close()
	key := client.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(key); err == nil {
		key = host
	}
	var tried []string
	var backend net.Conn
	var pk Pick
	for attempt := 0; attempt <= t.cfg.Retries; attempt++ {
		var err error
		pk, err = t.cfg.Pool.Pick(PickInfo{Key: key, Exclude: tried})
		if err != nil {
			return
		}
		start := time.Now()
		backend, err = net.DialTimeout("tcp", pk.Backend().Addr, t.cfg.ConnectTimeout)
		if err == nil {
			break
		}
		pk.Done(DoneInfo{Err: err, Latency: time.Since(start)})
		tried = append(tried, pk.Backend().ID)
		backend = nil
	}
	if backend == nil {
		return
	}
	defer backend.Close()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); t.copy(backend, client) }()
	go func() { defer wg.Done(); t.copy(client, backend) }()
	wg.Wait()
	pk.Done(DoneInfo{Latency: time.Since(start)})
}

// copy moves bytes src -> dst, refreshing the idle deadline, and
// half-closes dst when src reaches EOF.
func (t *TCPProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(t.cfg.IdleTimeout))
		n, err := src.Read(buf)
		if n > 0 {
			dst.SetWriteDeadline(time.Now().Add(t.cfg.IdleTimeout))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
					return
				}
			}
			dst.Close()
			return
		}
	}
}
