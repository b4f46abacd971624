package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/h1"
	"go.uber.org/zap"
)

// Origin is one upstream server.
type Origin struct {
	// Name identifies the origin in stats and logs. Empty means the URL's
	// host.
	Name string
	// URL is the base URL: scheme, host, port, and an optional path
	// prefix put before every request path.
	URL string
	// Region names where the origin is (for Steering Geography without
	// coordinates).
	Region string
	// Lat and Lon locate the origin in degrees (for Steering Geography).
	Lat, Lon float64
	// Priority orders origins under Steering Priority: lower first (0 is
	// the primary).
	Priority int
	// Weight spreads load among origins of equal rank. Zero means 1.
	Weight int
}

// Steering chooses how a Pool orders origins.
type Steering int

const (
	// Priority: by Origin.Priority, then weighted random among equals.
	Priority Steering = iota
	// Geography: nearest first, by coordinates when both the edge and the
	// origin have them, else same region first; then priority.
	Geography
	// Latency: lowest moving-average response time first; origins not yet
	// measured are tried as if they were the fastest.
	Latency
)

// HealthCheck configures active health checks. The zero value disables
// them.
type HealthCheck struct {
	// Path is requested with GET on each origin. Empty means "/".
	Path string
	// Interval between checks. Zero disables active checks.
	Interval time.Duration
	// Timeout of one check. Zero means 2 s.
	Timeout time.Duration
	// Rise consecutive successes mark an origin healthy; Fall consecutive
	// failures unhealthy. Zero means 2 and 3.
	Rise, Fall int
}

// Config configures a Pool. Origins is required; every other zero value
// is a documented default.
type Config struct {
	Origins  []Origin
	Steering Steering
	// Region, Lat and Lon locate the edge itself, for Geography.
	Region   string
	Lat, Lon float64
	// MaxAttempts bounds the origins one idempotent request tries. Zero
	// means min(3, number of origins).
	MaxAttempts int
	// TryTimeout bounds one attempt until response headers arrive. Zero
	// means 10 s.
	TryTimeout time.Duration
	// Timeout bounds all attempts of a request together. Zero means 30 s.
	Timeout time.Duration
	// EjectAfter consecutive failures eject an origin. Zero means 3.
	// Only the origin's own failures count (connection errors, resets and
	// timeouts while it owns the exchange, 502/503/504), never a client's
	// (one that left or cancelled, sent a short body or a request no
	// transport would send).
	EjectAfter int
	// EjectBase is the first ejection's length; each further ejection in
	// a row doubles it, up to EjectMax. Zero means 5 s and 5 min.
	EjectBase, EjectMax time.Duration
	// OriginHost sends the origin's host as Host instead of the client's.
	OriginHost bool
	// Health configures active health checks.
	Health HealthCheck
	// Transport sends requests. Nil means edgekit's proxy transport
	// (internal/h1): 256 idle keep-alive connections per origin, GET and
	// HEAD without a body handled on the request's goroutine, the rest by
	// an http.Transport (HTTP/2 for https origins). Bodies pass through
	// as the origin sent them: no gzip is requested on a client's behalf.
	Transport http.RoundTripper
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
}

// State is an origin's availability.
type State int

const (
	Healthy   State = iota
	Ejected         // passively, for a backing-off period
	Unhealthy       // by active health checks
)

// String returns the state's name.
func (s State) String() string {
	return [...]string{"healthy", "ejected", "unhealthy"}[s]
}

