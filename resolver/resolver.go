package resolver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/background"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/collapse"
	"github.com/edgekit/edgekit/internal/store"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// Resolver answers DNS questions. Recursive is the default implementation.
// Implementations must be safe for concurrent use by multiple goroutines.
type Resolver interface {
	// Resolve answers q. The response carries the rcode (NOERROR,
	// NXDOMAIN, SERVFAIL), the answer (with any CNAME chain) and, for a
	// negative answer, the zone's SOA in the authority section. An error
	// means no answer could be had at all.
	Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error)
}

// Config configures a Recursive resolver. Every zero value is a documented
// default.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Roots are the root name servers' addresses. Nil means the IANA root
	// servers on port 53.
	Roots []netip.AddrPort
	// Forward, if set, makes the resolver a forwarder: queries go with
	// recursion desired to these upstream resolvers ("ip:port" for UDP
	// with TCP on truncation, "tls://host:port" for DNS over TLS, RFC
	// 7858, or "https://host[:port]/dns-query" for DNS over HTTPS, RFC
	// 8484) instead of being resolved from the root; the best smoothed
	// RTT goes first and failing upstreams sink.
	Forward []string
	// TLSConfig is used for DNS over TLS and HTTPS upstreams. Nil means
	// the system roots and the upstream's host name.
	TLSConfig *tls.Config
	// Port is the port used for name servers learned from referrals. Zero
	// means 53.
	Port int
	// AllowLoopback permits name servers on loopback, private, link-local
	// and unspecified addresses, refused by default (as Unbound does) so
	// that public data cannot point the resolver at internal hosts.
	AllowLoopback bool
	// Timeout bounds one query to one server. Zero means 1.5 s.
	Timeout time.Duration
	// ResolveTimeout bounds a whole resolution. Zero means 10 s.
	ResolveTimeout time.Duration
	// MaxQueries bounds the queries one resolution sends. Zero means 64.
	MaxQueries int
	// MaxDepth bounds referral chains, CNAME chains and nested glueless
	// resolutions. Zero means 12.
	MaxDepth int
	// MaxBytes bounds the cache: answers and, when validating, the
	// validator's keys (a sixteenth of it). Zero means 32 MiB.
	MaxBytes int64
	// MinTTL and MaxTTL clamp cached TTLs. Zero means 0 and 1 day.
	MinTTL, MaxTTL time.Duration
	// MaxNegativeTTL caps negative caching (RFC 2308 §5). Zero means 3 h.
	MaxNegativeTTL time.Duration
	// StaleWindow is how long past expiry cached data may be served when
	// no authority answers (RFC 8767). Zero means 1 day; negative
	// disables serve-stale.
	StaleWindow time.Duration
	// Prefetch refreshes popular entries in the background when less than
	// a tenth of their TTL remains.
	Prefetch bool
	// Hosts answers these names (lower-case, fully qualified or not) from
	// a static table before anything else.
	Hosts map[string][]netip.Addr
	// DisableSpecialUse turns off the local answers for RFC 6761 names
	// (localhost., invalid., test.).
	DisableSpecialUse bool
	// DisableQNAMEMinimisation sends the full query name to every server.
	// By default (RFC 9156) each zone's servers are asked only for the
	// next label below the zone (QTYPE A), falling back to the full name
	// when a server answers badly.
	DisableQNAMEMinimisation bool
	// TrustAnchors are the DNSSEC trust anchors (DS or DNSKEY records;
	// dnssec.ParseAnchors reads a file). Nil means the IANA root anchors
	// when Roots is nil too; with Roots set (a private hierarchy) and no
	// anchor, answers are not validated.
	TrustAnchors []dns.RR
	// DisableDNSSEC turns validation off. By default (RFC 4035 §4) answers
	// are validated whenever a trust anchor applies: bogus ones become
	// SERVFAIL with an Extended DNS Error (RFC 8914), secure ones carry AD
	// for clients that set DO or AD. A forwarder validates too, asking
	// its upstreams for the DS and DNSKEY records of the chain (as
	// Unbound does with forward zones).
	DisableDNSSEC bool
	// InsecureDomains are names below which answers are treated as
	// unsigned: the chain of trust is not followed there (Unbound's
	// domain-insecure, a negative trust anchor, RFC 7646), for a private
	// unsigned zone an upstream serves under a signed public name. A
	// trust anchor at or below such a name wins. Nil means none.
	InsecureDomains []string
	// DisableAggressiveNSEC turns off the aggressive use of validated
	// NSEC records (RFC 8198, aggressive.go), on by default when the
	// resolver validates.
	DisableAggressiveNSEC bool
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events (referral steps at debug level). Nil
	// means zap.NewNop().
	Logger *zap.Logger
	// ECS sends the client's subnet to the servers of some zones (RFC
	// 7871) and caches their answers per scope. The zero value sends none.
	ECS ECSConfig
	// Trace, if set, is called for every query the resolver sends and
	// every answer it gets, in order, as dig +trace prints them. It must
	// not block.
	Trace func(Step)
	// Hooks, if set, are called at events (cache lookups, upstream
	// queries, resolutions, failures) for metrics and tracing; see Hooks.
	// Nil means none.
	Hooks *Hooks
}

