package dnssec

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// Fetcher gets the DS and DNSKEY RRsets the validator needs.
// Implementations must be safe for concurrent use by multiple goroutines.
type Fetcher interface {
	// Fetch resolves name/qtype with DNSSEC records (the query's DO bit
	// set) and returns the authoritative response: the answer with its
	// RRSIGs, or a negative answer with the SOA, NSEC or NSEC3 records
	// and their RRSIGs in the authority section. A DS query is answered
	// by the parent side of a zone cut (RFC 4035 §4.2).
	Fetch(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
}

// FetchFunc adapts a function to Fetcher.
type FetchFunc func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)

// Fetch implements Fetcher.
func (f FetchFunc) Fetch(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return f(ctx, name, qtype)
}

// Config configures a Validator. Every zero value is a documented
// default.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Anchors are the trust anchors: DS or DNSKEY records, of one zone
	// or several (ParseAnchors reads them from a file). Nil means the
	// IANA root anchors (RootAnchors).
	Anchors []dns.RR
	// Now returns the current time, for signature validity periods and
	// the key cache. Nil means time.Now.
	Now func() time.Time
	// MaxKeysPerTag bounds the DNSKEYs tried for one signature (keys
	// sharing its key tag and algorithm). Zero means 4.
	MaxKeysPerTag int
	// MaxSignaturesPerRRset bounds the RRSIGs tried for one RRset (and
	// the DS records tried for one DNSKEY RRset). Zero means 8.
	MaxSignaturesPerRRset int
	// MaxVerifications bounds the signature verifications of one
	// Validate call, chain included. Zero means 64.
	MaxVerifications int
	// MaxNSEC3Hashes bounds the NSEC3 hashes of one Validate call. Zero
	// means 64.
	MaxNSEC3Hashes int
	// MaxNSEC3Iterations: NSEC3 proofs with more iterations make the
	// answer insecure (RFC 9276 §3.2, as Unbound and Knot do above 150).
	// Zero means 150.
	MaxNSEC3Iterations int
	// BogusTTL is how long a bogus zone's verdict is kept. Zero means
	// 60 s (Unbound's val-bogus-ttl).
	BogusTTL time.Duration
	// MaxTTL caps how long validated keys are kept. Zero means 1 day.
	MaxTTL time.Duration
	// MaxEntries bounds the key cache (zones and names below anchors);
	// when full it is emptied. Zero means 10000.
	MaxEntries int
	// MaxBytes bounds what the key cache's entries really take (names,
	// keys as stored, the entry and map overhead): an entry that would
	// pass it empties the cache first, as MaxEntries does. Zero means
	// 4 MiB. A hostile zone's large key sets cannot grow the cache past it.
	MaxBytes int64
	// InsecureDomains are names whose data is treated as unsigned, the
	// chain of trust ignored towards them (Unbound's domain-insecure, a
	// negative trust anchor of RFC 7646): for a private unsigned zone
	// that a forwarder serves below a signed public name. A trust
	// anchor at or below such a name overrides it. Nil means none.
	InsecureDomains []string
}

// Validator validates DNS responses. It is safe for concurrent use by
// multiple goroutines; it starts no goroutines.
type Validator struct {
	cfg     Config
	now     func() time.Time
	anchors map[string]*anchor
	nta     map[string]bool // InsecureDomains, canonical

	mu      sync.Mutex
	entries map[string]*keyEntry // zone or name -> what the chain says there
	bytes   int64                // what entries take (entryCost)
}

type anchor struct {
	ds   []*dns.DS
	keys []*dns.DNSKEY
}

// keyEntry is the chain of trust's verdict for a zone: its validated keys
// (Secure), or Insecure / Bogus with why. Names below a zone without a cut
// of their own map to the zone's entry.
type keyEntry struct {
	zone    string
	keys    []*dns.DNSKEY
	res     Result // Status, EDE, Reason; Work unused
	expires time.Time
}

