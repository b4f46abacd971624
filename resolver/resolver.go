package resolver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgekit/edgekit/internal/background"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/collapse"
	"github.com/edgekit/edgekit/internal/store"
	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// Resolver answers DNS questions. Recursive is the default implementation.
type Resolver interface {
	// Resolve answers q. The response carries the rcode (NOERROR,
	// NXDOMAIN, SERVFAIL), the answer (with any CNAME chain) and, for a
	// negative answer, the zone's SOA in the authority section. An error
	// means no answer could be had at all.
	Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error)
}

// Config configures a Recursive resolver. Every zero value is a documented
// default.
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
	// MaxBytes sizes the cache. Zero means 32 MiB.
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
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives debug events (referral steps at debug level). Nil
	// means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called for every query the resolver sends and
	// every answer it gets, in order, as dig +trace prints them. It must
	// not block.
	Trace func(Step)
}

// Step is one query sent during a resolution, for Config.Trace.
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
	group   collapse.Group[*dns.Msg]
	hosts   map[string][]netip.Addr

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

	st counters
}

func hasDoH(us []upstream) bool {
	for _, u := range us {
		if u.net == "https" {
			return true
		}
	}
	return false
}

type upstream struct {
	addr string
	net  string // "udp", "tcp-tls" or "https"
	url  string // DoH
}

// entry is one cached RRset or negative answer.
type entry struct {
	rrs     []dns.RR // positive: the RRset; negative: nil
	rcode   int      // dns.RcodeSuccess or dns.RcodeNameError
	soa     dns.RR   // negative answers: the zone's SOA
	stored  time.Time
	ttl     time.Duration
	rank    int // rankReferral or rankAnswer
	origTTL time.Duration
	// dname is the DNAME a cached CNAME was synthesised from (RFC 6672
	// §3.2), given again beside it when the CNAME is answered from cache.
	dname dns.RR
	// agedRRs holds rrs as answered in the latest second of the entry's
	// age (aged), shared by the answers of that second.
	agedRRs atomic.Pointer[agedSet]
}

// Trust ranks of cached data (RFC 2181 §5.4.1), lowest first.
const (
	// rankReferral is a referral's data: the parent's NS set and the glue
	// from its additional section. It finds the child's servers and is
	// never an answer to a client's question.
	rankReferral = 1
	// rankAnswer is data from an answer (or a negative answer) to the
	// question asked: what clients are answered from.
	rankAnswer = 2
)

func (e *entry) fresh(now time.Time) bool { return now.Sub(e.stored) < e.ttl }

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
	for name, addrs := range cfg.Hosts {
		r.hosts[dns.CanonicalName(name)] = addrs
	}
	st, err := store.New(store.Config[string, *entry]{MaxBytes: c.MaxBytes, Now: r.now})
	if err != nil {
		return nil, err
	}
	r.cache = st
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

func cacheKey(name string, qtype uint16) string {
	return name + "/" + strconv.Itoa(int(qtype))
}

// keyBuf is room for a cache key built for one lookup (lookupKey,
// lookupNoCutKey). A buffer on the caller's stack would escape (the
// store's generic Get leaks its key to the escape analysis), so they come
// from Recursive.keyBufs.
type keyBuf [160]byte

// getKeyBuf takes a keyBuf from the pool; putKeyBuf returns it once the
// key built in it is no longer in use.
func (r *Recursive) getKeyBuf() *keyBuf {
	if b, _ := r.keyBufs.Get().(*keyBuf); b != nil {
		return b
	}
	return new(keyBuf)
}

func (r *Recursive) putKeyBuf(b *keyBuf) { r.keyBufs.Put(b) }

// lookupKey returns cacheKey(name, qtype)+suffix for one lookup in the
// cache (Get, Peek), built in b when it fits. Such a string shares b's
// memory: it must not be stored or kept past the lookup, and b must not
// be written or returned to the pool while it is in use. The store keeps
// no key it is only asked for, so the lookups of a miss cost no
// allocation for their keys (16 per resolution before).
func lookupKey(b *keyBuf, name string, qtype uint16, suffix string) string {
	if len(name)+6+len(suffix) > len(b) {
		return cacheKey(name, qtype) + suffix
	}
	k := append(b[:0], name...)
	k = append(k, '/')
	k = strconv.AppendUint(k, uint64(qtype), 10)
	k = append(k, suffix...)
	return unsafe.String(&k[0], len(k))
}

// lookupNoCutKey is noCutKey(name, zone) built as lookupKey builds keys.
func lookupNoCutKey(b *keyBuf, name, zone string) string {
	const sep = "/nocut/"
	if len(name)+len(sep)+len(zone) > len(b) {
		return noCutKey(name, zone)
	}
	k := append(b[:0], name...)
	k = append(k, sep...)
	k = append(k, zone...)
	return unsafe.String(&k[0], len(k))
}

// Resolve implements Resolver.
func (r *Recursive) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	r.st.queries.Add(1)
	q.Name = lower(q.Name)
	if q.Qclass == 0 {
		q.Qclass = dns.ClassINET
	}
	if m := r.local(q); m != nil {
		return m, nil
	}
	if m := r.fromCache(q, false); m != nil {
		r.st.cacheHits.Add(1)
		return m.Copy(), nil // the cached records are shared: the caller gets its own
	}
	return r.resolveMiss(ctx, q)
}

// resolveMiss is Resolve for a question, in canonical form, that local
// data and the cache were just found not to answer (Server asks the cache
// first: a second look would cost a miss the same lookups again).
func (r *Recursive) resolveMiss(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	key := cacheKey(q.Name, q.Qtype)
	r.st.cacheMisses.Add(1)
	if r.failedRecently(q) {
		// RFC 9520 §3: a question that just failed fails again at once
		// (stale data, if any, still served), not after another round
		// of timeouts.
		return r.failed(q, servfail(q)), nil
	}
	res, err := r.group.Do(ctx, key, func() (*dns.Msg, bool) {
		// The resolution outlives its first asker (others may wait on
		// it) but not Close; resolveFresh bounds its time.
		return r.resolveFresh(r.ctx, q), true
	})
	if err != nil {
		return nil, err
	}
	if !res.Leader {
		r.st.coalesced.Add(1)
	}
	return res.Val.Copy(), nil
}