// Step is one query sent during a resolution, for Config.Trace.
// A plain value, safe for concurrent use while no goroutine changes it.
type Step struct {
	Zone     string // the zone whose servers were asked
	Server   netip.AddrPort
	Question dns.Question
	// Response is nil when the server did not answer (Err says why).
	Response *dns.Msg
	RTT      time.Duration
	Err      error
	// Minimised is set when Question is a minimised probe (RFC 9156): an
	// ancestor of the name being resolved, asked to find the zone cuts.
	Minimised bool
	// NameServer, when set, is the name server whose address this step
	// helps resolve (a glueless delegation), not the client's question.
	NameServer string
}

// Recursive is an iterative, caching DNS resolver: it walks from the root
// to the authoritative servers, follows referrals and CNAMEs, and caches
// positive and negative answers. It is safe for concurrent use by multiple
// goroutines. Prefetches run in goroutines it owns; Close waits for them.
type Recursive struct {
	cfg     Config
	roots   []netip.AddrPort
	forward []upstream
	now     func() time.Time
	log     *zap.Logger
	cache   *store.Store[string, *entry]
	group   collapse.Group[resolved]
	hosts   map[string][]netip.Addr
	ecs     *ecsConf // nil: no ECS

	rttMu sync.Mutex
	srtt  map[netip.AddrPort]time.Duration
	down  map[netip.AddrPort]holdDown  // servers that failed holdDownAfter times running (rttMu)
	plain map[netip.AddrPort]time.Time // servers without EDNS, until when (rttMu)

	prefetch *background.Jobs // one prefetch per key, bounded by ResolveTimeout
	ctx      context.Context
	cancel   context.CancelFunc
	closed   atomic.Bool

	rootWarned atomic.Int64 // when noRootAnswered last logged (UnixNano)
	refusedMu  sync.Mutex
	refusedLog map[netip.AddrPort]struct{} // servers whose refusal was logged (allowed)

	doh *http.Client // DNS over HTTPS upstreams

	udpBufs sync.Pool // *[]byte read buffers of exchangeUDP, dns.MaxMsgSize each
	keyBufs sync.Pool // *keyBuf for lookupKey

	udpWaiting waitingSockets // exchangeUDP's sockets, which Close wakes

	// shuffle permutes LookupMX's records before they are sorted by
	// preference. Nil means rand.Shuffle (math/rand/v2); tests set it.
	shuffle func(n int, swap func(i, j int))

	st counters

	val       *dnssec.Validator    // nil: no validation
	bogusMu   sync.Mutex           // guards bogusSeen
	bogusSeen map[string]bogusMark // questions found bogus, until when
	aggr      *nsecIndex           // nil: no aggressive NSEC (aggressive.go)
}

// rootHints are the IANA root servers (root-servers.net).
var rootHints = []string{
	"198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10", "192.5.5.241",
	"192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30", "193.0.14.129", "199.7.83.42", "202.12.27.33",
	"2001:503:ba3e::2:30", "2801:1b8:10::b", "2001:500:2::c", "2001:500:2d::d", "2001:500:a8::e", "2001:500:2f::f",
	"2001:500:12::d0d", "2001:500:1::53", "2001:7fe::53", "2001:503:c27::2:30", "2001:7fd::1", "2001:500:9f::42", "2001:dc3::35",
}

