package balancer

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/zap"
)

// Balancer picks a backend for a request or connection. Pool is the
// default implementation; Proxy and TCPProxy accept any Balancer.
// Implementations must be safe for concurrent use by multiple goroutines.
//
// What only some balancers can do is asked for through optional
// interfaces, found by type assertion: StickyBalancer (pick a given
// backend again, for sticky sessions) and KeyReader (whether picks read
// PickInfo.Key, so callers spare computing one).
type Balancer interface {
	// Pick chooses a backend. It never blocks. The caller must call
	// Pick.Done when the request or connection ends.
	Pick(info PickInfo) (Pick, error)
}

// StickyBalancer is a Balancer that can pick a given backend again, which
// Proxy's sticky sessions need; Proxy ignores its sticky cookie for
// balancers without it.
// Like any Balancer, implementations must be safe for concurrent use by
// multiple goroutines.
type StickyBalancer interface {
	Balancer
	// PickByIDHash picks the available backend whose ID hashes to h
	// (HashID); ok is false when no such backend is available, and the
	// caller then picks as usual.
	PickByIDHash(h uint64) (pk Pick, ok bool)
}

// KeyReader is implemented by a Policy or a Balancer to say whether its
// picks read PickInfo.Key. Callers compute a key (for Proxy, a string per
// request) only for those that read it or do not say.
// Proxy asks a Balancer per request, from many goroutines at once; a Pool
// asks its Policy once, in New. ReadsKey must be safe for concurrent use
// and return the same answer every time.
type KeyReader interface {
	ReadsKey() bool
}

// LoadReader is implemented by a Policy to say whether its picks read
// Endpoint.PoolInFlight. A Pool keeps that pool-wide count (one more
// atomic add per pick and per Done) only for policies that read it or do
// not say; for the others PoolInFlight reports 0.
// A Pool asks once, in New (never concurrently); the answer must not
// change.
type LoadReader interface {
	ReadsPoolInFlight() bool
}

// HashID is the stable hash of a backend ID that hash policies place keys
// by and sticky cookies carry: unseeded, so every process computes the
// same value.
func HashID(id string) uint64 { return hashString(id) }

// Backend is one server behind a balancer.
// A plain value, safe for concurrent use while no goroutine changes it.
type Backend struct {
	// ID names the backend uniquely in its pool. Hash policies hash it, so
	// every balancer that knows the same IDs agrees on placements.
	ID string
	// Addr is where to connect: "host:port".
	Addr string
	// Weight is the backend's relative capacity. Zero means 1.
	Weight int
}

// PickInfo describes what is being balanced.
// A plain value, safe for concurrent use while no goroutine changes it. A
// Picker must not change it or keep Exclude.
type PickInfo struct {
	// Key is the affinity key for hash policies (a URL, a client address,
	// a header value, a session ID). Unkeyed policies ignore it.
	Key string
	// Exclude lists backend IDs not to pick (retries after a failure).
	Exclude []string
}

// Pick is a chosen backend. Call Done exactly once when the work ends. A
// Pick belongs to the request it was made for: it is not for concurrent
// use.
type Pick struct {
	m   *member       // a Pool's pick
	x   *customPick   // another Balancer's pick (NewPick)
	lat time.Duration // recorded by the L7 transport
}

type customPick struct {
	b    Backend
	done func(DoneInfo)
}

// NewPick returns a Pick of b for Balancers other than Pool; done, if not
// nil, runs once when the Pick's Done is called.
func NewPick(b Backend, done func(DoneInfo)) Pick {
	return Pick{x: &customPick{b: b, done: done}}
}

// Backend returns the chosen backend; the zero Backend for the zero Pick.
// (A method, not a field: a Pick stays three words, which Go passes and
// returns in registers; with the Backend copied in, every Pick and Done
// went through memory and cost twice as much.)
func (p Pick) Backend() Backend {
	switch {
	case p.m != nil:
		return p.m.Backend
	case p.x != nil:
		return p.x.b
	}
	return Backend{}
}

// valid reports whether p is a pick, not the zero Pick.
func (p Pick) valid() bool { return p.m != nil || p.x != nil }

// idHash is HashID of the picked backend's ID.
func (p Pick) idHash() uint64 {
	if p.m != nil {
		return p.m.hash
	}
	return hashString(p.Backend().ID)
}

