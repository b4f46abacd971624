package observe

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"
)

// ErrNotLoopback is returned for an admin address off loopback without a
// token: metrics and profiles tell an outsider too much.
var ErrNotLoopback = errors.New("observe: admin address is not loopback")

// ErrInvalidConfig is returned for an AdminConfig that cannot be served.
var ErrInvalidConfig = errors.New("observe: invalid configuration")

// AdminConfig configures an admin server. Only Addr is required.
// A plain value: copy it freely; safe to read from many goroutines while none changes it.
type AdminConfig struct {
	// Addr is the listen address. A bare port (":9100" or "9100") listens
	// on 127.0.0.1. Any other non-loopback address needs Token.
	Addr string
	// Token, if set, is required as "Authorization: Bearer <token>" on
	// /metrics and /debug/pprof/ (not on /healthz and /readyz, which
	// say only ok or not, for probes that carry no credentials).
	Token string
	// Metrics is served at /metrics. Nil means 404.
	Metrics http.Handler
	// Ready reports readiness for /readyz: nil means ready (200), an
	// error means 503 with its text. Nil Ready means always ready.
	Ready func() error
	// Pprof serves net/http/pprof under /debug/pprof/. False means 404:
	// profiles are opt-in.
	Pprof bool
	// ReadHeaderTimeout bounds a request head. Zero means 10 s
	// (HAProxy's timeout http-request); IdleTimeout a keep-alive
	// connection, zero meaning 120 s (net/http's habit for servers
	// that set one).
	ReadHeaderTimeout, IdleTimeout time.Duration
}

// AdminServer serves /metrics, /healthz, /readyz and, when asked,
// /debug/pprof/ on a listener of its own, apart from public traffic. It
// is safe for concurrent use by multiple goroutines; Serve runs one
// http.Server until its context ends.
type AdminServer struct {
	cfg  AdminConfig
	addr string
	mux  *http.ServeMux
}

// ListenAddr returns the address an admin Addr listens on: a bare port
// is put on 127.0.0.1.
func ListenAddr(addr string) string {
	if !strings.Contains(addr, ":") {
		return "127.0.0.1:" + addr
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// IsLoopback reports whether a listen address is on a loopback interface
// (127.0.0.0/8, ::1, localhost).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// NewAdmin validates cfg and returns an AdminServer.
func NewAdmin(cfg AdminConfig) (*AdminServer, error) {
	if cfg.Addr == "" {
		return nil, fmt.Errorf("%w: empty admin address", ErrInvalidConfig)
	}
	addr := ListenAddr(cfg.Addr)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: admin address %q: %v", ErrInvalidConfig, cfg.Addr, err)
	}
	if !IsLoopback(addr) && cfg.Token == "" {
		return nil, fmt.Errorf("%w: %s: set a token (metrics and profiles are not for the open network)", ErrNotLoopback, addr)
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	s := &AdminServer{cfg: cfg, addr: addr, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.guard(cfg.Metrics))
	}
	if cfg.Pprof {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		s.mux.Handle("/debug/pprof/", s.guard(pp))
	}
	return s, nil
}

// guard asks for the token, when one is set, compared in constant time.
func (s *AdminServer) guard(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgekit admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Addr returns the address the server listens on (Listen's argument).
func (s *AdminServer) Addr() string { return s.addr }

// Handler returns the server's routes, for serving them on a listener of
// one's own.
func (s *AdminServer) Handler() http.Handler { return s.mux }

// Listen binds the admin address, so that a taken port fails before the
// program says it is serving.
func (s *AdminServer) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("observe: admin listener: %w", err)
	}
	return ln, nil
}

// Serve serves ln until ctx ends, then closes it (requests in flight get
// a second to finish: scrapes are short, profiles are cut).
func (s *AdminServer) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}