// cachedInto answers q from local data or the cache alone into reply (its
// Rcode, Answer, Ns and Authoritative), and reports whether it could. The
// records may be shared with the cache: they must not be changed.
func (r *Recursive) cachedInto(reply *dns.Msg, q dns.Question) bool {
	if q.Qclass == 0 {
		q.Qclass = dns.ClassINET
	}
	q.Name = lower(q.Name)
	if m := r.local(q); m != nil {
		r.st.queries.Add(1)
		reply.Rcode, reply.Answer, reply.Ns, reply.Authoritative = m.Rcode, m.Answer, m.Ns, m.Authoritative
		return true
	}
	if r.fromCacheInto(reply, q, false) {
		r.st.queries.Add(1)
		r.st.cacheHits.Add(1)
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

// lower is dns.CanonicalName without allocating for names already in
// canonical form.
func lower(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return dns.CanonicalName(name)
		}
	}
	if !strings.HasSuffix(name, ".") {
		return dns.CanonicalName(name)
	}
	return name
}

// resolveFresh resolves without the cache's final answer, falling back to
// stale data (RFC 8767) when no authority answers.
//
// The resolution ends at ctx's deadline or after Config.ResolveTimeout,
// whichever comes first. The iterator keeps that deadline in its state
// and gives it to each upstream socket, rather than deriving a context
// with a timer per resolution (1.9% of a miss's CPU time).
func (r *Recursive) resolveFresh(ctx context.Context, q dns.Question) *dns.Msg {
	st := &state{deadline: time.Now().Add(r.cfg.ResolveTimeout)}
	if d, ok := ctx.Deadline(); ok && d.Before(st.deadline) {
		st.deadline = d
	}
	var m *dns.Msg
	if len(r.forward) > 0 {
		fctx, cancel := context.WithDeadline(ctx, st.deadline)
		m = r.forwardQuery(fctx, st, q)
		cancel()
	} else {
		m = r.iterate(ctx, st, q)
	}
	if m.Rcode == dns.RcodeServerFailure {
		r.putFailure(cacheKey(q.Name, q.Qtype))
		return r.failed(q, m)
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
}

// expired reports whether the resolution's time is up.
func (st *state) expired() bool { return !time.Now().Before(st.deadline) }

// local answers special-use names (RFC 6761) and the hosts table.
func (r *Recursive) local(q dns.Question) *dns.Msg {
	reply := func(rcode int, rrs ...dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.Response, m.RecursionAvailable, m.Rcode, m.Answer = true, true, rcode, rrs
		return m
	}
	if addrs, ok := r.hosts[q.Name]; ok {
		return reply(dns.RcodeSuccess, addrRRs(q, addrs, 300)...)
	}
	if r.cfg.DisableSpecialUse {
		return nil
	}
	// The special-use names are answered as locally served zones (RFC
	// 6303 §2.2): authoritatively, and a negative answer carries the
	// zone's SOA so that it can be cached (RFC 2308 §3).
	negative := func(zone string, rcode int) *dns.Msg {
		m := reply(rcode)
		m.Authoritative = true
		m.Ns = []dns.RR{localSOA(zone)}
		return m
	}
	for _, zone := range [...]string{"localhost.", "invalid.", "test."} {
		if q.Name != zone && !strings.HasSuffix(q.Name, "."+zone) {
			continue
		}
		if zone != "localhost." {
			return negative(zone, dns.RcodeNameError)
		}
		rrs := addrRRs(q, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}, 86400)
		if len(rrs) == 0 {
			return negative(zone, dns.RcodeSuccess) // NODATA
		}
		m := reply(dns.RcodeSuccess, rrs...)
		m.Authoritative = true
		return m
	}
	return nil
}

// localSOA is the SOA of a locally served zone, in the form RFC 6303 §3
// gives (negative answers cached for 3 hours).
func localSOA(zone string) *dns.SOA {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 10800},
		Ns:  zone, Mbox: "nobody.invalid.", Serial: 1,
		Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: 10800,
	}
}

func addrRRs(q dns.Question, addrs []netip.Addr, ttl uint32) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: ttl}
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case a.Is6() && !a.Is4In6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return out
}

// fromCache builds an answer from cached data, following CNAMEs. With
// stale, expired entries within the stale window are used with TTL 30.
// The records may be shared with the cache: they must not be changed.
func (r *Recursive) fromCache(q dns.Question, stale bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable = true, true
	if !r.fromCacheInto(m, q, stale) {
		return nil
	}
	return m
}

// fromCacheInto is fromCache writing the Rcode, Answer and Ns of m (which
// it leaves as they were when it reports false).
func (r *Recursive) fromCacheInto(m *dns.Msg, q dns.Question, stale bool) bool {
	rcode, answer, ns := m.Rcode, m.Answer, m.Ns
	if r.answerFromCache(m, q, stale) {
		return true
	}
	m.Rcode, m.Answer, m.Ns = rcode, answer, ns
	return false
}

func (r *Recursive) answerFromCache(m *dns.Msg, q dns.Question, stale bool) bool {
	now := r.now()
	name := q.Name
	var seenBuf [8]string
	seen := seenBuf[:0] // names on the chain so far (loops end the walk)
	for i := 0; i < r.cfg.MaxDepth; i++ {
		for _, s := range seen {
			if s == name {
				return false
			}
		}
		seen = append(seen, name)
		e := r.cacheGet(name, q.Qtype, now, stale, rankAnswer)
		if e == nil && q.Qtype != dns.TypeCNAME {
			if c := r.cacheGet(name, dns.TypeCNAME, now, stale, rankAnswer); c != nil && len(c.rrs) > 0 {
				aged := r.aged(c, now, stale)
				if c.dname != nil && !slices.ContainsFunc(m.Answer, func(rr dns.RR) bool { return dns.IsDuplicate(rr, c.dname) }) {
					d := dns.Copy(c.dname)
					d.Header().Ttl = aged[0].Header().Ttl
					m.Answer = append(m.Answer, d)
				}
				m.Answer = append(m.Answer, aged...)
				name = dns.CanonicalName(c.rrs[0].(*dns.CNAME).Target)
				continue
			}
		}
		if e == nil {
			e = r.cachedNXDomain(name, now, stale)
		}
		if e == nil {
			return false
		}
		if e.rcode == dns.RcodeNameError || e.rrs == nil {
			m.Rcode = e.rcode
			if e.soa != nil {
				soa := dns.Copy(e.soa)
				soa.Header().Ttl = agedTTL(soa.Header().Ttl, now.Sub(e.stored), stale)
				m.Ns = []dns.RR{soa}
			}
			return true
		}
		if aged := r.aged(e, now, stale); m.Answer == nil {
			m.Answer = aged // len == cap: an append copies, never writes into it
		} else {
			m.Answer = append(m.Answer, aged...)
		}
		if !stale {
			r.maybePrefetch(q, e, now)
		}
		return true
	}
	return false
}