// DoneInfo reports how a picked request or connection went.
// A plain value, safe for concurrent use while no goroutine changes it.
type DoneInfo struct {
	// Err is non-nil when the backend failed (connection error, timeout,
	// or a 5xx the caller counts as failure).
	Err error
	// Latency is how long the request took (time to first byte for L7);
	// zero means not measured (latency policies then learn nothing).
	Latency time.Duration
	// Aborted reports work that ended through no doing of the backend's:
	// the client went away or cancelled, sent a body shorter than it
	// announced, or a request that could not be sent. It counts neither as
	// a failure nor as a success (a failure streak is not reset), and Err
	// and Latency are ignored, as Envoy's outlier detection ignores
	// downstream faults.
	Aborted bool
}

// Done reports the outcome, so least-request and latency policies learn
// and passive outlier detection can eject failing backends.
func (p Pick) Done(d DoneInfo) {
	if p.m == nil {
		if p.x != nil && p.x.done != nil {
			p.x.done(d)
		}
		return
	}
	m := p.m.current()
	m.dones.Add(1)
	if m.total != nil {
		m.total.Add(-1)
	}
	if d.Aborted {
		return
	}
	if d.Latency > 0 {
		m.observe(d.Latency)
	}
	if m.pool == nil {
		return // a member built outside a Pool (tests)
	}
	if d.Err != nil {
		m.pool.failure(m)
	} else if m.bad.Load() != 0 {
		m.pool.success(m) // a failure streak to reset; else nothing to do
	}
}

// State is a backend's availability.
// A plain value, safe for concurrent use while no goroutine changes it.
type State int32

const (
	Healthy   State = iota
	Unhealthy       // failed active health checks
	Ejected         // ejected by passive outlier detection
	Draining        // no new picks; removed when idle
)

func (s State) String() string {
	return [...]string{"healthy", "unhealthy", "ejected", "draining"}[s]
}

// member is a backend plus its live state. Fields other than the atomics
// are immutable once published in a snapshot.
type member struct {
	Backend
	hash uint64 // hashString(ID)
	pool *Pool  // the pool m belongs to

	// picks and dones count picks and their Done calls; the difference
	// is the requests in flight. One counter per event, not an "active"
	// counter beside a pick counter, keeps a pick and a Done at one
	// atomic add each.
	picks      atomic.Uint64
	dones      atomic.Uint64
	moved      atomic.Pointer[member] // the member that replaced this one (Add of a known ID)
	eff        atomic.Int64           // effective weight: Weight, less during slow start
	total      *atomic.Int64          // in flight across the pool (shared); nil unless the policy may read it
	bad        atomic.Int32           // consecutive failures, mirrored for a lock-free success path
	failures   atomic.Uint64
	ejectCount atomic.Uint64
	ewmaNanos  atomic.Int64

	mu           sync.Mutex // guards the health fields below
	state        State
	unhealthy    bool
	consecutive  int
	ejections    int
	ejectedUntil time.Time
	rise, fall   int
	drained      chan struct{}
	rampFrom     time.Time // slow start began (zero: none)
	wasEjected   bool      // ejected in the last snapshot (guarded by the pool's mu)
}

// inflight is the number of picks of m not yet Done. dones is read
// first: every Done follows its pick, so the result is never negative.
// A pick racing a replacement of its member may land on the old one
// after its counters were carried over; the clamp keeps that harmless.
func (m *member) inflight() int64 {
	d := m.dones.Load()
	return max(0, int64(m.picks.Load()-d))
}

// current follows replacements to the member that counts for m now.
func (m *member) current() *member {
	for n := m.moved.Load(); n != nil; n = m.moved.Load() {
		m = n
	}
	return m
}

// w is the weight policies use: the configured weight, ramped during slow
// start. It is read concurrently by picks, hence atomic.
func (m *member) w() int {
	if e := m.eff.Load(); e > 0 {
		return int(e)
	}
	return m.Weight
}

func (m *member) observe(lat time.Duration) {
	// Peak EWMA (Finagle): jump up at once to a slower sample, decay
	// slowly toward faster ones.
	for {
		old := m.ewmaNanos.Load()
		v := int64(lat)
		if old != 0 && v < old {
			v = old + (v-old)/8
		}
		if v == old || m.ewmaNanos.CompareAndSwap(old, v) {
			return
		}
	}
}