// Pool is a set of origins with selection and failover. It is an
// http.RoundTripper. It is safe for concurrent use by multiple goroutines
// and must not be copied.
type Pool struct {
	cfg      Config
	origins  []*member
	byHost   map[string]*member
	tr       http.RoundTripper
	ownTr    *h1.Transport
	now      func() time.Time
	log      *zap.Logger
	attempts int

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type member struct {
	Origin
	u *url.URL

	mu           sync.Mutex
	consecutive  int
	ejections    int
	ejectedUntil time.Time
	unhealthy    bool
	rise, fall   int
	ewma         float64 // seconds; 0 = not measured
	requests     atomic.Uint64
	errors       atomic.Uint64
	ejectCount   atomic.Uint64
	failovers    atomic.Uint64
}

// New returns a Pool configured by cfg and starts its health checks.
func New(cfg Config) (*Pool, error) {
	if len(cfg.Origins) == 0 {
		return nil, ErrNoOrigins
	}
	if cfg.MaxAttempts < 0 || cfg.TryTimeout < 0 || cfg.Timeout < 0 || cfg.EjectAfter < 0 ||
		cfg.EjectBase < 0 || cfg.EjectMax < 0 || cfg.Health.Interval < 0 || cfg.Health.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	p := &Pool{cfg: cfg, now: clock.Or(cfg.Now), log: cfg.Logger, byHost: map[string]*member{}, stop: make(chan struct{})}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	for i, o := range cfg.Origins {
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: origin %d: URL %q must be http(s)://host[:port][/prefix]", ErrInvalidConfig, i, o.URL)
		}
		if o.Weight < 0 {
			return nil, fmt.Errorf("%w: origin %d: negative weight", ErrInvalidConfig, i)
		}
		if o.Weight == 0 {
			o.Weight = 1
		}
		if o.Name == "" {
			o.Name = u.Host
		}
		m := &member{Origin: o, u: u}
		if _, dup := p.byHost[u.Host]; dup {
			return nil, fmt.Errorf("%w: origin host %s listed twice", ErrInvalidConfig, u.Host)
		}
		p.byHost[u.Host] = m
		p.origins = append(p.origins, m)
	}
	p.attempts = cfg.MaxAttempts
	if p.attempts == 0 {
		p.attempts = min(3, len(p.origins))
	}
	if p.cfg.TryTimeout == 0 {
		p.cfg.TryTimeout = 10 * time.Second
	}
	if p.cfg.Timeout == 0 {
		p.cfg.Timeout = 30 * time.Second
	}
	if p.cfg.EjectAfter == 0 {
		p.cfg.EjectAfter = 3
	}
	if p.cfg.EjectBase == 0 {
		p.cfg.EjectBase = 5 * time.Second
	}
	if p.cfg.EjectMax == 0 {
		p.cfg.EjectMax = 5 * time.Minute
	}
	h := &p.cfg.Health
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Second
	}
	if h.Rise == 0 {
		h.Rise = 2
	}
	if h.Fall == 0 {
		h.Fall = 3
	}
	p.tr = cfg.Transport
	if p.tr == nil {
		p.ownTr = h1.New(5*time.Second, true)
		p.ownTr.MaxIdlePerHost = 256
		p.ownTr.Logger = p.log.Named("h1")
		p.tr = p.ownTr
	}
	if h.Interval > 0 {
		p.wg.Add(1)
		go p.healthLoop()
	}
	return p, nil
}

// Close stops health checks and closes idle connections. It is idempotent.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.ownTr != nil {
			p.ownTr.CloseIdleConnections()
		}
	})
	return nil
}

// ServedBy returns the name of the origin whose response resp is, or "".
func (p *Pool) ServedBy(resp *http.Response) string {
	if resp == nil || resp.Request == nil || resp.Request.URL == nil {
		return ""
	}
	if m := p.byHost[resp.Request.URL.Host]; m != nil {
		return m.Name
	}
	return ""
}

func (m *member) available(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.unhealthy && !now.Before(m.ejectedUntil)
}

// order returns the origins in the order to try them for one request.
func (p *Pool) order() []*member {
	now := p.now()
	list := make([]*member, len(p.origins))
	copy(list, p.origins)
	// A weighted shuffle first (Efraimidis-Spirakis: key u^(1/w)), so
	// origins of equal rank share load by weight; the stable sort below
	// keeps that order among equals.
	keys := make(map[*member]float64, len(list))
	for _, m := range list {
		keys[m] = math.Pow(rand.Float64(), 1/float64(m.Weight))
	}
	sort.Slice(list, func(i, j int) bool { return keys[list[i]] > keys[list[j]] })
	rank := func(m *member) (float64, float64) {
		switch p.cfg.Steering {
		case Geography:
			return p.distance(m), float64(m.Priority)
		case Latency:
			m.mu.Lock()
			e := m.ewma
			m.mu.Unlock()
			return e, float64(m.Priority)
		}
		return float64(m.Priority), 0
	}
	avail := map[*member]bool{}
	for _, m := range list {
		avail[m] = m.available(now)
	}
	sort.SliceStable(list, func(i, j int) bool {
		if avail[list[i]] != avail[list[j]] {
			return avail[list[i]] // available origins first; the rest as a last resort
		}
		a1, a2 := rank(list[i])
		b1, b2 := rank(list[j])
		if a1 != b1 {
			return a1 < b1
		}
		return a2 < b2
	})
	return list
}