// cachedNXDomain finds an NXDOMAIN cached for name or an ancestor: nothing
// exists below a name that does not exist (RFC 8020).
func (r *Recursive) cachedNXDomain(name string, now time.Time, stale bool) *entry {
	for n := name; ; n = parent(n) {
		if e := r.cacheGet(n, 0, now, stale, rankAnswer); e != nil && e.rcode == dns.RcodeNameError {
			return e
		}
		if n == "." {
			return nil
		}
	}
}

// cacheGet returns the entry cached for name/qtype if it is fresh (or,
// with stale, within the stale window) and of rank minRank or better.
func (r *Recursive) cacheGet(name string, qtype uint16, now time.Time, stale bool, minRank int) *entry {
	b := r.getKeyBuf()
	e, ok := r.cache.Get(lookupKey(b, name, qtype, ""))
	r.putKeyBuf(b)
	if !ok || e.rank < minRank {
		return nil
	}
	if e.fresh(now) {
		return e
	}
	if stale && r.cfg.StaleWindow > 0 && now.Sub(e.stored) < e.ttl+r.cfg.StaleWindow {
		return e
	}
	return nil
}

func agedTTL(ttl uint32, elapsed time.Duration, stale bool) uint32 {
	if stale {
		return 30 // RFC 8767 §4
	}
	left := int64(ttl) - int64(elapsed/time.Second)
	if left < 0 {
		left = 0
	}
	return uint32(left)
}

// aged returns e's records with their TTLs counted down to now (30 with
// stale). Fresh records are built once per second of age and shared by
// the answers given in that second, which must not change them.
func (r *Recursive) aged(e *entry, now time.Time, stale bool) []dns.RR {
	if stale {
		return r.agedCopy(e, now, true)
	}
	sec := int64(now.Sub(e.stored) / time.Second)
	if a := e.agedRRs.Load(); a != nil && a.sec == sec {
		return a.rrs
	}
	rrs := r.agedCopy(e, now, false)
	e.agedRRs.Store(&agedSet{sec: sec, rrs: rrs[:len(rrs):len(rrs)]})
	return rrs
}

// agedSet is an entry's records as answered during one second of its age.
type agedSet struct {
	sec int64
	rrs []dns.RR
}

func (r *Recursive) agedCopy(e *entry, now time.Time, stale bool) []dns.RR {
	out := make([]dns.RR, len(e.rrs))
	for i, rr := range e.rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = agedTTL(rr.Header().Ttl, now.Sub(e.stored), stale)
		out[i] = c
	}
	return out
}

func (r *Recursive) clamp(ttl time.Duration) time.Duration {
	if ttl < r.cfg.MinTTL {
		ttl = r.cfg.MinTTL
	}
	if ttl > r.cfg.MaxTTL {
		ttl = r.cfg.MaxTTL
	}
	return ttl
}

// putAnswer caches the RRsets of an answer section, each CNAME with the
// DNAME in the answer it was synthesised from, if any.
func (r *Recursive) putAnswer(answer []dns.RR, rank int) {
	for _, set := range groupRRsets(answer) {
		var dname dns.RR
		if c, ok := set[0].(*dns.CNAME); ok {
			dname = dnameFor(answer, c)
		}
		r.putEntry(set, rank, dname)
	}
}

// dnameFor returns the DNAME in answer that c was synthesised from: one
// owned by a proper ancestor of c's owner whose substitution gives c's
// target (RFC 6672 §2.2).
func dnameFor(answer []dns.RR, c *dns.CNAME) dns.RR {
	name := dns.CanonicalName(c.Hdr.Name)
	for _, rr := range answer {
		d, ok := rr.(*dns.DNAME)
		if !ok {
			continue
		}
		owner := dns.CanonicalName(d.Hdr.Name)
		if owner == name || !isSubName(owner, name) {
			continue
		}
		if dns.CanonicalName(strings.TrimSuffix(name, owner)+d.Target) == dns.CanonicalName(c.Target) {
			return d
		}
	}
	return nil
}

// putRRset caches rrs (one name and type) unless better data is cached.
func (r *Recursive) putRRset(rrs []dns.RR, rank int) { r.putEntry(rrs, rank, nil) }

func (r *Recursive) putEntry(rrs []dns.RR, rank int, dname dns.RR) {
	if len(rrs) == 0 {
		return
	}
	h := rrs[0].Header()
	name, qtype := dns.CanonicalName(h.Name), h.Rrtype
	minTTL := h.Ttl
	cost := int64(len(name) + 32)
	for _, rr := range rrs {
		if rr.Header().Ttl < minTTL {
			minTTL = rr.Header().Ttl
		}
		cost += int64(dns.Len(rr)) + 48
	}
	now := r.now()
	b := r.getKeyBuf()
	old, ok := r.cache.Peek(lookupKey(b, name, qtype, ""))
	r.putKeyBuf(b)
	if ok && old.fresh(now) && old.rank > rank {
		return
	}
	ttl := r.clamp(time.Duration(minTTL) * time.Second)
	if dname != nil {
		cost += int64(dns.Len(dname)) + 48
	}
	e := &entry{rrs: rrs, rcode: dns.RcodeSuccess, stored: now, ttl: ttl, origTTL: ttl, rank: rank, dname: dname}
	r.cache.Set(cacheKey(name, qtype), e, cost, now.Add(ttl+max(r.cfg.StaleWindow, 0)))
}

// putNegative caches NXDOMAIN (qtype 0) or NODATA for name (RFC 2308).
func (r *Recursive) putNegative(name string, qtype uint16, rcode int, soa dns.RR) {
	ttl := time.Duration(0)
	if soa != nil {
		s := soa.(*dns.SOA)
		ttl = time.Duration(min(s.Hdr.Ttl, s.Minttl)) * time.Second
	}
	ttl = min(r.clamp(ttl), r.cfg.MaxNegativeTTL)
	if ttl <= 0 {
		return
	}
	now := r.now()
	if rcode == dns.RcodeNameError {
		qtype = 0
	}
	e := &entry{rcode: rcode, soa: soa, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer}
	r.cache.Set(cacheKey(name, qtype), e, int64(len(name)+128), now.Add(ttl+max(r.cfg.StaleWindow, 0)))
}

