package balancer

import (
	"cmp"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// HealthCheck configures active health checks. The zero value disables
// them (Interval 0). It is a plain value; Check may be called from many
// goroutines at once.
type HealthCheck struct {
	// Interval between checks. Zero disables active checks.
	Interval time.Duration
	// Timeout of one check. Zero means 2 s.
	Timeout time.Duration
	// Path, if set, makes the check an HTTP GET of http://Addr+Path that
	// must answer 2xx or 3xx; empty means a TCP connect.
	Path string
	// Host, if set, is sent as the Host of HTTP checks.
	Host string
	// HTTPS makes HTTP checks use TLS (certificates are verified).
	HTTPS bool
	// TLS configures HTTPS checks (trusted authorities, a client
	// certificate). Nil means the system's roots and no client
	// certificate.
	TLS *tls.Config
	// Expect, if set, must appear in the HTTP response body.
	Expect string
	// Rise successes in a row mark a backend healthy; Fall failures
	// unhealthy. Zero means 2 and 3.
	Rise, Fall int
	// Probe, if set, replaces the probe above for a Pool's checks (Path,
	// Host, HTTPS and Expect are then unused): it runs once per backend
	// per round, concurrently for different backends, with a ctx that
	// ends after Timeout, and reports whether b passed. It must return
	// when ctx ends. Nil means Check(ctx, b.Addr).
	Probe func(ctx context.Context, b Backend) bool
}

func (h *HealthCheck) defaults() {
	h.Timeout = cmp.Or(h.Timeout, 2*time.Second)
	h.Rise = cmp.Or(h.Rise, 2)
	h.Fall = cmp.Or(h.Fall, 3)
}

// Check probes one address once with the configured check and reports
// whether it passed. It is usable without a Pool (package origin does).
func (h HealthCheck) Check(ctx context.Context, addr string) bool {
	h.defaults()
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	if h.Path == "" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	scheme := "http://"
	if h.HTTPS {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+addr+h.Path, nil)
	if err != nil {
		return false
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: h.TLS.Clone()}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false
	}
	if h.Expect != "" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return strings.Contains(string(b), h.Expect)
	}
	return true
}

// probe checks one backend once.
func (p *Pool) probe(ctx context.Context, b Backend) bool {
	h := &p.cfg.Health
	if h.Probe == nil {
		return h.Check(ctx, b.Addr)
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	return h.Probe(ctx, b)
}

func (p *Pool) healthLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.Health.Interval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-done:
			}
		}()
		p.CheckNow(ctx)
		close(done)
		cancel()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// CheckNow runs one round of active health checks on every backend and
// applies rise/fall. The health-check goroutine calls it every Interval;
// tests and operators may call it directly.
func (p *Pool) CheckNow(ctx context.Context) {
	p.mu.Lock()
	ms := make([]*member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	changed := make(chan HealthEvent, len(ms))
	for _, m := range ms {
		wg.Add(1)
		go func(m *member) {
			defer wg.Done()
			ok := p.probe(ctx, m.Backend)
			m.mu.Lock()
			defer m.mu.Unlock()
			if ok {
				m.fall = 0
				m.rise++
				if m.unhealthy && m.rise >= p.cfg.Health.Rise {
					m.unhealthy = false
					if p.cfg.SlowStart > 0 {
						m.rampFrom = p.now()
					}
					changed <- HealthEvent{Backend: m.Backend, Healthy: true}
					p.log.Debug("balancer: healthy", zap.String("backend", m.ID))
				}
			} else {
				m.rise = 0
				m.fall++
				if !m.unhealthy && m.fall >= p.cfg.Health.Fall {
					m.unhealthy = true
					changed <- HealthEvent{Backend: m.Backend}
					p.log.Debug("balancer: unhealthy", zap.String("backend", m.ID))
				}
			}
		}(m)
	}
	wg.Wait()
	close(changed)
	if len(changed) > 0 {
		p.rebuild()
	}
	if p.trace != nil && p.trace.HealthTransition != nil {
		for ev := range changed {
			p.trace.HealthTransition(ev)
		}
	}
}
