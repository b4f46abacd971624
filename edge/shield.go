package edge

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/fieldlist"
	"github.com/edgekit/edgekit/surrogate"
	"go.uber.org/zap"
)

// ShieldHeader carries the proof that a request was forwarded by the
// tier (a member of the fleet, or of the lower tier of a two-level form):
// a MAC of the request's host and target under ShieldConfig.Secret, as
// Fastly's Fastly-FF carries a salted hash that a shield validates. The
// shield that receives it removes it before anything goes further; a
// client cannot forge it without the secret. (Whoever can read the
// traffic between nodes can replay a proof for the same host and target:
// that sends one object's misses from a node straight to the origin, as
// if it were the owner; it cannot make a loop.)
const ShieldHeader = "Edgekit-Shield"

// DefaultCDNID is the cdn-id edgekit names itself by in CDN-Loop (RFC
// 8586 §2) when none is configured.
const DefaultCDNID = "edgekit"

// StatusLoopDetected is the status a shield answers a request with that
// has looped through the fleet too often (RFC 5842 §7.2, 508 Loop
// Detected).
const StatusLoopDetected = http.StatusLoopDetected

// ShieldConfig configures a Shield. Every zero value is a documented
// default; Origin and Members are required.
// A plain value, safe for concurrent use while no goroutine changes it.
type ShieldConfig struct {
	// Self is this node's member ID, as it appears in Members. A Self
	// absent from Members (the lower level of a two-level form, whose
	// Members is the upper tier's list) never owns an object: every miss
	// is forwarded.
	Self string
	// Members is the live set: a *redisbus.Bus, or
	// surrogate.StaticMembers. Members without an Addr (other than Self)
	// are left out. It is read when the shield starts and then every
	// Refresh by the shield's goroutine, never on a request's path.
	Members surrogate.Members
	// Origin is where this node fetches what it owns, what reaches it
	// from the tier, and what the owner could not answer: usually an
	// *origin.Pool.
	Origin http.RoundTripper
	// Peers reaches a member: the request's URL host is rewritten to
	// the member's Addr (scheme http); its Host field is kept. Nil means
	// an *http.Transport with net/http's DefaultTransport timeouts (30 s
	// connect, 90 s idle) and no proxy.
	Peers http.RoundTripper
	// Token is this fleet's cdn-id in CDN-Loop (RFC 8586 §2). It must
	// equal the nodes' Config.CDNID. Empty means DefaultCDNID.
	Token string
	// Secret is the key, shared by every member of the fleet (and by both
	// levels of a two-level form), under which forwarded requests prove
	// they come from the tier (ShieldHeader). Empty means a key drawn at
	// random once per process: shields in one process recognise each
	// other, shields in different processes do not (their forwards are
	// then routed by ownership again, which is still correct while the
	// members agree on the live set, and bounded by MaxHops when they do
	// not). A fleet of processes sets one.
	Secret string
	// Key maps a request to what decides its owner. Nil means the host
	// (lower-cased) and the request target, as cache.DefaultKey without
	// the scheme (a tier peer is reached over http whatever the client
	// used).
	Key func(*http.Request) string
	// Timeout bounds a forward to an owner until its response headers
	// arrive (and one read of the live set); a slower owner is skipped (the request goes to Origin) and
	// counts a failure. Zero means 10 s, origin.Config.TryTimeout's
	// default.
	Timeout time.Duration
	// Outlier ejects an owner after consecutive failures (connection
	// refused or reset, timeout; never a response, whatever its status),
	// with exponential backoff: balancer.OutlierDetection, whose zero
	// values are its defaults (5 failures, 10 s, 5 min, at most 50% of
	// the members). An ejected member's objects go to the others, as if
	// it had left, until it is re-admitted.
	Outlier balancer.OutlierDetection
	// Refresh is how often the live set is read again from Members (on
	// the real clock, as redisbus heartbeats: Now does not drive it).
	// Zero means 1 s (redisbus's heartbeat).
	Refresh time.Duration
	// MaxHops is how many times Token may appear in a request's CDN-Loop
	// when it reaches the shield (the node adds its own first); more is a
	// loop (RFC 8586 §2), answered 508 Loop Detected without contacting
	// anything. Zero means 4 (Fastly's maximum with clustering and
	// shielding).
	MaxHops int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events. Nil means zap.NewNop().
	Logger *zap.Logger
}