// Flush removes every cached entry for name (all types) and reports how
// many it removed.
func (r *Recursive) Flush(name string) int {
	name = dns.CanonicalName(name)
	prefix := name + "/"
	var keys []string
	r.cache.Range(func(k string, _ *entry) bool {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return true
	})
	n := 0
	for _, k := range keys {
		if r.cache.Delete(k) {
			n++
		}
	}
	return n
}

func (r *Recursive) maybePrefetch(q dns.Question, e *entry, now time.Time) {
	if !r.cfg.Prefetch || e.origTTL < 10*time.Second || now.Sub(e.stored) < e.origTTL*9/10 || r.closed.Load() {
		return
	}
	r.prefetch.Go(cacheKey(q.Name, q.Qtype), func(ctx context.Context) {
		r.st.prefetches.Add(1)
		r.resolveFresh(ctx, q)
	})
}

// servfail builds a SERVFAIL reply for q.
func servfail(q dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Response, m.RecursionAvailable, m.Rcode = true, true, dns.RcodeServerFailure
	return m
}

// failureTTL is how long a failed resolution is remembered (RFC 9520 §3.2:
// at least 1 s, at most 5 min).
const failureTTL = 5 * time.Second

// putFailure remembers that resolving the question with cache key key
// failed (SERVFAIL), for failureTTL. The entry has a key of its own, so
// the question's stale data stays for serving (RFC 8767).
func (r *Recursive) putFailure(key string) {
	r.putMark(key+"/fail", dns.RcodeServerFailure, failureTTL)
}

// putMark caches a record-less entry under key (a failure or a no-cut
// mark, never an RRset's key) for ttl.
func (r *Recursive) putMark(key string, rcode int, ttl time.Duration) {
	now := r.now()
	e := &entry{rcode: rcode, stored: now, ttl: ttl, origTTL: ttl, rank: rankAnswer}
	r.cache.Set(key, e, int64(len(key)+96), now.Add(ttl))
}

// failed counts a failed resolution of q and returns the stale answer
// still held for it (RFC 8767), or m.
func (r *Recursive) failed(q dns.Question, m *dns.Msg) *dns.Msg {
	r.st.servfails.Add(1)
	if stale := r.fromCache(q, true); stale != nil {
		r.st.staleServed.Add(1)
		return stale
	}
	return m
}

// failedRecently reports whether resolving q failed within failureTTL
// (putFailure).
func (r *Recursive) failedRecently(q dns.Question) bool {
	b := r.getKeyBuf()
	e, ok := r.cache.Peek(lookupKey(b, q.Name, q.Qtype, "/fail"))
	r.putKeyBuf(b)
	return ok && e.fresh(r.now())
}

// holdDown is a server that stopped answering: no query goes to it until
// until; backoff doubles with each failed retry after that (RFC 9520 §3.3).
type holdDown struct {
	fails   int
	until   time.Time
	backoff time.Duration
}

const (
	holdDownAfter = 4           // consecutive failures before a server is held down (a lost datagram or two under load is no outage)
	holdDownMin   = time.Second // the first hold-down
	holdDownMax   = time.Minute // the longest (RFC 9520 allows up to 5 min; a minute limits the outage after the servers return)
)

// iterate resolves q from the closest known zone cut, chasing CNAMEs.
func (r *Recursive) iterate(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	out := new(dns.Msg)
	out.SetQuestion(q.Name, q.Qtype)
	out.Response, out.RecursionAvailable = true, true
	name := q.Name
	seen := map[string]bool{}
	for hops := 0; ; hops++ {
		if hops > r.cfg.MaxDepth || seen[name] {
			return servfail(q) // CNAME loop or chain too long
		}
		seen[name] = true
		// Cached data for the next name in a chain saves the walk.
		if hops > 0 {
			if m := r.fromCache(dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}, false); m != nil {
				out.Answer = append(out.Answer, m.Answer...)
				out.Ns, out.Rcode = m.Ns, m.Rcode
				return out
			}
		}
		ans, rcode, soa, next := r.resolveName(ctx, st, name, q.Qtype)
		if rcode == dns.RcodeServerFailure {
			return servfail(q)
		}
		out.Answer = append(out.Answer, ans...)
		if next == "" {
			out.Rcode = rcode
			if soa != nil {
				out.Ns = []dns.RR{soa}
			}
			return out
		}
		name = next
	}
}