// distance ranks an origin for Geography: kilometres when coordinates are
// known on both sides, else 0 for the same region and 20,000 otherwise.
func (p *Pool) distance(m *member) float64 {
	if (p.cfg.Lat != 0 || p.cfg.Lon != 0) && (m.Lat != 0 || m.Lon != 0) {
		return haversineKm(p.cfg.Lat, p.cfg.Lon, m.Lat, m.Lon)
	}
	if p.cfg.Region != "" && strings.EqualFold(p.cfg.Region, m.Region) {
		return 0
	}
	return 20000
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
	}
	return false
}

func retryableStatus(code int) bool { return code == 502 || code == 503 || code == 504 }

// RoundTrip sends req to the best origin, failing over for idempotent
// requests. The request's URL path and query are kept; scheme, host and
// path prefix come from the origin. It returns ErrAllFailed (wrapping the
// last error) when no origin answered; when every origin answered with
// 502/503/504, the last such response is returned.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), p.cfg.Timeout)
	order := p.order()
	attempts := 1
	if idempotent(req) {
		attempts = min(p.attempts, len(order))
	}
	var lastErr error
	var lastResp *http.Response
	for i := 0; i < attempts; i++ {
		m := order[i]
		if i > 0 {
			m.failovers.Add(1)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					cancel()
					return nil, err
				}
				req = req.Clone(req.Context())
				req.Body = body
			}
		}
		if lastResp != nil {
			drain(lastResp.Body)
			lastResp = nil
		}
		resp, err := p.try(ctx, m, req)
		var client *blame.ClientError
		if errors.As(err, &client) {
			// The client's fault: no other origin would do better.
			cancel()
			return nil, err
		}
		if err == nil && !retryableStatus(resp.StatusCode) {
			resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		if err != nil {
			lastErr = err
		} else {
			lastResp = resp
			lastErr = fmt.Errorf("origin %s answered %d", m.Name, resp.StatusCode)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if lastResp != nil {
		lastResp.Body = &cancelBody{ReadCloser: lastResp.Body, cancel: cancel}
		return lastResp, nil
	}
	cancel()
	return nil, fmt.Errorf("%w: %w", ErrAllFailed, lastErr)
}

func (p *Pool) try(ctx context.Context, m *member, req *http.Request) (*http.Response, error) {
	tctx, tcancel := context.WithCancel(ctx)
	timer := time.AfterFunc(p.cfg.TryTimeout, tcancel)
	out := req.Clone(tctx)
	out.URL.Scheme = m.u.Scheme
	out.URL.Host = m.u.Host
	if prefix := strings.TrimSuffix(m.u.Path, "/"); prefix != "" {
		out.URL.Path = prefix + req.URL.Path
		if req.URL.RawPath != "" {
			out.URL.RawPath = prefix + req.URL.RawPath
		}
	}
	out.RequestURI = ""
	if p.cfg.OriginHost || out.Host == "" {
		out.Host = m.u.Host
	}
	out, body := blame.WrapBody(out)
	start := p.now()
	m.requests.Add(1)
	resp, err := p.tr.RoundTrip(out)
	stopped := timer.Stop()
	elapsed := p.now().Sub(start)
	if err != nil {
		tcancel()
		// Only the origin's own failures count toward its ejection: not
		// a client that left, cancelled, sent a short body or a request
		// no transport would send.
		if !blame.Backend(req.Context(), out, body, err) {
			return nil, &blame.ClientError{Err: err}
		}
		if !stopped && ctx.Err() == nil {
			err = fmt.Errorf("origin %s: no response within %v: %w", m.Name, p.cfg.TryTimeout, context.DeadlineExceeded)
		}
		p.failure(m)
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: tcancel}
	if retryableStatus(resp.StatusCode) {
		p.failure(m)
	} else {
		p.success(m, elapsed)
	}
	return resp, nil
}

func (p *Pool) failure(m *member) {
	m.errors.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consecutive++
	if m.consecutive >= p.cfg.EjectAfter && !p.now().Before(m.ejectedUntil) {
		d := p.cfg.EjectBase << min(m.ejections, 20)
		if d > p.cfg.EjectMax || d <= 0 {
			d = p.cfg.EjectMax
		}
		m.ejectedUntil = p.now().Add(d)
		m.ejections++
		m.consecutive = 0
		m.ejectCount.Add(1)
		p.log.Debug("origin: ejected", zap.String("origin", m.Name), zap.Duration("for", d))
	}
}

func (p *Pool) success(m *member, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consecutive = 0
	if !p.now().Before(m.ejectedUntil) {
		m.ejections = 0
	}
	s := elapsed.Seconds()
	if m.ewma == 0 {
		m.ewma = s
	} else {
		m.ewma = 0.3*s + 0.7*m.ewma
	}
}

// cancelBody releases a request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}

func drain(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

func (p *Pool) healthLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.Health.Interval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		p.CheckNow(ctx)
		cancel()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// CheckNow runs one round of active health checks on every origin and
// applies the rise/fall thresholds. The health-check goroutine calls it
// every Health.Interval; tests and operators may call it directly.
func (p *Pool) CheckNow(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range p.origins {
		wg.Add(1)
		go func(m *member) {
			defer wg.Done()
			ok := p.check(ctx, m)
			m.mu.Lock()
			defer m.mu.Unlock()
			if ok {
				m.fall = 0
				m.rise++
				if m.unhealthy && m.rise >= p.cfg.Health.Rise {
					m.unhealthy = false
					p.log.Debug("origin: healthy", zap.String("origin", m.Name))
				}
			} else {
				m.rise = 0
				m.fall++
				if !m.unhealthy && m.fall >= p.cfg.Health.Fall {
					m.unhealthy = true
					p.log.Debug("origin: unhealthy", zap.String("origin", m.Name))
				}
			}
		}(m)
	}
	wg.Wait()
}

func (p *Pool) check(ctx context.Context, m *member) bool {
	// The probe itself is package balancer's, shared by both packages.
	hc := balancer.HealthCheck{
		Path:    strings.TrimSuffix(m.u.Path, "/") + p.cfg.Health.Path,
		Timeout: p.cfg.Health.Timeout,
		HTTPS:   m.u.Scheme == "https",
	}
	return hc.Check(ctx, m.u.Host)
}

// OriginStats is one origin's counters and state.
type OriginStats struct {
	Name      string
	State     State
	Requests  uint64
	Errors    uint64
	Ejections uint64
	// Failovers counts requests that reached this origin after another
	// failed.
	Failovers uint64
	// Latency is the moving average of time to response headers.
	Latency time.Duration
}

// Stats returns every origin's counters, in configuration order.
func (p *Pool) Stats() []OriginStats {
	now := p.now()
	out := make([]OriginStats, 0, len(p.origins))
	for _, m := range p.origins {
		m.mu.Lock()
		st := OriginStats{Name: m.Name, Latency: time.Duration(m.ewma * float64(time.Second))}
		switch {
		case m.unhealthy:
			st.State = Unhealthy
		case now.Before(m.ejectedUntil):
			st.State = Ejected
		}
		m.mu.Unlock()
		st.Requests, st.Errors, st.Ejections, st.Failovers = m.requests.Load(), m.errors.Load(), m.ejectCount.Load(), m.failovers.Load()
		out = append(out, st)
	}
	return out
}

// IsTimeout reports whether err (from RoundTrip) ended in a timeout, for
// choosing 504 over 502.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