// New returns a Recursive resolver configured by cfg.
func New(cfg Config) (*Recursive, error) {
	if cfg.Port < 0 || cfg.Port > 65535 || cfg.Timeout < 0 || cfg.MaxQueries < 0 || cfg.MaxDepth < 0 || cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("%w: negative or out-of-range value", ErrInvalidConfig)
	}
	r := &Recursive{cfg: cfg, now: clock.Or(cfg.Now), log: cfg.Logger, srtt: map[netip.AddrPort]time.Duration{},
		hosts: map[string][]netip.Addr{}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	c := &r.cfg
	if c.Port == 0 {
		c.Port = 53
	}
	if c.Timeout == 0 {
		c.Timeout = 1500 * time.Millisecond
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = 10 * time.Second
	}
	if c.MaxQueries == 0 {
		c.MaxQueries = 64
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 12
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 32 << 20
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = 24 * time.Hour
	}
	if c.MaxNegativeTTL == 0 {
		c.MaxNegativeTTL = 3 * time.Hour
	}
	if c.StaleWindow == 0 {
		c.StaleWindow = 24 * time.Hour
	}
	r.roots = cfg.Roots
	if r.roots == nil {
		for _, h := range rootHints {
			r.roots = append(r.roots, netip.AddrPortFrom(netip.MustParseAddr(h), 53))
		}
	}
	if len(cfg.Forward) == 0 && len(r.roots) > 0 && !c.AllowLoopback && len(r.allowed(r.roots)) == 0 {
		r.log.Warn("every root server is on a loopback or private address and AllowLoopback is off: every question will fail (SERVFAIL)", zap.Int("roots", len(r.roots)))
	}
	for _, f := range cfg.Forward {
		u := upstream{addr: f, net: "udp"}
		if rest, ok := strings.CutPrefix(f, "tls://"); ok {
			u = upstream{addr: rest, net: "tcp-tls"}
		}
		if strings.HasPrefix(f, "https://") {
			pu, err := url.Parse(f)
			if err != nil || pu.Host == "" {
				return nil, fmt.Errorf("%w: DoH upstream %q: bad URL", ErrInvalidConfig, f)
			}
			u = upstream{addr: pu.Host, net: "https", url: f}
			if pu.Port() == "" {
				u.addr = net.JoinHostPort(pu.Hostname(), "443")
			}
		}
		if _, _, err := net.SplitHostPort(u.addr); err != nil {
			return nil, fmt.Errorf("%w: forward address %q: %v", ErrInvalidConfig, f, err)
		}
		r.forward = append(r.forward, u)
	}
	if r.cfg.TLSConfig != nil || hasDoH(r.forward) {
		r.doh = &http.Client{Timeout: r.cfg.Timeout * 2, Transport: &http.Transport{TLSClientConfig: r.cfg.TLSConfig, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8}}
	}
	ecs, err := newECSConf(cfg.ECS)
	if err != nil {
		return nil, err
	}
	r.ecs = ecs
	for name, addrs := range cfg.Hosts {
		r.hosts[dns.CanonicalName(name)] = addrs
	}
	answerBytes := c.MaxBytes
	if validates(cfg) {
		answerBytes -= keyCacheBytes(c.MaxBytes) // the validator's keys count in MaxBytes too
	}
	st, err := store.New(store.Config[string, *entry]{MaxBytes: answerBytes, Now: r.now, OnEvict: r.evicted})
	if err != nil {
		return nil, err
	}
	r.cache = st
	if err := r.newValidator(cfg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r.aggr = newNSECIndex(cfg, r.validating())
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.prefetch = background.New(background.Config{Timeout: r.cfg.ResolveTimeout})
	return r, nil
}

// Close stops prefetches and waits for them. It is idempotent.
func (r *Recursive) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cancel()
	r.udpWaiting.wake()
	r.prefetch.Close()
	return nil
}

// waitIdle waits for prefetches under way (tests).
func (r *Recursive) waitIdle() { r.prefetch.Wait() }

// Resolve implements Resolver.
func (r *Recursive) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	if r.cfg.Hooks != nil && r.resolveHooked() {
		return r.resolveTraced(ctx, q, r.resolve)
	}
	return r.resolve(ctx, q)
}

func (r *Recursive) resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	r.st.queries.Add(1)
	q.Name = lower(q.Name)
	if q.Qclass == 0 {
		q.Qclass = dns.ClassINET
	}
	if m := r.local(q); m != nil {
		return m, nil
	}
	if m := r.fromCache(q, false, nil); m != nil {
		r.st.cacheHits.Add(1)
		r.cfg.Hooks.cacheEvent(q, CacheHit)
		return m.Copy(), nil // the cached records are shared: the caller gets its own
	}
	return r.resolveMiss(ctx, q, nil)
}