// resolveName finds name/qtype at its authority. It returns the answer
// records (possibly a CNAME chain ending outside the zone, with next set to
// the name to continue with), or a negative rcode with the SOA.
func (r *Recursive) resolveName(ctx context.Context, st *state, name string, qtype uint16) (answer []dns.RR, rcode int, soa dns.RR, next string) {
	zone, servers := r.closestCut(ctx, st, name)
	st.timeouts, st.silent = 0, false
	minimise := !r.cfg.DisableQNAMEMinimisation
	probe := "" // deepest name under zone known to exist without a cut
	if minimise {
		probe = r.knownNoCut(zone, name)
	}
	for len(servers) > 0 {
		if st.queries >= r.cfg.MaxQueries || ctx.Err() != nil || st.expired() {
			return nil, dns.RcodeServerFailure, nil, ""
		}
		qname, qt := name, qtype
		if minimise {
			base := zone
			if probe != "" {
				base = probe
			}
			if next := childToward(base, name); next != name {
				qname, qt = next, dns.TypeA
			}
		}
		st.minimised = qname != name
		resp, server := r.ask(ctx, st, zone, servers, qname, qt, false)
		st.minimised = false
		if resp == nil && zone == "." {
			r.noRootAnswered()
		}
		if resp == nil {
			if qname != name && !st.silent {
				minimise = false // RFC 9156 §2.3: fall back to the full name
				continue
			}
			return nil, dns.RcodeServerFailure, nil, ""
		}
		if qname != name {
			switch kind, data := classify(resp, zone, qname, qt); kind {
			case kindReferral:
				var ok bool
				if zone, servers, ok = r.descend(ctx, st, data); !ok {
					return nil, dns.RcodeServerFailure, nil, ""
				}
				probe = r.knownNoCut(zone, name)
			case kindNXDomain:
				// Nothing exists below a name that does not (RFC 8020),
				// but some servers answer NXDOMAIN for an empty
				// non-terminal: the full name is asked before concluding
				// (RFC 9156 §2.3, as Unbound does when not strict), and
				// only its answer is cached. A cached NXDOMAIN still
				// answers for the names below it.
				minimise = false
			case kindLame, kindLoop:
				minimise = false
			default:
				// The name exists (or is an empty non-terminal) inside
				// this zone: look one label deeper, and remember that
				// no cut is there, so the next name below it skips
				// this step.
				probe = qname
				r.putNoCut(qname, zone, resp)
			}
			continue
		}
		switch kind, data := classify(resp, zone, name, qtype); kind {
		case kindAnswer:
			r.putAnswer(data.answer, rankAnswer)
			return data.answer, dns.RcodeSuccess, nil, data.next
		case kindNXDomain:
			r.putNegative(data.negName, qtype, dns.RcodeNameError, data.soa)
			return data.answer, dns.RcodeNameError, data.soa, ""
		case kindNoData:
			r.putNegative(data.negName, qtype, dns.RcodeSuccess, data.soa)
			return data.answer, dns.RcodeSuccess, data.soa, ""
		case kindLoop:
			return nil, dns.RcodeServerFailure, nil, ""
		case kindReferral:
			// A cut where none was known (made since, or below what the
			// walk had probed): go down, and minimise from the new zone.
			var ok bool
			if zone, servers, ok = r.descend(ctx, st, data); !ok {
				return nil, dns.RcodeServerFailure, nil, ""
			}
			probe = ""
			if minimise {
				probe = r.knownNoCut(zone, name)
			}
		default: // lame: try the others
			servers = without(servers, server)
		}
	}
	return nil, dns.RcodeServerFailure, nil, ""
}

// childToward returns the ancestor of name one label below base (name
// itself when it is that close).
func childToward(base, name string) string {
	want := dns.CountLabel(base) + 1
	if dns.CountLabel(name) <= want {
		return name
	}
	labels := dns.SplitDomainName(name)
	return dns.Fqdn(strings.Join(labels[len(labels)-want:], "."))
}

func without(list []netip.AddrPort, drop netip.AddrPort) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(list))
	for _, a := range list {
		if a != drop {
			out = append(out, a)
		}
	}
	return out
}

// noCutKey is the cache key recording that name, inside zone, is no zone
// cut: the zone's servers answered for it rather than refer. It cannot
// collide with an RRset's key (name/number).
func noCutKey(name, zone string) string { return name + "/nocut/" + zone }

// putNoCut records that a minimised query for name was answered by zone's
// servers without a referral (RFC 9156 §2: what a resolver learns about
// cuts it may reuse), for the TTL of that answer's data. A cut made there
// later is still found: the zone's servers then answer with a referral.
func (r *Recursive) putNoCut(name, zone string, resp *dns.Msg) {
	ttl, found := uint32(math.MaxUint32), false
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range section {
			t := rr.Header().Ttl
			if soa, ok := rr.(*dns.SOA); ok {
				t = min(t, soa.Minttl) // a NODATA's own lifetime (RFC 2308 §5)
			}
			ttl, found = min(ttl, t), true
		}
	}
	if !found {
		return
	}
	d := min(r.clamp(time.Duration(ttl)*time.Second), r.cfg.MaxNegativeTTL)
	if d <= 0 {
		return
	}
	r.putMark(noCutKey(name, zone), dns.RcodeSuccess, d)
}

// knownNoCut returns the deepest ancestor of name strictly below zone
// (name itself excluded) recorded as no cut in zone, or "".
func (r *Recursive) knownNoCut(zone, name string) string {
	now := r.now()
	b := r.getKeyBuf()
	defer r.putKeyBuf(b)
	for n := parent(name); n != zone && n != "." && isSubName(zone, n); n = parent(n) {
		if e, ok := r.cache.Get(lookupNoCutKey(b, n, zone)); ok && e.fresh(now) {
			return n
		}
	}
	return ""
}

// closestCut returns the deepest zone above name whose servers are known.
func (r *Recursive) closestCut(ctx context.Context, st *state, name string) (string, []netip.AddrPort) {
	now := r.now()
	for z := name; z != "."; z = parent(z) {
		if e := r.cacheGet(z, dns.TypeNS, now, false, rankReferral); e != nil && len(e.rrs) > 0 {
			if servers := r.serversFor(ctx, st, z, e.rrs); len(servers) > 0 {
				return z, servers
			}
		}
	}
	return ".", r.allowed(r.roots)
}

// descend follows a referral one zone down: it counts the step against
// MaxDepth, caches the delegation (NS and glue, at referral trust) and
// returns the child zone and its servers; ok is false past the depth limit.
func (r *Recursive) descend(ctx context.Context, st *state, data classified) (zone string, servers []netip.AddrPort, ok bool) {
	st.depth++
	if st.depth > r.cfg.MaxDepth {
		return "", nil, false
	}
	st.timeouts, st.silent = 0, false // a new zone's servers
	r.putRRset(data.ns, rankReferral)
	for _, set := range groupRRsets(data.glue) {
		r.putRRset(set, rankReferral)
	}
	return data.child, r.serversFor(ctx, st, data.child, data.ns), true
}

// serversFor returns the addresses of a zone's name servers: glue or
// cached addresses first, then glueless resolution of out-of-zone names.
func (r *Recursive) serversFor(ctx context.Context, st *state, zone string, nsSet []dns.RR) []netip.AddrPort {
	now := r.now()
	var out []netip.AddrPort
	var glueless []string
	for _, rr := range nsSet {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		host := dns.CanonicalName(ns.Ns)
		found := false
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e := r.cacheGet(host, t, now, false, rankReferral); e != nil {
				for _, a := range e.rrs {
					if ap, ok := addrOf(a, r.cfg.Port); ok {
						out = append(out, ap)
						found = true
					}
				}
			}
		}
		if !found && !isSubName(zone, host) {
			glueless = append(glueless, host)
		}
	}
	if len(out) == 0 && st.depth < r.cfg.MaxDepth {
		for _, host := range glueless {
			st.depth++
			outer := st.nsHost
			st.nsHost = host
			m := r.iterate(ctx, st, dns.Question{Name: host, Qtype: dns.TypeA, Qclass: dns.ClassINET})
			st.nsHost = outer
			st.depth--
			for _, a := range m.Answer {
				if ap, ok := addrOf(a, r.cfg.Port); ok {
					out = append(out, ap)
				}
			}
			if len(out) > 0 {
				break
			}
		}
	}
	return r.allowed(out)
}