// Shield is the shield tier (tiered caching, as Fastly's shielding,
// Cloudflare's Tiered Cache and groupcache's peer fill): an
// http.RoundTripper to use as a Node's Config.Origin. A miss at any node
// goes to the node that owns the object, by Maglev consistent hashing
// over the live members (package balancer's), and only the owner fetches
// from the origin, so the origin sees each object about once, not once
// per node. Only GET and HEAD take the tier; other methods and protocol
// switches (Upgrade) go to Origin.
//
// Loops are impossible: a request the tier forwarded carries ShieldHeader,
// and its receiver sends it to Origin, never forwards it again; a request
// naming Token in CDN-Loop more than MaxHops times is refused (508). A
// member that refuses, fails or is slower than Timeout is skipped (the
// request goes to Origin) and ejected as balancer ejects.
//
// A Shield is safe for concurrent use by multiple goroutines and must not
// be copied. It runs one goroutine, which reads the live set every
// Refresh; Close stops and waits for it.
type Shield struct {
	self, token string
	secret      []byte
	members     surrogate.Members
	origin      http.RoundTripper
	peers       http.RoundTripper
	ownPeers    *http.Transport // the default Peers, closed by Close
	keyOf       func(*http.Request) string
	timeout     time.Duration
	refreshEach time.Duration
	maxHops     int
	now         func() time.Time
	log         *zap.Logger
	pool        *balancer.Pool

	mu        sync.Mutex // serialises applying a live set
	addrs     map[string]string
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	owned, forwarded, fromTier, fallbacks, loops, direct, refreshes, refreshErrors atomic.Uint64
}

var _ http.RoundTripper = (*Shield)(nil)

// processSecret is ShieldConfig.Secret's default: drawn once per process,
// never changed.
var processSecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
})

// NewShield returns a Shield configured by cfg, with the live set read
// once from Members (a failure there is not fatal: until a refresh
// succeeds, misses go to Origin).
func NewShield(cfg ShieldConfig) (*Shield, error) {
	if cfg.Origin == nil || cfg.Members == nil {
		return nil, fmt.Errorf("%w: ShieldConfig needs Origin and Members", ErrInvalidConfig)
	}
	if cfg.Timeout < 0 || cfg.Refresh < 0 || cfg.MaxHops < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	s := &Shield{
		self: cfg.Self, token: cmp.Or(cfg.Token, DefaultCDNID), members: cfg.Members, origin: cfg.Origin,
		peers: cfg.Peers, keyOf: cfg.Key, timeout: cmp.Or(cfg.Timeout, 10*time.Second),
		refreshEach: cmp.Or(cfg.Refresh, time.Second), maxHops: cmp.Or(cfg.MaxHops, 4),
		now: clock.Or(cfg.Now), log: cfg.Logger, addrs: map[string]string{},
	}
	if strings.ContainsAny(s.token, ",; \t\"") {
		return nil, fmt.Errorf("%w: Token %q is not a cdn-id", ErrInvalidConfig, s.token)
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("shield")
	if cfg.Secret != "" {
		s.secret = []byte(cfg.Secret)
	} else {
		s.secret = processSecret()
	}
	if s.keyOf == nil {
		s.keyOf = ownerKey
	}
	if s.peers == nil {
		s.ownPeers = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
		}
		s.peers = s.ownPeers
	}
	pool, err := balancer.New(balancer.Config{Policy: balancer.Maglev(0), Outlier: cfg.Outlier, Now: cfg.Now, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.pool = pool
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.Refresh(s.ctx); err != nil {
		s.log.Debug("shield: members", zap.Error(err))
	}
	s.wg.Add(1)
	go s.refreshLoop()
	return s, nil
}

// ownerKey is ShieldConfig.Key's default.
func ownerKey(r *http.Request) string {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return strings.ToLower(host) + r.URL.RequestURI()
}

// Refresh reads the live set from Members now and applies it: members
// that joined are added, those that left removed (their objects move to
// the others, about 1/N of all), an ejected member stays ejected. The
// shield's goroutine calls it every Refresh; operators and tests may call
// it directly.
func (s *Shield) Refresh(ctx context.Context) error {
	s.refreshes.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	live, err := s.members.Live(ctx)
	if err != nil {
		s.refreshErrors.Add(1)
		return fmt.Errorf("edge: shield members: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(live))
	for _, m := range live {
		addr := m.Addr
		if m.ID == "" || (addr == "" && m.ID != s.self) {
			continue // nobody could reach it
		}
		seen[m.ID] = true
		if old, ok := s.addrs[m.ID]; ok && old == addr {
			continue // unchanged: keep its ejection state
		}
		if err := s.pool.Add(balancer.Backend{ID: m.ID, Addr: addr}); err != nil {
			return err
		}
		s.addrs[m.ID] = addr
	}
	for id := range s.addrs {
		if !seen[id] {
			s.pool.Remove(id)
			delete(s.addrs, id)
		}
	}
	return nil
}

// refreshLoop reads the live set every Refresh until Close.
func (s *Shield) refreshLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.refreshEach)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Refresh(s.ctx); err != nil {
			s.log.Debug("shield: members", zap.Error(err))
		}
	}
}

// Close stops the refresh goroutine and waits for it, stops the owner
// pool's timers and closes the default Peers transport's idle
// connections. It is idempotent.
func (s *Shield) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.pool.Close()
		if s.ownPeers != nil {
			s.ownPeers.CloseIdleConnections()
		}
	})
	return nil
}