// New returns a Validator for cfg.
func New(cfg Config) (*Validator, error) {
	if cfg.MaxKeysPerTag < 0 || cfg.MaxSignaturesPerRRset < 0 || cfg.MaxVerifications < 0 || cfg.MaxNSEC3Hashes < 0 ||
		cfg.MaxNSEC3Iterations < 0 || cfg.BogusTTL < 0 || cfg.MaxTTL < 0 || cfg.MaxEntries < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxKeysPerTag, 4)
	def(&cfg.MaxSignaturesPerRRset, 8)
	def(&cfg.MaxVerifications, 64)
	def(&cfg.MaxNSEC3Hashes, 64)
	def(&cfg.MaxNSEC3Iterations, 150)
	def(&cfg.MaxEntries, 10000)
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalidConfig)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 4 << 20
	}
	if cfg.BogusTTL == 0 {
		cfg.BogusTTL = 60 * time.Second
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = 24 * time.Hour
	}
	if cfg.Anchors == nil {
		cfg.Anchors = RootAnchors()
	}
	v := &Validator{cfg: cfg, now: clock.Or(cfg.Now), anchors: map[string]*anchor{}, entries: map[string]*keyEntry{}}
	for _, d := range cfg.InsecureDomains {
		if _, ok := dns.IsDomainName(d); !ok {
			return nil, fmt.Errorf("%w: insecure domain %q", ErrInvalidConfig, d)
		}
		if v.nta == nil {
			v.nta = map[string]bool{}
		}
		v.nta[dns.CanonicalName(d)] = true
	}
	for _, rr := range cfg.Anchors {
		name := dns.CanonicalName(rr.Header().Name)
		a := v.anchors[name]
		if a == nil {
			a = &anchor{}
			v.anchors[name] = a
		}
		switch x := rr.(type) {
		case *dns.DS:
			a.ds = append(a.ds, x)
		case *dns.DNSKEY:
			a.keys = append(a.keys, x)
		default:
			return nil, fmt.Errorf("%w: %s", ErrBadAnchor, rr.String())
		}
	}
	for name, a := range v.anchors {
		if len(a.ds) > 0 && len(a.keys) > 0 {
			return nil, fmt.Errorf("%w: %s has both DS and DNSKEY anchors", ErrBadAnchor, name)
		}
	}
	return v, nil
}

// Covers reports whether a trust anchor is at or above name: whether
// Validate can say more than Indeterminate about it.
func (v *Validator) Covers(name string) bool {
	_, ok := v.anchorFor(dns.CanonicalName(name))
	return ok
}

// insecureAt reports whether name lies at or below one of
// Config.InsecureDomains with no trust anchor between them (RFC 7646 §2:
// the chain of trust is not followed there; an anchor at or below the
// domain wins, as in Unbound).
func (v *Validator) insecureAt(name string) bool {
	if v.nta == nil {
		return false
	}
	for n := dns.CanonicalName(name); ; n = dnsproto.Parent(n) {
		if _, ok := v.anchors[n]; ok {
			return false
		}
		if v.nta[n] {
			return true
		}
		if n == "." {
			return false
		}
	}
}

func (v *Validator) anchorFor(name string) (string, bool) {
	for n := name; ; n = dnsproto.Parent(n) {
		if _, ok := v.anchors[n]; ok {
			return n, true
		}
		if n == "." {
			return "", false
		}
	}
}

func (v *Validator) cached(name string, now time.Time) *keyEntry {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entries[name]
	if e != nil && !now.Before(e.expires) {
		delete(v.entries, name)
		v.bytes -= entryCost(name, e)
		return nil
	}
	return e
}

func (v *Validator) store(name string, e *keyEntry) {
	cost := entryCost(name, e)
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, ok := v.entries[name]; ok {
		v.bytes -= entryCost(name, old)
		delete(v.entries, name)
	}
	if len(v.entries) >= v.cfg.MaxEntries || v.bytes+cost > v.cfg.MaxBytes {
		clear(v.entries)
		v.bytes = 0
	}
	if cost > v.cfg.MaxBytes {
		return // larger than the whole cache: not kept
	}
	v.entries[name] = e
	v.bytes += cost
}