// Policy builds the Picker for one snapshot of the backends that may be
// picked, as a grpc-go balancer builds a Picker from its ready SubConns.
// Build runs whenever membership, weights or health change, never
// concurrently with itself for one Pool; backends are sorted by ID and
// never empty while the pool has a backend. A Policy may implement
// KeyReader and LoadReader to spare the Pool work it does not need.
type Policy interface {
	Build(backends []Endpoint) Picker
}

// Picker chooses among one snapshot's backends. Pick is called by many
// goroutines at once and must not block; it returns one of the Endpoints
// its Build was given, or the zero Endpoint when it has none to offer.
type Picker interface {
	Pick(info PickInfo) Endpoint
}

// Endpoint is a Policy's read-only view of one backend of a Pool: its
// configuration and live load. It is one pointer, comparable, and safe
// for concurrent use; the zero Endpoint is no backend, and its methods
// return zero values.
type Endpoint struct{ m *member }

// Backend returns the backend as configured.
func (e Endpoint) Backend() Backend {
	if e.m == nil {
		return Backend{}
	}
	return e.m.Backend
}

// IDHash returns HashID(e.Backend().ID), computed once when the backend
// was added.
func (e Endpoint) IDHash() uint64 {
	if e.m == nil {
		return 0
	}
	return e.m.hash
}

// Weight returns the weight to pick by: the configured weight, or less
// while a slow start ramps the backend up. It is at least 1.
func (e Endpoint) Weight() int {
	if e.m == nil {
		return 0
	}
	return e.m.w()
}

// InFlight returns the backend's picks not yet Done.
func (e Endpoint) InFlight() int64 {
	if e.m == nil {
		return 0
	}
	return e.m.current().inflight()
}

// PoolInFlight returns the picks not yet Done across the whole pool, or
// 0 when the pool does not keep that count (see LoadReader).
func (e Endpoint) PoolInFlight() int64 {
	if e.m == nil || e.m.total == nil {
		return 0
	}
	return e.m.total.Load()
}

// Latency returns the peak-sensitive moving average of the latencies
// Done reported (0: not measured yet).
func (e Endpoint) Latency() time.Duration {
	if e.m == nil {
		return 0
	}
	return time.Duration(e.m.current().ewmaNanos.Load())
}

// Config configures a Pool. Every zero value is a documented default.
// A plain value, safe for concurrent use while no goroutine changes it.
// New copies it; later changes have no effect.
type Config struct {
	// Policy distributes picks. Nil means RoundRobin().
	Policy Policy
	// Outlier configures passive ejection of failing backends.
	Outlier OutlierDetection
	// Health configures active health checks; zero Interval disables them.
	Health HealthCheck
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives state changes at debug level. Nil means
	// zap.NewNop().
	Logger *zap.Logger
	// OnDrained, if set, is called (outside locks) when a draining backend
	// has no request in flight and has been removed.
	OnDrained func(Backend)
	// SlowStart ramps a backend that was added, turned healthy or came
	// back from ejection from 10% to its full weight over this window, so
	// a cold server is not flooded. Zero disables it.
	SlowStart time.Duration
	// LastResort lets a pick that excludes every available backend (a
	// retry after failures) fall back to the backends out of rotation
	// (ejected or unhealthy; never draining), chosen by the same Policy
	// among them, as origin's failover does. False means such a pick
	// fails with ErrNoBackend.
	LastResort bool
	// Trace, if set, is called at pool events: picks, ejections,
	// re-admissions, health transitions. Nil means none.
	Trace *Trace
}

// OutlierDetection ejects backends after consecutive failures, with
// exponential backoff, as Envoy's outlier detection does. Failures are
// what Pick.Done reports with Err; Proxy reports only the backend's own
// (connection errors, resets, timeouts) and reports the client's faults
// as Aborted.
// A plain value, safe for concurrent use while no goroutine changes it.
type OutlierDetection struct {
	// Consecutive failures that eject a backend. Zero means 5; negative
	// disables ejection.
	Consecutive int
	// BaseEjection is the first ejection's length, doubled for each
	// further ejection in a row up to MaxEjection. Zero means 10 s and 5 min.
	BaseEjection, MaxEjection time.Duration
	// MaxEjectionPercent caps the share of backends ejected at once, so
	// some capacity always remains. Zero means 50.
	MaxEjectionPercent int
}