// Owner returns the member that owns key (ShieldConfig.Key's result) now,
// and whether there is one. It does not count as a pick.
func (s *Shield) Owner(key string) (surrogate.Member, bool) {
	pk, err := s.pool.Pick(balancer.PickInfo{Key: key})
	if err != nil {
		return surrogate.Member{}, false
	}
	pk.Done(balancer.DoneInfo{Aborted: true})
	b := pk.Backend()
	return surrogate.Member{ID: b.ID, Addr: b.Addr}, true
}

// FromTier reports whether r was forwarded by the tier: it carries a
// valid ShieldHeader. A Node given it as Config.Tier keeps surrogate keys
// on its answers to such requests, so the lower level can index and purge
// them.
func (s *Shield) FromTier(r *http.Request) bool {
	v := r.Header.Get(ShieldHeader)
	if v == "" {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && hmac.Equal(got, s.mac(r))
}

// mac is the tier's proof for r: HMAC-SHA-256 of its host and target.
func (s *Shield) mac(r *http.Request) []byte {
	h := hmac.New(sha256.New, s.secret)
	io.WriteString(h, ownerKey(r))
	return h.Sum(nil)
}

// RoundTrip implements http.RoundTripper: see Shield.
func (s *Shield) RoundTrip(req *http.Request) (*http.Response, error) {
	tier := s.FromTier(req)
	if _, ok := req.Header[ShieldHeader]; ok {
		// Never sent further, valid or not: a copy without it.
		r2 := *req
		r2.Header = req.Header.Clone()
		delete(r2.Header, ShieldHeader)
		req = &r2
	}
	if n := s.hops(req.Header); n > s.maxHops {
		s.loops.Add(1)
		return loopDetected(req, n), nil
	}
	if tier {
		// The owner never forwards a tier request again (RFC 8586 §2:
		// loops are impossible, whatever the members believe).
		s.fromTier.Add(1)
		return s.origin.RoundTrip(req)
	}
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || req.Header.Get("Upgrade") != "" {
		s.direct.Add(1)
		return s.origin.RoundTrip(req)
	}
	pk, err := s.pool.Pick(balancer.PickInfo{Key: s.keyOf(req)})
	if err != nil { // no member known yet
		s.owned.Add(1)
		return s.origin.RoundTrip(req)
	}
	b := pk.Backend()
	if b.ID == s.self {
		pk.Done(balancer.DoneInfo{})
		s.owned.Add(1)
		return s.origin.RoundTrip(req)
	}
	resp, err := s.forward(req, pk, b)
	if err == nil {
		s.forwarded.Add(1)
		return resp, nil
	}
	if req.Context().Err() != nil {
		return nil, err // the request itself ended: nothing to fall back for
	}
	s.fallbacks.Add(1)
	s.log.Debug("shield: owner skipped", zap.String("owner", b.ID), zap.Error(err))
	return s.origin.RoundTrip(req)
}

// forward sends req to the owner b, with the tier's proof, bounded by
// Timeout until its response headers. It reports the outcome on pk.
func (s *Shield) forward(req *http.Request, pk balancer.Pick, b balancer.Backend) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	var timedOut atomic.Bool
	timer := time.AfterFunc(s.timeout, func() { timedOut.Store(true); cancel() })
	out := req.Clone(ctx)
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	out.URL.Scheme, out.URL.Host = "http", b.Addr
	out.RequestURI = ""
	if s.hops(out.Header) == 0 {
		out.Header.Add("CDN-Loop", s.token) // used without a Node, which adds it
	}
	out.Header.Set(ShieldHeader, base64.RawURLEncoding.EncodeToString(s.mac(req)))
	start := s.now()
	resp, err := s.peers.RoundTrip(out)
	stopped := timer.Stop()
	if err != nil {
		cancel()
		if req.Context().Err() != nil && !timedOut.Load() {
			pk.Done(balancer.DoneInfo{Aborted: true})
			return nil, err
		}
		if !stopped || timedOut.Load() {
			err = fmt.Errorf("edge: shield %s: no response within %v: %w", b.ID, s.timeout, err)
		}
		pk.Done(balancer.DoneInfo{Err: err})
		return nil, err
	}
	pk.Done(balancer.DoneInfo{Latency: max(s.now().Sub(start), 1)})
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody ends a forward's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// hops counts the members of CDN-Loop that name the shield's token (RFC
// 8586 §2: cdn-info = cdn-id *( OWS ";" OWS parameter ), in a list).
func (s *Shield) hops(h http.Header) int {
	n := 0
	for _, v := range h.Values("CDN-Loop") {
		for _, m := range fieldlist.Split(v, ',') {
			id, _, _ := strings.Cut(m, ";")
			if strings.EqualFold(strings.TrimSpace(id), s.token) {
				n++
			}
		}
	}
	return n
}

// loopDetected is the answer to a request that looped: 508, not stored.
func loopDetected(req *http.Request, hops int) *http.Response {
	body := fmt.Sprintf("edge: loop detected: the request passed through this CDN %d times (CDN-Loop, RFC 8586)\n", hops)
	return &http.Response{
		Status: "508 Loop Detected", StatusCode: StatusLoopDetected, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Cache-Control": {"no-store"}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// ShieldStats is a snapshot of a Shield's counters.
// A plain value, safe for concurrent use while no goroutine changes it.
type ShieldStats struct {
	Self string `json:"self"`
	// Members are the live members as last read, with the owner pool's
	// view: state (healthy or ejected), picks (misses each was chosen to
	// own, this node's own included), failures and ejections.
	Members []ShieldMember `json:"members"`
	// Owned counts misses this node owned (fetched from Origin);
	// Forwarded those answered by their owner; FromTier requests the tier
	// forwarded here (fetched from Origin); Fallbacks misses whose owner
	// failed or was too slow (fetched from Origin); Loops requests
	// refused 508; Direct methods other than GET and HEAD, and protocol
	// switches (to Origin).
	Owned, Forwarded, FromTier, Fallbacks, Loops, Direct uint64
	// Refreshes and RefreshErrors count reads of the live set.
	Refreshes, RefreshErrors uint64
}

// ShieldMember is one member in ShieldStats.
// A plain value, safe for concurrent use while no goroutine changes it.
type ShieldMember struct {
	ID        string `json:"id"`
	Addr      string `json:"addr,omitempty"`
	State     string `json:"state"`
	Picks     uint64 `json:"picks"`
	Failures  uint64 `json:"failures"`
	Ejections uint64 `json:"ejections"`
}

// Stats returns a snapshot of the shield's counters.
func (s *Shield) Stats() ShieldStats {
	st := ShieldStats{
		Self: s.self, Owned: s.owned.Load(), Forwarded: s.forwarded.Load(), FromTier: s.fromTier.Load(),
		Fallbacks: s.fallbacks.Load(), Loops: s.loops.Load(), Direct: s.direct.Load(),
		Refreshes: s.refreshes.Load(), RefreshErrors: s.refreshErrors.Load(),
	}
	for _, b := range s.pool.Stats() {
		st.Members = append(st.Members, ShieldMember{ID: b.ID, Addr: b.Addr, State: b.State.String(),
			Picks: b.Picks, Failures: b.Failures, Ejections: b.Ejections})
	}
	return st
}