func addrOf(rr dns.RR, port int) (netip.AddrPort, bool) {
	switch v := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
			return netip.AddrPortFrom(a, uint16(port)), true
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(v.AAAA); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
		}
	}
	return netip.AddrPort{}, false
}

// allowed drops server addresses the resolver may not use.
func (r *Recursive) allowed(list []netip.AddrPort) []netip.AddrPort {
	if r.cfg.AllowLoopback {
		return list
	}
	out := list[:0:0]
	for _, ap := range list {
		if internalAddr(ap.Addr()) {
			r.logRefused(ap)
			continue
		}
		out = append(out, ap)
	}
	return out
}

// internalAddr reports whether a is an address a resolver without
// AllowLoopback never sends queries to.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast()
}

// logRefused logs at debug level, once per server, that a name server on
// an internal address was not asked.
func (r *Recursive) logRefused(ap netip.AddrPort) {
	if ce := r.log.Check(zap.DebugLevel, "name server on a loopback or private address not asked (Config.AllowLoopback is off)"); ce != nil {
		r.refusedMu.Lock()
		if r.refusedLog == nil || len(r.refusedLog) > 10_000 {
			r.refusedLog = map[netip.AddrPort]struct{}{}
		}
		_, seen := r.refusedLog[ap]
		r.refusedLog[ap] = struct{}{}
		r.refusedMu.Unlock()
		if !seen {
			ce.Write(zap.Stringer("server", ap))
		}
	}
}

// maxTimeoutsPerAsk bounds the timeouts from one zone's servers in one
// resolution before it fails: with no network the 13 root servers
// would otherwise cost 13 timeouts (20 s) before the SERVFAIL; three give
// the SERVFAIL in about 4.5 s, and servers that refuse at once (an
// unreachable network) do not count.
const maxTimeoutsPerAsk = 3

// noRootAnswered logs, at most once a minute, that no root server
// answered: the usual sign of a host without Internet access, or of root
// hints that are wrong.
func (r *Recursive) noRootAnswered() {
	now := r.now().UnixNano()
	last := r.rootWarned.Load()
	if now-last < int64(time.Minute) && last != 0 || !r.rootWarned.CompareAndSwap(last, now) {
		return
	}
	r.log.Warn("no root server answered: no Internet access, or wrong root hints?", zap.Int("roots", len(r.roots)), zap.Int("usable", len(r.allowed(r.roots))))
}

// ask sends name/qtype to the zone's servers in order of smoothed RTT
// until one gives a usable answer. It returns nil when none does.
func (r *Recursive) ask(ctx context.Context, st *state, zone string, servers []netip.AddrPort, name string, qtype uint16, rd bool) (*dns.Msg, netip.AddrPort) {
	order := r.bySRTT(servers)
	for _, s := range order {
		if st.timeouts >= maxTimeoutsPerAsk {
			st.silent = true // servers that do not answer will not answer the full name either
			return nil, netip.AddrPort{}
		}
		if st.queries >= r.cfg.MaxQueries || ctx.Err() != nil || st.expired() {
			return nil, netip.AddrPort{}
		}
		resp, err := r.exchange(ctx, st, zone, s, name, qtype, rd)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				st.timeouts++
			}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return resp, s
		}
	}
	return nil, netip.AddrPort{}
}

// exchange sends one query (UDP, TCP on truncation, no EDNS after FORMERR)
// and validates that the response answers it.
func (r *Recursive) exchange(ctx context.Context, st *state, zone string, server netip.AddrPort, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	edns := !r.knownNoEDNS(server)
	netw := "udp"
	for attempt := 0; attempt < 3; attempt++ {
		st.queries++
		r.st.upstream.Add(1)
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.RecursionDesired = rd
		if edns {
			q.SetEdns0(1232, false)
		}
		start := time.Now()
		var resp *dns.Msg
		var err error
		if netw == "udp" {
			deadline := start.Add(r.cfg.Timeout)
			if st.deadline.Before(deadline) {
				deadline = st.deadline
			}
			resp, err = r.exchangeUDP(ctx, q, server, deadline)
		} else {
			c := &dns.Client{Net: netw, Timeout: r.cfg.Timeout}
			tctx, cancel := context.WithDeadline(ctx, st.deadline)
			resp, _, err = c.ExchangeContext(tctx, q, server.String())
			cancel()
		}
		rtt := time.Since(start)
		if r.cfg.Trace != nil {
			r.cfg.Trace(Step{Zone: zone, Server: server, Question: q.Question[0], Response: resp, RTT: rtt, Err: err, Minimised: st.minimised, NameServer: st.nsHost})
		}
		if err != nil {
			r.st.timeouts.Add(1)
			r.observe(server, 0, true)
			return nil, err
		}
		r.observe(server, rtt, false)
		if edns && ednsIntolerant(resp, q) {
			// RFC 6891 §7: a server that does not speak EDNS answers
			// FORMERR without an OPT record (often without the
			// question); ask again without EDNS, and remember it.
			edns = false
			r.noEDNS(server)
			continue
		}
		if !matches(resp, q) {
			return nil, ErrMismatch
		}
		if resp.Truncated && netw == "udp" {
			netw = "tcp"
			continue
		}
		return resp, nil
	}
	return nil, ErrMismatch
}

// ednsIntolerant reports whether resp, the reply to q (sent with EDNS), is
// a FORMERR without an OPT record: the sign of a server that does not
// implement EDNS (RFC 6891 §7). The question must be q's if the reply
// carries one; a FORMERR with an OPT record is the server's real verdict.
func ednsIntolerant(resp, q *dns.Msg) bool {
	if resp.Rcode != dns.RcodeFormatError || !resp.Response || resp.Id != q.Id || resp.IsEdns0() != nil {
		return false
	}
	return len(resp.Question) == 0 || matches(resp, q)
}

// noEDNSTTL is how long a server is remembered as not speaking EDNS (as
// Unbound's infrastructure cache keeps a host's EDNS status, infra-host-ttl
// 900 s); then it is asked with EDNS again.
const noEDNSTTL = 15 * time.Minute