// Pool is a live set of backends and the default Balancer. Picks read an
// immutable snapshot through an atomic pointer and never wait for writers;
// Add, Remove, SetWeight, Drain and health changes build a new snapshot. A
// Pool is safe for concurrent use by multiple goroutines and must not be
// copied. With active health checks it runs one goroutine; Close stops it.
type Pool struct {
	cfg    Config
	policy Policy
	keyed  bool // the policy reads PickInfo.Key (or does not say)
	load   bool // the policy reads Endpoint.PoolInFlight (or does not say)
	now    func() time.Time
	log    *zap.Logger
	trace  *Trace

	mu          sync.Mutex // writers
	readmitted  []Backend  // re-admissions for Trace, fired after mu is released
	inflight    atomic.Int64
	rampRunning bool // a rampLoop is scheduled (guarded by mu)
	members     map[string]*member
	order       []string
	snap        atomic.Pointer[snapshot]

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// The Pool implements Balancer and both optional interfaces.
var (
	_ Balancer       = (*Pool)(nil)
	_ StickyBalancer = (*Pool)(nil)
	_ KeyReader      = (*Pool)(nil)
	_ io.Closer      = (*Pool)(nil)
)

type snapshot struct {
	picker Picker
	avail  []*member // the members that may be picked, sorted by ID
	// out are the members out of rotation and their Picker, for
	// Config.LastResort (nil otherwise, and in panic mode).
	out       []*member
	outPicker Picker
	// readmit is when the first ejection in force ends (zero: none). A
	// pick at or after it rebuilds, so a backend comes back on time even
	// when the clock is injected and the re-admitting timer has not run.
	readmit time.Time
}

// New returns an empty Pool; add backends with Add.
func New(cfg Config) (*Pool, error) {
	if cfg.Health.Interval < 0 || cfg.Health.Timeout < 0 || cfg.Outlier.BaseEjection < 0 || cfg.Outlier.MaxEjection < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	p := &Pool{cfg: cfg, policy: cfg.Policy, now: clock.Or(cfg.Now), log: cfg.Logger, members: map[string]*member{}, stop: make(chan struct{}),
		trace: cfg.Trace}
	if p.policy == nil {
		p.policy = RoundRobin()
	}
	p.keyed, p.load = true, true
	if k, ok := p.policy.(KeyReader); ok {
		p.keyed = k.ReadsKey()
	}
	if l, ok := p.policy.(LoadReader); ok {
		p.load = l.ReadsPoolInFlight()
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	o := &p.cfg.Outlier
	o.Consecutive = cmp.Or(o.Consecutive, 5)
	o.BaseEjection = cmp.Or(o.BaseEjection, 10*time.Second)
	o.MaxEjection = cmp.Or(o.MaxEjection, 5*time.Minute)
	o.MaxEjectionPercent = cmp.Or(o.MaxEjectionPercent, 50)
	p.cfg.Health.defaults()
	p.rebuild()
	if p.cfg.Health.Interval > 0 {
		p.wg.Add(1)
		go p.healthLoop()
	}
	return p, nil
}

// Close stops health checks. It is idempotent.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
	})
	return nil
}

// Add adds a backend, or updates its address and weight if its ID is
// present. Requests in flight are not disturbed.
func (p *Pool) Add(b Backend) error {
	if b.ID == "" {
		b.ID = b.Addr
	}
	if b.ID == "" {
		return fmt.Errorf("%w: backend needs an ID or Addr", ErrInvalidConfig)
	}
	if b.Weight < 0 {
		return fmt.Errorf("%w: backend %s: negative weight", ErrInvalidConfig, b.ID)
	}
	b.Weight = cmp.Or(b.Weight, 1)
	defer p.flushEvents() // after the unlock
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.members[b.ID]; ok {
		// Replace the immutable part; keep live counters.
		m := &member{Backend: b, hash: old.hash, pool: p, state: old.state, unhealthy: old.unhealthy, total: p.inflightCounter(),
			wasEjected: old.wasEjected}
		// Picks of the old member still in flight report their Done
		// here: forward first, then carry the counts over.
		old.moved.Store(m)
		m.picks.Add(old.picks.Load())
		m.dones.Add(old.dones.Load())
		m.failures.Store(old.failures.Load())
		m.ejectCount.Store(old.ejectCount.Load())
		m.ewmaNanos.Store(old.ewmaNanos.Load())
		p.members[b.ID] = m
	} else {
		m := &member{Backend: b, hash: hashString(b.ID), pool: p, total: p.inflightCounter()}
		if p.cfg.SlowStart > 0 && len(p.members) > 0 {
			m.rampFrom = p.now() // the first backend has nobody to share with
		}
		p.members[b.ID] = m
		p.order = append(p.order, b.ID)
	}
	p.rebuildLocked()
	return nil
}