// entryCost is what one key cache entry takes: the map slot and key
// string, the entry, and each key (struct, owner name, public key text).
func entryCost(name string, e *keyEntry) int64 {
	n := int64(64+len(name)) + 96 + int64(len(e.zone)+len(e.res.Reason))
	for _, k := range e.keys {
		n += 8 + 96 + int64(len(k.Hdr.Name)+len(k.PublicKey))
	}
	return n
}

// ForgetBogus drops the key cache's bogus verdicts at each name and its
// ancestors, so that the next validation below them fetches the chain
// again: a caller that got the keys from a server that lied asks another
// (a validation restart, as Unbound's after blacklisting a server).
func (v *Validator) ForgetBogus(names ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, name := range names {
		for n := dns.CanonicalName(name); ; n = dnsproto.Parent(n) {
			if e, ok := v.entries[n]; ok && e.res.Status == Bogus {
				v.bytes -= entryCost(n, e)
				delete(v.entries, n)
			}
			if n == "." {
				break
			}
		}
	}
}

// CacheBytes reports what the key cache holds, as MaxBytes counts it.
func (v *Validator) CacheBytes() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.bytes
}

// expiry is when data with TTL ttl, verified with sig, stops being
// trusted: the TTL (capped by MaxTTL and the signature's original TTL)
// or the signature's expiration, whichever is first (RFC 4035 §5.3.3).
func (v *Validator) expiry(now time.Time, ttl uint32, sig *dns.RRSIG) time.Time {
	d := min(time.Duration(ttl)*time.Second, v.cfg.MaxTTL)
	if sig != nil {
		d = min(d, time.Duration(sig.OrigTtl)*time.Second)
		if exp := time.Unix(int64(sig.Expiration), 0); exp.Before(now.Add(d)) {
			return exp
		}
	}
	return now.Add(d)
}

func (v *Validator) bogusEntry(zone string, now time.Time, res Result) *keyEntry {
	res.Work = Work{}
	return &keyEntry{zone: zone, res: res, expires: now.Add(v.cfg.BogusTTL)}
}

