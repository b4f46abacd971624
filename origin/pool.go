package origin

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/drain"
	"github.com/edgekit/edgekit/internal/h1"
	"github.com/edgekit/edgekit/internal/retry"
	"go.uber.org/zap"
)

// Origin is one upstream server.
// A plain value, safe for concurrent use while no goroutine changes it.
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
	// TLS configures connections to an https origin, requests and health
	// checks alike: the authorities trusted to sign its certificate
	// (RootCAs), a client certificate for origins that require one
	// (Certificates, mTLS), the name verified (ServerName). Its
	// certificate is verified unless InsecureSkipVerify. Nil means the
	// system's roots and no client certificate. It needs the default
	// Config.Transport (a Transport of your own carries its own TLS
	// settings) and an https URL; New copies it.
	// package tlsfront's ClientTLS builds one from files.
	TLS *tls.Config
}

// Steering chooses how a Pool orders origins.
// A plain value, safe for concurrent use while no goroutine changes it.
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

// HealthCheck configures active health checks, run by package balancer's
// health loop (the same rise/fall logic as a balancer.Pool's). The zero
// value disables them.
// A plain value, safe for concurrent use while no goroutine changes it.
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
// A plain value, safe for concurrent use while no goroutine changes it.
// New copies it.
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
	// Transport sends requests. Nil means edgekit's proxy transport (the
	// one balancer.Proxy uses; its errors are named in package balancer):
	// 256 idle keep-alive connections per origin, GET and HEAD without a
	// body handled on the request's goroutine, the rest by an
	// http.Transport (HTTP/2 for https origins). Bodies pass through as
	// the origin sent them: no gzip is requested on a client's behalf.
	Transport http.RoundTripper
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called at attempts, failovers, ejections and
	// health transitions. Nil means none.
	Trace *Trace
}

// State is an origin's availability: package balancer's State (an
// origin is never Draining).
// A plain value, safe for concurrent use while no goroutine changes it.
type State = balancer.State

// The states an origin can be in.
const (
	Healthy   = balancer.Healthy
	Ejected   = balancer.Ejected   // passively, for a backing-off period
	Unhealthy = balancer.Unhealthy // by active health checks
)

// Pool is a set of origins with selection and failover. It is an
// http.RoundTripper. It is safe for concurrent use by multiple goroutines
// and must not be copied.
type Pool struct {
	cfg Config
	// bal holds the origins' health, ejection and latency, and picks
	// through the ranking policy: one implementation for both packages.
	bal      *balancer.Pool
	origins  []*member          // in configuration order
	byHost   map[string]*member // by URL host, the origins' balancer IDs
	tr       http.RoundTripper
	ownTr    *h1.Transport
	now      func() time.Time
	log      *zap.Logger
	attempts int
}