// SetWeight changes a backend's weight.
func (p *Pool) SetWeight(id string, weight int) error {
	p.mu.Lock()
	m, ok := p.members[id]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownBackend, id)
	}
	b := m.Backend
	b.Weight = weight
	return p.Add(b)
}

// Remove removes a backend at once. Requests already picked finish
// normally; use Drain to wait for them.
func (p *Pool) Remove(id string) bool {
	defer p.flushEvents() // after the unlock
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.members[id]; !ok {
		return false
	}
	delete(p.members, id)
	for i, o := range p.order {
		if o == id {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	p.rebuildLocked()
	return true
}

// Drain stops new picks of a backend and returns a channel closed when its
// in-flight requests have finished and it has been removed (also reported
// to Config.OnDrained).
func (p *Pool) Drain(id string) (<-chan struct{}, error) {
	p.mu.Lock()
	m, ok := p.members[id]
	if !ok {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrUnknownBackend, id)
	}
	m.mu.Lock()
	m.state = Draining
	if m.drained == nil {
		m.drained = make(chan struct{})
	}
	ch := m.drained
	m.mu.Unlock()
	p.rebuildLocked()
	p.mu.Unlock()
	p.flushEvents()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for m.inflight() > 0 {
			select {
			case <-t.C:
			case <-p.stop:
				return
			}
		}
		p.Remove(id)
		// The callback runs before the channel closes, so a receiver that
		// sees the channel closed knows OnDrained has returned.
		if p.cfg.OnDrained != nil {
			p.cfg.OnDrained(m.Backend)
		}
		close(ch)
	}()
	return ch, nil
}

func (p *Pool) rebuild() {
	p.mu.Lock()
	p.rebuildLocked()
	p.mu.Unlock()
	p.flushEvents()
}

// rebuildLocked builds a new snapshot from the members that may be
// picked. p.mu is held.
func (p *Pool) rebuildLocked() {
	now := p.now()
	var avail, all []*member
	var readmit time.Time
	ids := append([]string(nil), p.order...)
	sort.Strings(ids) // deterministic order for hash policies
	ramping := false
	for _, id := range ids {
		m := p.members[id]
		m.mu.Lock()
		st, unhealthy, ejected := m.state, m.unhealthy, now.Before(m.ejectedUntil)
		if ejected && (readmit.IsZero() || m.ejectedUntil.Before(readmit)) {
			readmit = m.ejectedUntil
		}
		from := m.rampFrom
		m.mu.Unlock()
		p.noteReadmitted(m, ejected)
		m.eff.Store(int64(m.Weight))
		if !from.IsZero() && p.cfg.SlowStart > 0 {
			if el := now.Sub(from); el < p.cfg.SlowStart {
				frac := 0.1 + 0.9*float64(el)/float64(p.cfg.SlowStart)
				m.eff.Store(max(1, int64(float64(m.Weight)*frac)))
				ramping = true
			}
		}
		if st == Draining {
			continue
		}
		all = append(all, m)
		if !unhealthy && !ejected {
			avail = append(avail, m)
		}
	}
	use := avail
	if len(avail) == 0 {
		use = all // panic mode: every backend down means try them all
	}
	s := &snapshot{picker: p.policy.Build(endpointsOf(use)), avail: avail, readmit: readmit}
	if p.cfg.LastResort && len(avail) > 0 && len(avail) < len(all) {
		for _, m := range all {
			if !slices.Contains(avail, m) {
				s.out = append(s.out, m)
			}
		}
		s.outPicker = p.policy.Build(endpointsOf(s.out))
	}
	p.snap.Store(s)
	if ramping && !p.rampRunning {
		p.rampRunning = true
		p.wg.Add(1)
		go p.rampLoop()
	}
}