// anchorKeys validates the DNSKEY RRset of an anchored zone.
func (v *Validator) anchorKeys(ctx context.Context, f Fetcher, zone string, b *budget) *keyEntry {
	now := v.now()
	if e := v.cached(zone, now); e != nil {
		return e
	}
	a := v.anchors[zone]
	b.work.Fetches++
	resp, err := f.Fetch(ctx, zone, dns.TypeDNSKEY)
	var e *keyEntry
	if err != nil || resp == nil || resp.Rcode != dns.RcodeSuccess {
		e = v.bogusEntry(zone, now, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY answer for trust anchor "+zone))
	} else {
		set := rrsetOf(resp.Answer, zone, dns.TypeDNSKEY)
		keys, sig, res := matchDS(zone, a.ds, a.keys, set, sigsFor(resp.Answer, zone, dns.TypeDNSKEY), now, b)
		switch res.Status {
		case Secure:
			e = &keyEntry{zone: zone, keys: keys, res: res, expires: v.expiry(now, set[0].Header().Ttl, sig)}
		case Insecure:
			e = &keyEntry{zone: zone, res: res, expires: now.Add(v.cfg.BogusTTL)}
		default:
			e = v.bogusEntry(zone, now, res)
		}
	}
	v.store(zone, e)
	return e
}

// keysFor walks the chain of trust from the anchor above name down to
// the zone holding name, and returns that zone's entry: its keys when
// Secure, or the Insecure, Bogus or Indeterminate verdict met on the way.
// With exact, name is known to be a zone apex (a signer name), and the
// walk stops there.
func (v *Validator) keysFor(ctx context.Context, f Fetcher, name string, b *budget) *keyEntry {
	name = dns.CanonicalName(name)
	now := v.now()
	if e := v.cached(name, now); e != nil {
		return e
	}
	az, ok := v.anchorFor(name)
	if !ok {
		return &keyEntry{zone: ".", res: Result{Status: Indeterminate}}
	}
	if v.insecureAt(name) {
		return &keyEntry{zone: name, res: Result{Status: Insecure}}
	}
	e := v.anchorKeys(ctx, f, az, b)
	for cur := az; cur != name; {
		if e.res.Status != Secure {
			return e
		}
		child := childToward(cur, name)
		if c := v.cached(child, now); c != nil {
			e, cur = c, child
			continue
		}
		next, stop := v.descend(ctx, f, e, child, now, b)
		v.store(child, next)
		e, cur = next, child
		if stop {
			break
		}
	}
	return e
}

// descend finds what lies at child, one label below the zone of parent
// (Secure): a signed delegation (the child's validated keys), a proven
// unsigned one (Insecure), no cut (parent's entry again), or Bogus. stop
// is set when nothing can exist below child.
func (v *Validator) descend(ctx context.Context, f Fetcher, parent *keyEntry, child string, now time.Time, b *budget) (e *keyEntry, stop bool) {
	b.work.Fetches++
	resp, err := f.Fetch(ctx, child, dns.TypeDS)
	if err != nil || resp == nil || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) {
		return v.bogusEntry(child, now, bogus(dns.ExtendedErrorCodeDNSBogus, "no answer for "+child+" DS")), true
	}
	if ds := rrsetOf(resp.Answer, child, dns.TypeDS); len(ds) > 0 && resp.Rcode == dns.RcodeSuccess {
		sig, res := verifyRRset(ds, sigsFor(resp.Answer, child, dns.TypeDS), parent.zone, parent.keys, now, b)
		if res.Status != Secure {
			return v.bogusEntry(child, now, res), true
		}
		var dsSet []*dns.DS
		for _, rr := range ds {
			dsSet = append(dsSet, rr.(*dns.DS))
		}
		if _, res := usableDS(dsSet); res.Status != Secure {
			return &keyEntry{zone: child, res: res, expires: v.expiry(now, ds[0].Header().Ttl, sig)}, true
		}
		b.work.Fetches++
		kresp, err := f.Fetch(ctx, child, dns.TypeDNSKEY)
		if err != nil || kresp == nil || kresp.Rcode != dns.RcodeSuccess {
			return v.bogusEntry(child, now, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY answer for "+child)), true
		}
		set := rrsetOf(kresp.Answer, child, dns.TypeDNSKEY)
		keys, ksig, res := matchDS(child, dsSet, nil, set, sigsFor(kresp.Answer, child, dns.TypeDNSKEY), now, b)
		switch res.Status {
		case Secure:
			exp := v.expiry(now, set[0].Header().Ttl, ksig)
			if e2 := v.expiry(now, ds[0].Header().Ttl, sig); e2.Before(exp) {
				exp = e2
			}
			return &keyEntry{zone: child, keys: keys, res: res, expires: exp}, false
		case Insecure:
			return &keyEntry{zone: child, res: res, expires: v.expiry(now, ds[0].Header().Ttl, sig)}, true
		}
		return v.bogusEntry(child, now, res), true
	}
	if c := rrsetOf(resp.Answer, child, dns.TypeCNAME); len(c) > 0 {
		// A name with a CNAME is no zone cut, and nothing is below it.
		return parent, true
	}
	// No DS: the parent must prove why.
	neg, res, ttl := v.negativeProof(resp, parent, now, b)
	if res.Status == Bogus {
		return v.bogusEntry(child, now, res), true
	}
	exp := now.Add(min(time.Duration(ttl)*time.Second, v.cfg.MaxTTL))
	if res.Status == Insecure { // e.g. NSEC3 iterations over the limit
		return &keyEntry{zone: child, res: res, expires: exp}, true
	}
	switch {
	case resp.Rcode == dns.RcodeNameError:
		if neg.nxdomain(child) {
			return parent, true // nothing below: the parent's zone holds the name's denial
		}
	default:
		if ok, optOut, cut := neg.noDS(child); ok {
			if cut || optOut {
				return &keyEntry{zone: child, res: Result{Status: Insecure}, expires: exp}, true
			}
			return parent, false // no cut here: the parent's keys go on
		}
	}
	if neg.spent() {
		return v.bogusEntry(child, now, bogus(dns.ExtendedErrorCodeDNSBogus, "NSEC3 hash limit reached")), true
	}
	return v.bogusEntry(child, now, bogus(dns.ExtendedErrorCodeNSECMissing, "no proof that "+child+" has no DS")), true
}