// member is an origin and its counters; the fields other than the
// atomics are immutable.
type member struct {
	Origin
	u        *url.URL
	tr       *http.Transport // for an origin with TLS settings; nil: the pool's
	distance float64         // ranking under Geography, from the edge's location

	requests  atomic.Uint64
	errors    atomic.Uint64
	failovers atomic.Uint64
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
	p := &Pool{cfg: cfg, now: clock.Or(cfg.Now), log: cfg.Logger, byHost: map[string]*member{}}
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
		o.Weight = cmp.Or(o.Weight, 1)
		if o.Name == "" {
			o.Name = u.Host
		}
		if o.TLS != nil && (u.Scheme != "https" || cfg.Transport != nil) {
			return nil, fmt.Errorf("%w: origin %d: TLS settings need an https URL and the default Transport", ErrInvalidConfig, i)
		}
		o.TLS = o.TLS.Clone()
		m := &member{Origin: o, u: u}
		m.distance = p.distance(m)
		if _, dup := p.byHost[u.Host]; dup {
			return nil, fmt.Errorf("%w: origin host %s listed twice", ErrInvalidConfig, u.Host)
		}
		p.byHost[u.Host] = m
		p.origins = append(p.origins, m)
	}
	p.attempts = cfg.MaxAttempts
	p.attempts = cmp.Or(p.attempts, min(3, len(p.origins)))
	p.cfg.TryTimeout = cmp.Or(p.cfg.TryTimeout, 10*time.Second)
	p.cfg.Timeout = cmp.Or(p.cfg.Timeout, 30*time.Second)
	p.cfg.EjectAfter = cmp.Or(p.cfg.EjectAfter, 3)
	p.cfg.EjectBase = cmp.Or(p.cfg.EjectBase, 5*time.Second)
	p.cfg.EjectMax = cmp.Or(p.cfg.EjectMax, 5*time.Minute)
	h := &p.cfg.Health
	if h.Path == "" {
		h.Path = "/"
	}
	// Timeout, Rise and Fall keep their zero values: package balancer
	// applies the defaults this package documents (they are its own).
	p.tr = cfg.Transport
	if p.tr == nil {
		p.ownTr = h1.New(5*time.Second, true)
		p.ownTr.MaxIdlePerHost = 256
		p.ownTr.Logger = p.log.Named("h1")
		p.tr = p.ownTr
		for _, m := range p.origins {
			if m.TLS != nil {
				m.tr = p.ownTr.Fallback.Clone()
				m.tr.TLSClientConfig = m.TLS.Clone()
			}
		}
	}
	bal, err := balancer.New(balancer.Config{
		Policy: rankPolicy{p},
		Outlier: balancer.OutlierDetection{
			Consecutive:        p.cfg.EjectAfter,
			BaseEjection:       p.cfg.EjectBase,
			MaxEjection:        p.cfg.EjectMax,
			MaxEjectionPercent: 100, // origins have no ejection cap
		},
		Health: balancer.HealthCheck{
			Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall,
			Probe: p.check,
		},
		// Origins out of rotation are still tried, after the others.
		LastResort: true,
		Now:        p.now,
		Logger:     p.log.Named("balancer"),
		Trace:      p.balancerTrace(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, m := range p.origins {
		if err := bal.Add(balancer.Backend{ID: m.u.Host, Addr: m.u.Host, Weight: m.Weight}); err != nil {
			bal.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	p.bal = bal
	return p, nil
}

// Close stops health checks and closes idle connections. It is idempotent.
func (p *Pool) Close() error {
	p.bal.Close()
	if p.ownTr != nil {
		p.ownTr.CloseIdleConnections()
	}
	for _, m := range p.origins {
		if m.tr != nil {
			m.tr.CloseIdleConnections()
		}
	}
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

var (
	_ http.RoundTripper = (*Pool)(nil)
	_ io.Closer         = (*Pool)(nil)
	_ interface {
		balancer.Policy
		balancer.KeyReader
		balancer.LoadReader
	} = rankPolicy{}
	_ balancer.Picker = (*rankPicker)(nil)
)

// rankPolicy is the balancer Policy that ranks origins by Steering: its
// Picker returns the best-ranked origin not yet tried (PickInfo.Exclude),
// at random by weight among equals. Static ranks (priority, distance) are
// computed once per snapshot; latency is read from the balancer's
// measurements at each pick, without a lock.
type rankPolicy struct{ p *Pool }

func (rankPolicy) ReadsKey() bool          { return false }
func (rankPolicy) ReadsPoolInFlight() bool { return false }

func (r rankPolicy) Build(eps []balancer.Endpoint) balancer.Picker {
	rp := &rankPicker{steering: r.p.cfg.Steering, eps: eps, ids: make([]string, len(eps)), rank: make([][2]float64, len(eps))}
	for i, e := range eps {
		id := e.Backend().ID
		rp.ids[i] = id
		if m := r.p.byHost[id]; m != nil {
			switch r.p.cfg.Steering {
			case Geography:
				rp.rank[i] = [2]float64{m.distance, float64(m.Priority)}
			case Latency:
				rp.rank[i] = [2]float64{0, float64(m.Priority)} // [0] read per pick
			default:
				rp.rank[i] = [2]float64{float64(m.Priority), 0}
			}
		}
	}
	return rp
}

type rankPicker struct {
	steering Steering
	eps      []balancer.Endpoint
	ids      []string
	rank     [][2]float64 // static rank; under Latency, [0] is the latency
}

func (rp *rankPicker) key(i int) [2]float64 {
	k := rp.rank[i]
	if rp.steering == Latency {
		k[0] = rp.eps[i].Latency().Seconds() // unmeasured (0) looks fastest
	}
	return k
}

func less(a, b [2]float64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

func (rp *rankPicker) Pick(info balancer.PickInfo) balancer.Endpoint {
	// The best rank among origins not yet tried, then a weighted random
	// choice among the origins of that rank.
	best, total, found := [2]float64{}, 0, false
	for i := range rp.eps {
		if slices.Contains(info.Exclude, rp.ids[i]) {
			continue
		}
		switch k := rp.key(i); {
		case !found || less(k, best):
			best, total, found = k, rp.eps[i].Weight(), true
		case k == best:
			total += rp.eps[i].Weight()
		}
	}
	if !found {
		return balancer.Endpoint{}
	}
	n := rand.IntN(total)
	var last balancer.Endpoint
	for i := range rp.eps {
		if slices.Contains(info.Exclude, rp.ids[i]) || rp.key(i) != best {
			continue
		}
		last = rp.eps[i]
		if n -= rp.eps[i].Weight(); n < 0 {
			break
		}
	}
	return last
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

func retryableStatus(code int) bool { return code == 502 || code == 503 || code == 504 }

// RoundTrip sends req to the best origin, failing over for idempotent
// requests. The request's URL path and query are kept; scheme, host and
// path prefix come from the origin. It returns ErrAllFailed (wrapping the
// last error) when no origin answered; when every origin answered with
// 502/503/504, the last such response is returned.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), p.cfg.Timeout)
	attempts := 1
	if retry.Replayable(req) {
		attempts = p.attempts
	}
	var lastErr error
	var lastResp *http.Response
	var tried []string
	var prev *member // the origin tried last (Trace)
	for i := 0; i < attempts; i++ {
		pk, err := p.bal.Pick(balancer.PickInfo{Exclude: tried})
		if err != nil {
			if i == 0 {
				lastErr = err
			}
			break // every origin tried
		}
		m := p.byHost[pk.Backend().ID]
		tried = append(tried, pk.Backend().ID)
		if i > 0 {
			m.failovers.Add(1)
			if p.cfg.Trace != nil && p.cfg.Trace.Failover != nil {
				p.cfg.Trace.Failover(req.Context(), FailoverEvent{From: prev.Name, To: m.Name, Attempt: i, Err: lastErr})
			}
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					pk.Done(balancer.DoneInfo{Aborted: true})
					cancel()
					return nil, err
				}
				req = req.Clone(req.Context())
				req.Body = body
			}
		}
		if lastResp != nil {
			drain.Close(lastResp.Body)
			lastResp = nil
		}
		var start time.Time
		if p.cfg.Trace != nil {
			start, prev = p.now(), m
		}
		resp, err := p.try(ctx, m, pk, req)
		if p.cfg.Trace != nil {
			p.traceAttempt(req.Context(), m, i, resp, p.now().Sub(start), err)
		}
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

// try sends req to m, picked as pk, and reports the outcome to the
// balancer: the origin's own failures feed its ejection, a client's fault
// does not count, and a success's time to headers feeds latency steering.
func (p *Pool) try(ctx context.Context, m *member, pk balancer.Pick, req *http.Request) (*http.Response, error) {
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
	tr := p.tr
	if m.tr != nil {
		tr = m.tr
	}
	resp, err := tr.RoundTrip(out)
	timer.Stop()
	// One of our timers (TryTimeout, or Timeout through ctx) ended the
	// wait, not the client: looked at before tcancel, and whichever fired
	// first or however late the transport says so (its error may be a
	// bare "request canceled").
	timedOut := err != nil && tctx.Err() != nil && req.Context().Err() == nil
	elapsed := p.now().Sub(start)
	if err != nil {
		tcancel()
		// Only the origin's own failures count toward its ejection: not
		// a client that left, cancelled, sent a short body or a request
		// no transport would send.
		if !blame.Backend(req.Context(), out, body, err) {
			pk.Done(balancer.DoneInfo{Aborted: true})
			return nil, &blame.ClientError{Err: err}
		}
		if timedOut && !errors.Is(err, context.DeadlineExceeded) {
			limit := p.cfg.TryTimeout
			if ctx.Err() != nil && p.cfg.Timeout < limit {
				limit = p.cfg.Timeout
			}
			err = fmt.Errorf("origin %s: no response within %v: %w (%w)", m.Name, limit, context.DeadlineExceeded, err)
		}
		m.errors.Add(1)
		pk.Done(balancer.DoneInfo{Err: err})
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: tcancel}
	if retryableStatus(resp.StatusCode) {
		m.errors.Add(1)
		pk.Done(balancer.DoneInfo{Err: fmt.Errorf("origin %s answered %d", m.Name, resp.StatusCode)})
	} else {
		pk.Done(balancer.DoneInfo{Latency: max(elapsed, 1)})
	}
	return resp, nil
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

// CheckNow runs one round of active health checks on every origin and
// applies the rise/fall thresholds (package balancer's health loop). The
// health-check goroutine calls it every Health.Interval; tests and
// operators may call it directly.
func (p *Pool) CheckNow(ctx context.Context) { p.bal.CheckNow(ctx) }

// check probes one origin: a GET of its path prefix plus Health.Path.
func (p *Pool) check(ctx context.Context, b balancer.Backend) bool {
	m := p.byHost[b.ID]
	if m == nil {
		return false
	}
	// The probe itself is package balancer's, shared by both packages.
	hc := balancer.HealthCheck{
		Path:    strings.TrimSuffix(m.u.Path, "/") + p.cfg.Health.Path,
		Timeout: p.cfg.Health.Timeout,
		HTTPS:   m.u.Scheme == "https",
		TLS:     m.TLS,
	}
	return hc.Check(ctx, m.u.Host)
}

// OriginStats is one origin's counters and state.
// A snapshot, a plain value, safe for concurrent use while no goroutine
// changes it.
type OriginStats struct {
	Name      string
	State     State
	Requests  uint64
	Errors    uint64
	Ejections uint64
	// Failovers counts requests that reached this origin after another
	// failed.
	Failovers uint64
	// Latency is the peak-sensitive moving average of time to response
	// headers (package balancer's).
	Latency time.Duration
}

// Stats returns every origin's counters, in configuration order.
func (p *Pool) Stats() []OriginStats {
	byID := map[string]balancer.BackendStats{}
	for _, b := range p.bal.Stats() {
		byID[b.ID] = b
	}
	out := make([]OriginStats, 0, len(p.origins))
	for _, m := range p.origins {
		b := byID[m.u.Host]
		out = append(out, OriginStats{Name: m.Name, State: b.State, Latency: b.Latency, Ejections: b.Ejections,
			Requests: m.requests.Load(), Errors: m.errors.Load(), Failovers: m.failovers.Load()})
	}
	return out
}

// IsTimeout reports whether err (from RoundTrip) ended in a timeout, for
// choosing 504 over 502.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