func endpointsOf(ms []*member) []Endpoint {
	eps := make([]Endpoint, len(ms))
	for i, m := range ms {
		eps[i] = Endpoint{m}
	}
	return eps
}

// rampLoop rebuilds the snapshot one step later; the rebuild schedules
// the next step while a slow start is still under way.
func (p *Pool) rampLoop() {
	defer p.wg.Done()
	t := time.NewTimer(max(p.cfg.SlowStart/10, 10*time.Millisecond))
	defer t.Stop()
	select {
	case <-p.stop:
		return
	case <-t.C:
	}
	p.mu.Lock()
	p.rampRunning = false
	p.rebuildLocked()
	p.mu.Unlock()
	p.flushEvents()
}

// Pick implements Balancer.
// It reads the current snapshot and takes no lock.
func (p *Pool) Pick(info PickInfo) (Pick, error) {
	s := p.snap.Load()
	if !s.readmit.IsZero() && !p.now().Before(s.readmit) && p.mu.TryLock() {
		// An ejection has ended: rebuild now, unless a writer is at it
		// (then it rebuilds).
		p.rebuildLocked()
		p.mu.Unlock()
		p.flushEvents()
		s = p.snap.Load()
	}
	m := choose(s.picker, s.avail, info)
	if m == nil && len(info.Exclude) > 0 && s.outPicker != nil {
		m = choose(s.outPicker, s.out, info) // Config.LastResort
	}
	if m == nil || m.pool != p {
		// No choice, or a Policy that answered with an Endpoint it was
		// not given.
		if p.trace != nil && p.trace.Pick != nil {
			p.tracePick(nil, &info, false, ErrNoBackend)
		}
		return Pick{}, ErrNoBackend
	}
	m.acquire()
	if p.trace != nil && p.trace.Pick != nil {
		p.tracePick(m, &info, false, nil)
	}
	return Pick{m: m}, nil
}

// choose asks picker, then honours info.Exclude: when the choice is
// excluded, it takes the first member of ms that is not, in a stable
// order; nil when there is none.
func choose(picker Picker, ms []*member, info PickInfo) *member {
	m := picker.Pick(info).m
	if m == nil || len(info.Exclude) == 0 || !excluded(m.ID, info.Exclude) {
		return m
	}
	for _, c := range ms {
		if !excluded(c.ID, info.Exclude) {
			return c
		}
	}
	return nil
}

// PickByIDHash implements StickyBalancer: it picks the available backend
// whose ID hashes to h (HashID), reading the snapshot without a lock.
func (p *Pool) PickByIDHash(h uint64) (Pick, bool) {
	for _, m := range p.snap.Load().avail {
		if m.hash == h {
			m.acquire()
			if p.trace != nil && p.trace.Pick != nil {
				p.tracePick(m, nil, true, nil)
			}
			return Pick{m: m}, true
		}
	}
	return Pick{}, false
}

// ReadsKey implements KeyReader: whether the pool's Policy reads
// PickInfo.Key.
func (p *Pool) ReadsKey() bool { return p.keyed }

// inflightCounter returns the pool-wide in-flight counter for members if
// the policy may read it, else nil.
func (p *Pool) inflightCounter() *atomic.Int64 {
	if p.load {
		return &p.inflight
	}
	return nil
}

// acquire counts a pick of m.
func (m *member) acquire() {
	m = m.current()
	m.picks.Add(1)
	if m.total != nil {
		m.total.Add(1)
	}
}

func excluded(id string, ex []string) bool {
	for _, e := range ex {
		if e == id {
			return true
		}
	}
	return false
}