// noEDNS remembers that server does not speak EDNS.
func (r *Recursive) noEDNS(server netip.AddrPort) {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	if r.plain == nil || len(r.plain) > 100_000 {
		r.plain = map[netip.AddrPort]time.Time{}
	}
	r.plain[server] = r.now().Add(noEDNSTTL)
}

// knownNoEDNS reports whether server is remembered as not speaking EDNS.
func (r *Recursive) knownNoEDNS(server netip.AddrPort) bool {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	until, ok := r.plain[server]
	return ok && r.now().Before(until)
}

// matches checks that resp answers q (RFC 5452 §9.1: ID, question).
func matches(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return strings.EqualFold(a.Name, b.Name) && a.Qtype == b.Qtype && a.Qclass == b.Qclass
}

func (r *Recursive) bySRTT(servers []netip.AddrPort) []netip.AddrPort {
	type ranked struct {
		s   netip.AddrPort
		rtt time.Duration
	}
	now := r.now()
	out := make([]ranked, 0, len(servers))
	r.rttMu.Lock()
	for _, s := range servers {
		// Held-down servers wait; an expired hold is one retry. Unknown
		// servers (RTT 0) are tried first.
		if h, ok := r.down[s]; !ok || !now.Before(h.until) {
			out = append(out, ranked{s, r.srtt[s]})
		}
	}
	r.rttMu.Unlock()
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] }) // ties in random order
	slices.SortStableFunc(out, func(a, b ranked) int { return cmp.Compare(a.rtt, b.rtt) })
	sorted := make([]netip.AddrPort, len(out))
	for i, x := range out {
		sorted[i] = x.s
	}
	return sorted
}

// observe updates a server's smoothed RTT; a timeout counts as a long RTT
// so the server is tried last for a while (as Unbound's infra cache does).
func (r *Recursive) observe(s netip.AddrPort, rtt time.Duration, timeout bool) {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	if len(r.srtt) > 100_000 {
		r.srtt = map[netip.AddrPort]time.Duration{}
	}
	if timeout {
		if r.down == nil || len(r.down) > 100_000 {
			r.down = map[netip.AddrPort]holdDown{}
		}
		h := r.down[s]
		if h.fails++; h.fails >= holdDownAfter {
			h.backoff = min(max(2*h.backoff, holdDownMin), holdDownMax)
			h.until = r.now().Add(h.backoff)
		}
		r.down[s] = h
	} else if r.down != nil {
		delete(r.down, s)
	}
	old := r.srtt[s]
	switch {
	case timeout:
		r.srtt[s] = max(old*2, r.cfg.Timeout)
	case old == 0:
		r.srtt[s] = rtt
	default:
		r.srtt[s] = (old*7 + rtt*3) / 10
	}
}

type respKind int

const (
	kindLame respKind = iota
	kindAnswer
	kindNXDomain
	kindNoData
	kindReferral
	kindLoop
)

type classified struct {
	answer  []dns.RR // accepted answer records (the chain)
	next    string   // CNAME target to continue with, if the chain left the answer
	soa     dns.RR
	negName string
	ns      []dns.RR // referral NS set
	glue    []dns.RR
	child   string
}

// classify reads a response from a server of zone for name/qtype, keeping
// only in-bailiwick data (cache-poisoning defence, RFC 5452 §6).
func classify(m *dns.Msg, zone, name string, qtype uint16) (respKind, classified) {
	var c classified
	inZone := func(n string) bool { return isSubName(zone, dns.CanonicalName(n)) }
	// Follow the answer section from name through CNAMEs, accepting only
	// records on the chain that lie within the zone.
	cur := name
	visited := map[string]bool{name: true}
	for hops := 0; hops < 16; hops++ {
		var matched, cname []dns.RR
		for _, rr := range m.Answer {
			h := rr.Header()
			if dns.CanonicalName(h.Name) != cur || !inZone(h.Name) {
				continue
			}
			if h.Rrtype == qtype || qtype == dns.TypeANY {
				matched = append(matched, rr)
			} else if h.Rrtype == dns.TypeCNAME {
				cname = append(cname, rr)
			}
		}
		if len(matched) > 0 {
			// The chain ends here, inside this response: nothing is left
			// to chase (a stale c.next would ask for the target again and
			// repeat its records in the answer).
			c.answer = append(c.answer, matched...)
			c.next = ""
			return kindAnswer, c
		}
		if len(cname) == 0 {
			// A DNAME at an ancestor stands for a CNAME the resolver
			// synthesises itself when the server sent none (RFC 6672 §3.2).
			for _, rr := range m.Answer {
				d, ok := rr.(*dns.DNAME)
				owner := dns.CanonicalName(rr.Header().Name)
				if !ok || owner == cur || !isSubName(owner, cur) || !inZone(owner) {
					continue
				}
				target := dns.CanonicalName(strings.TrimSuffix(cur, owner) + d.Target)
				if _, valid := dns.IsDomainName(target); !valid {
					break
				}
				c.answer = append(c.answer, rr)
				cname = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: cur, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target}}
				break
			}
		}
		if len(cname) == 0 {
			break
		}
		// Keep a DNAME that covers cur beside the CNAME a server
		// synthesised from it (RFC 6672 §3.2).
		for _, rr := range m.Answer {
			owner := dns.CanonicalName(rr.Header().Name)
			if _, ok := rr.(*dns.DNAME); ok && owner != cur && isSubName(owner, cur) && inZone(owner) && !containsRR(c.answer, rr) {
				c.answer = append(c.answer, rr)
			}
		}
		c.answer = append(c.answer, cname[0])
		cur = dns.CanonicalName(cname[0].(*dns.CNAME).Target)
		if visited[cur] {
			return kindLoop, c
		}
		visited[cur] = true
		c.next = cur
	}
	soa := func() dns.RR {
		for _, rr := range m.Ns {
			if s, ok := rr.(*dns.SOA); ok && inZone(s.Hdr.Name) && isSubName(dns.CanonicalName(s.Hdr.Name), cur) {
				return soaForNegative(s)
			}
		}
		return nil
	}
	if m.Rcode == dns.RcodeNameError {
		s := soa()
		if len(c.answer) == 0 && s == nil && !m.Authoritative {
			// Neither authoritative nor with the SOA that would let it
			// be cached: not an answer (a middlebox that rewrites, a
			// "root" that is no such thing). Other servers are asked.
			return kindLame, c
		}
		if len(c.answer) == 0 || s != nil && inZone(cur) {
			c.soa, c.negName, c.next = s, cur, ""
			return kindNXDomain, c
		}
		// A chain that left this zone ends in an NXDOMAIN that this
		// zone's servers cannot vouch for (a server following a CNAME
		// into another zone it serves, or one that sent no SOA): the
		// target is asked at its own authority, whose SOA the negative
		// answer must carry (RFC 2308 §2.1, §5).
		return kindAnswer, c
	}
	if len(c.answer) > 0 {
		// A CNAME chain leaving this response: continue at c.next unless
		// the server is authoritative for the target and said nothing.
		if m.Authoritative && inZone(c.next) && !hasReferral(m, zone, c.next) {
			if s := soa(); s != nil {
				c.soa, c.negName, c.next = s, cur, ""
				return kindNoData, c
			}
		}
		return kindAnswer, c
	}
	// A referral: NS for a zone strictly below ours and above the name.
	var child string
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			owner := dns.CanonicalName(ns.Hdr.Name)
			if owner != zone && isSubName(zone, owner) && isSubName(owner, name) && (child == "" || child == owner) {
				child = owner
				c.ns = append(c.ns, rr)
			}
		}
	}
	if child != "" && !m.Authoritative || child != "" && len(m.Answer) == 0 && soa() == nil {
		c.child = child
		nsNames := map[string]bool{}
		for _, rr := range c.ns {
			nsNames[dns.CanonicalName(rr.(*dns.NS).Ns)] = true
		}
		for _, rr := range m.Extra {
			h := rr.Header()
			// Glue only for the listed servers, and only inside the
			// delegating zone's bailiwick.
			if (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) && nsNames[dns.CanonicalName(h.Name)] && inZone(h.Name) {
				c.glue = append(c.glue, rr)
			}
		}
		return kindReferral, c
	}
	if s := soa(); s != nil || m.Authoritative {
		c.soa, c.negName = s, name
		return kindNoData, c
	}
	return kindLame, c
}