// resolveMiss is Resolve for a question, in canonical form, that local
// data and the cache were just found not to answer (Server asks the cache
// first: a second look would cost a miss the same lookups again).
//
// c is the client for ECS (nil when unknown); its scope is set from the
// answer's.
func (r *Recursive) resolveMiss(ctx context.Context, q dns.Question, c *ecsClient) (*dns.Msg, error) {
	key := cacheKey(q.Name, q.Qtype)
	if c != nil {
		key += "/" + c.subnet.String() // clients of other subnets may get other answers
	}
	if m := r.bogusCachedFor(q, c); m != nil {
		r.st.cacheMisses.Add(1)
		r.cfg.Hooks.cacheEvent(q, CacheMiss)
		return m, nil // RFC 4035 §4.7: a bogus answer is not asked for again at once
	}
	if m := r.synthesise(ctx, q); m != nil {
		// RFC 8198: answered from cached validated NSEC records (and
		// wildcards), without asking: a cache hit.
		r.st.cacheHits.Add(1)
		r.cfg.Hooks.cacheEvent(q, CacheHit)
		return m, nil
	}
	r.st.cacheMisses.Add(1)
	r.cfg.Hooks.cacheEvent(q, CacheMiss)
	if r.failedRecentlyFor(q, c) {
		// RFC 9520 §3: a question that just failed fails again at once
		// (stale data, if any, still served), not after another round
		// of timeouts.
		m := servfail(q)
		res := r.failed(q, m, c)
		if r.cfg.Hooks != nil {
			r.servFail(q, nil, res != m)
		}
		return res, nil
	}
	res, err := r.group.Do(ctx, key, func() (resolved, bool) {
		// The resolution outlives its first asker (others may wait on
		// it) but not Close; resolveFresh bounds its time.
		own := c.fork()
		return resolved{m: r.resolveFresh(r.ctx, q, own), ecs: own}, true
	})
	if err != nil {
		return nil, err
	}
	c.adopt(res.Val.ecs) // its scope, and the slot of its DNSSEC outcome (ecs_dnssec.go)
	if !res.Leader {
		r.st.coalesced.Add(1)
	}
	return res.Val.m.Copy(), nil
}

// cachedInto answers q from local data or the cache alone into reply (its
// Rcode, Answer, Ns and Authoritative), and reports whether it could. The
// records may be shared with the cache: they must not be changed.
func (r *Recursive) cachedInto(reply *dns.Msg, q dns.Question, c *ecsClient) bool {
	if q.Qclass == 0 {
		q.Qclass = dns.ClassINET
	}
	q.Name = lower(q.Name)
	if m := r.local(q); m != nil {
		r.st.queries.Add(1)
		reply.Rcode, reply.Answer, reply.Ns, reply.Authoritative = m.Rcode, m.Answer, m.Ns, m.Authoritative
		return true
	}
	if r.fromCacheInto(reply, q, false, c) {
		r.st.queries.Add(1)
		r.st.cacheHits.Add(1)
		r.cfg.Hooks.cacheEvent(q, CacheHit)
		return true
	}
	return false
}

// localAnswer answers q from local data alone (hosts, special-use names),
// or returns nil.
func (r *Recursive) localAnswer(q dns.Question) *dns.Msg {
	q.Name = lower(q.Name)
	if m := r.local(q); m != nil {
		r.st.queries.Add(1)
		return m
	}
	return nil
}

// resolveFresh resolves without the cache's final answer, falling back to
// stale data (RFC 8767) when no authority answers.
//
// The resolution ends at ctx's deadline or after Config.ResolveTimeout,
// whichever comes first. The iterator keeps that deadline in its state
// and gives it to each upstream socket, rather than deriving a context
// with a timer per resolution (1.9% of a miss's CPU time).
func (r *Recursive) resolveFresh(ctx context.Context, q dns.Question, c *ecsClient) *dns.Msg {
	st := &state{deadline: time.Now().Add(r.cfg.ResolveTimeout), ecs: c}
	if d, ok := ctx.Deadline(); ok && d.Before(st.deadline) {
		st.deadline = d
	}
	var m *dns.Msg
	if len(r.forward) > 0 {
		m = r.forwardWithin(ctx, st, q)
	} else {
		m = r.iterate(ctx, st, q)
	}
	m = r.settle(q, st, m) // DNSSEC (validate.go)
	if m.Rcode == dns.RcodeServerFailure {
		r.putFailureFor(q, c) // per subnet when scoped (ecs_dnssec.go)
		res := r.failed(q, m, c)
		if r.cfg.Hooks != nil {
			r.servFail(q, st, res != m)
		}
		return res
	}
	return m
}

// state bounds one resolution's work and says what the current step is
// for (Trace).
type state struct {
	queries   int
	depth     int
	minimised bool   // the query under way is a minimised probe
	silent    bool   // the zone's servers timed out maxTimeoutsPerAsk times
	timeouts  int    // timeouts from the current zone's servers
	nsHost    string // the name server whose address is being resolved
	deadline  time.Time
	ecs       *ecsClient // the client, for ECS; nil when unknown
	ecsReply  ecsReply   // what the last exchange sent and got of ECS
	lastErr   error      // the last query's error (Hooks.ServFail)
	val       *valState  // DNSSEC validation of the resolution (validate.go)
}

// expired reports whether the resolution's time is up.
func (st *state) expired() bool { return !time.Now().Before(st.deadline) }

// servfail builds a SERVFAIL reply for q.
func servfail(q dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable, m.Rcode = true, true, dns.RcodeServerFailure
	return m
}