func (p *Pool) failure(m *member) {
	m.failures.Add(1)
	if p.cfg.Outlier.Consecutive < 0 {
		return
	}
	m.bad.Add(1)
	m.mu.Lock()
	m.consecutive++
	eject := m.consecutive >= p.cfg.Outlier.Consecutive && !p.now().Before(m.ejectedUntil)
	m.mu.Unlock()
	if !eject {
		return
	}
	var ev EjectEvent
	defer func() { // after the unlock below
		if ev.For > 0 && p.trace != nil && p.trace.BackendEjected != nil {
			p.trace.BackendEjected(ev)
		}
		p.flushEvents()
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	// Keep capacity: never eject beyond MaxEjectionPercent.
	ejected, total := 0, 0
	now := p.now()
	for _, o := range p.members {
		total++
		o.mu.Lock()
		if now.Before(o.ejectedUntil) {
			ejected++
		}
		o.mu.Unlock()
	}
	if (ejected+1)*100 > total*p.cfg.Outlier.MaxEjectionPercent {
		return
	}
	m.mu.Lock()
	d := p.cfg.Outlier.BaseEjection << min(m.ejections, 20)
	if d > p.cfg.Outlier.MaxEjection || d <= 0 {
		d = p.cfg.Outlier.MaxEjection
	}
	m.ejectedUntil = now.Add(d)
	m.ejections++
	ev = EjectEvent{Backend: m.Backend, For: d, Ejections: m.ejections}
	m.ejectCount.Add(1)
	m.consecutive = 0
	// bad stays non-zero, so the first success after re-admission takes
	// success's locked path and ends the run of ejections.
	m.bad.Store(1)
	m.mu.Unlock()
	p.log.Debug("balancer: ejected", zap.String("backend", m.ID), zap.Duration("for", d))
	p.rebuildLocked()
	// Re-admit when the ejection ends.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			m.mu.Lock()
			if p.cfg.SlowStart > 0 {
				m.rampFrom = p.now()
			}
			m.mu.Unlock()
			p.rebuild()
		case <-p.stop:
		}
	}()
}

func (p *Pool) success(m *member) {
	if m.bad.Load() == 0 {
		return // nothing to reset: the common case takes no lock
	}
	m.bad.Store(0)
	m.mu.Lock()
	m.consecutive = 0
	if !p.now().Before(m.ejectedUntil) {
		m.ejections = 0
	}
	m.mu.Unlock()
}

// Refresh rebuilds the snapshot, re-admitting backends whose ejection
// has ended. Picks do this by themselves on a timer; tests with a fake
// clock call it after advancing time.
func (p *Pool) Refresh() { p.rebuild() }

// BackendStats is one backend's counters and state.
// A snapshot, a plain value, safe for concurrent use while no goroutine
// changes it.
type BackendStats struct {
	Backend
	State    State
	Picks    uint64
	Active   int64
	Failures uint64
	// Ejections counts passive ejections.
	Ejections uint64
	// Latency is the peak-EWMA of reported latencies.
	Latency time.Duration
}

// Stats returns every backend's counters, sorted by ID.
func (p *Pool) Stats() []BackendStats {
	p.mu.Lock()
	ms := make([]*member, 0, len(p.members))
	for _, m := range p.members {
		ms = append(ms, m)
	}
	p.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	now := p.now()
	out := make([]BackendStats, 0, len(ms))
	for _, m := range ms {
		m.mu.Lock()
		st := m.state
		if st != Draining {
			switch {
			case m.unhealthy:
				st = Unhealthy
			case now.Before(m.ejectedUntil):
				st = Ejected
			}
		}
		m.mu.Unlock()
		out = append(out, BackendStats{Backend: m.Backend, State: st, Picks: m.picks.Load(), Active: m.inflight(),
			Failures: m.failures.Load(), Ejections: m.ejectCount.Load(), Latency: time.Duration(m.ewmaNanos.Load())})
	}
	return out
}

// Backends returns the backends in the pool, sorted by ID.
func (p *Pool) Backends() []Backend {
	st := p.Stats()
	out := make([]Backend, len(st))
	for i, s := range st {
		out[i] = s.Backend
	}
	return out
}

// contextKey carries a Pick through a request context (L7 proxy).
type contextKey struct{}

// pickContext is a request context carrying the request's Pick: one
// allocation where context.WithValue plus a separate *Pick take two. It
// forwards everything else (Done, Err, other values) to the context it
// wraps, so the context package still sees the parent's cancelCtx.
type pickContext struct {
	context.Context
	pk Pick
	b  Balancer // picked from; retries pick again from it
}

func (c *pickContext) Value(key any) any {
	if key == (contextKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func withPick(ctx context.Context, p Pick, b Balancer) *pickContext {
	return &pickContext{Context: ctx, pk: p, b: b}
}

// pickFrom returns the request's pick context; nil if it has none.
func pickFrom(ctx context.Context) *pickContext {
	c, _ := ctx.Value(contextKey{}).(*pickContext)
	return c
}