func containsRR(list []dns.RR, rr dns.RR) bool {
	for _, x := range list {
		if x == rr {
			return true
		}
	}
	return false
}

func hasReferral(m *dns.Msg, zone, name string) bool {
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			owner := dns.CanonicalName(ns.Hdr.Name)
			if owner != zone && isSubName(owner, name) {
				return true
			}
		}
	}
	return false
}

// groupRRsets splits records into RRsets by owner and type.
func groupRRsets(rrs []dns.RR) [][]dns.RR {
	var out [][]dns.RR
	idx := map[string]int{}
	for _, rr := range rrs {
		k := cacheKey(dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype)
		if i, ok := idx[k]; ok {
			out[i] = append(out[i], rr)
			continue
		}
		idx[k] = len(out)
		out = append(out, []dns.RR{rr})
	}
	return out
}

// forwardQuery sends q with recursion desired to the upstreams, best
// smoothed RTT first.
func (r *Recursive) forwardQuery(ctx context.Context, st *state, q dns.Question) *dns.Msg {
	type cand struct {
		u   upstream
		key netip.AddrPort
	}
	var cands []cand
	for _, u := range r.forward {
		ap, _ := netip.ParseAddrPort(u.addr)
		cands = append(cands, cand{u, ap})
	}
	r.rttMu.Lock()
	sort.SliceStable(cands, func(i, j int) bool { return r.srtt[cands[i].key] < r.srtt[cands[j].key] })
	r.rttMu.Unlock()
	for _, c := range cands {
		if st.queries >= r.cfg.MaxQueries {
			break
		}
		st.queries++
		r.st.upstream.Add(1)
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.RecursionDesired = true
		m.SetEdns0(1232, false)
		var resp *dns.Msg
		var rtt time.Duration
		var err error
		if c.u.net == "https" {
			resp, rtt, err = r.dohExchange(ctx, m, c.u.url)
		} else {
			cl := &dns.Client{Net: c.u.net, Timeout: r.cfg.Timeout, UDPSize: 1232, TLSConfig: r.cfg.TLSConfig}
			resp, rtt, err = cl.ExchangeContext(ctx, m, c.u.addr)
			if err == nil && resp.Truncated && c.u.net == "udp" {
				cl.Net = "tcp"
				resp, rtt, err = cl.ExchangeContext(ctx, m, c.u.addr)
			}
		}
		if err != nil || !matches(resp, m) {
			r.st.timeouts.Add(1)
			r.observe(c.key, 0, true)
			continue
		}
		r.observe(c.key, rtt, false)
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			continue
		}
		out := new(dns.Msg)
		out.SetQuestion(q.Name, q.Qtype)
		out.Response, out.RecursionAvailable, out.Rcode = true, true, resp.Rcode
		// Only the records on the chain from the question's name (and
		// the DNAMEs that synthesised its CNAMEs) answer it, and only
		// they are cached: anything else in the answer section is data
		// of lower trust (RFC 2181 §5.4.1) that an upstream, or someone
		// spoofing it, slipped in.
		// A negative answer, possibly at the end of a CNAME chain, is
		// cached for the chain's last name (RFC 2308 §5).
		last := q.Name
		answered := false
		for range 2 * r.cfg.MaxDepth {
			progressed := false
			for _, rr := range resp.Answer {
				if dns.CanonicalName(rr.Header().Name) != last || containsRR(out.Answer, rr) {
					continue
				}
				if c, ok := rr.(*dns.CNAME); ok && q.Qtype != dns.TypeCNAME {
					if d := dnameFor(resp.Answer, c); d != nil && !containsRR(out.Answer, d) {
						out.Answer = append(out.Answer, d)
					}
					out.Answer = append(out.Answer, rr)
					last = dns.CanonicalName(c.Target)
					progressed = true
					break
				} else if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
					out.Answer = append(out.Answer, rr)
					answered = true
				}
			}
			if !progressed {
				break
			}
		}
		r.putAnswer(out.Answer, rankAnswer)
		for _, rr := range resp.Ns {
			if s, ok := rr.(*dns.SOA); ok {
				out.Ns = []dns.RR{soaForNegative(s)}
				if !answered {
					r.putNegative(last, q.Qtype, resp.Rcode, out.Ns[0])
				}
			}
		}
		return out
	}
	return servfail(q)
}

// ErrMismatch reports a response that does not answer the query sent.
var ErrMismatch = errors.New("resolver: response does not match the query")
