package authority

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
	"github.com/miekg/dns"
)

// Policy chooses the edge pool that answers a client.
type Policy int

const (
	// Geography (the zero value) answers the pool of the client's country,
	// else of its continent, else the nearest by great-circle distance
	// from the client's coordinates; ties go to the earlier pool.
	Geography Policy = iota
	// Latency answers the pool with the lowest measured round-trip time
	// from the client's network (Steer.RTT, as Route 53 latency records);
	// pools without a measurement come after measured ones.
	Latency
	// Weighted answers one healthy member of any pool per response, in
	// proportion to its weight (deterministic weighted rotation).
	Weighted
	// Failover answers the first pool, in order, with a healthy member.
	Failover
)

// DefaultSteerTTL is the TTL of steered records when Steer.TTL is zero:
// short, so that clients move within half a minute of a failover.
const DefaultSteerTTL = 30 * time.Second

// Steer makes the A and AAAA answers of one name depend on the client.
// The name must lie in a zone the Server serves (not below a zone cut)
// and hold no A, AAAA or CNAME records of its own there; other types at
// the name are answered from the zone. A name in another zone (or
// another zone's `www CNAME shop.cdn.net.`) reaches it by CNAME.
// A plain value, safe for concurrent use while no goroutine changes it.
type Steer struct {
	// Name is the owner name steered, e.g. "shop.cdn.net.".
	Name string
	// Policy chooses the pool; the zero value is Geography.
	Policy Policy
	// Pools are the edge pools, in order of preference for Failover and
	// as the tie-breaker for the other policies. At least one.
	Pools []Pool
	// Default names the pool ranked first for a client whose location
	// (or network, for Latency) is unknown. Empty means Pools[0].
	Default string
	// TTL of the steered records. Zero means DefaultSteerTTL.
	TTL time.Duration
	// RTT is the latency table of the Latency policy.
	RTT []RTT
	// Max caps the addresses in one answer. Zero means every healthy
	// member of the chosen pool.
	Max int
}

// Pool is a set of edge addresses in one place.
// A plain value, safe for concurrent use while no goroutine changes it.
type Pool struct {
	// Name identifies the pool in Default and RTT.
	Name string
	// Countries (ISO 3166-1 alpha-2) and Continents (GeoLite2 codes)
	// this pool serves first under the Geography policy.
	Countries, Continents []string
	// Lat and Lon place the pool for nearest-by-distance steering.
	Lat, Lon float64
	// Members are the edge addresses, IPv4 for A and IPv6 for AAAA.
	Members []Member
}

// Member is one edge address. Weight counts under the Weighted policy;
// zero means 1.
// A plain value, safe for concurrent use while no goroutine changes it.
type Member struct {
	Addr   netip.Addr
	Weight int
}

// RTT is one measurement: the round-trip time from clients in Network to
// the pool named Pool.
// A plain value, safe for concurrent use while no goroutine changes it.
type RTT struct {
	Network netip.Prefix
	Pool    string
	RTT     time.Duration
}

// Health reports whether an edge address may be answered. It is asked
// on every steered answer: it must be safe for concurrent use and must
// not block. balancer's active checks and a fleet's membership feed one
// through HealthTable; a nil Config.Health counts every member healthy.
type Health interface {
	Healthy(addr netip.Addr) bool
}

// HealthTable is a Health that holds what it is told: addresses marked
// down by Set are unhealthy, every other address is healthy. Readers
// load an immutable snapshot; writers copy it. The zero value is ready
// and safe for concurrent use by multiple goroutines; it must not be
// copied after first use.
type HealthTable struct {
	down atomic.Pointer[map[netip.Addr]struct{}]
}

// Healthy implements Health.
func (h *HealthTable) Healthy(addr netip.Addr) bool {
	p := h.down.Load()
	if p == nil {
		return true
	}
	_, down := (*p)[addr.Unmap()]
	return !down
}

// Set records whether addr is healthy.
func (h *HealthTable) Set(addr netip.Addr, healthy bool) {
	addr = addr.Unmap()
	for {
		old := h.down.Load()
		var next map[netip.Addr]struct{}
		if old != nil {
			if _, down := (*old)[addr]; down != healthy {
				return // no change
			}
			next = maps.Clone(*old)
		} else if healthy {
			return
		}
		if next == nil {
			next = map[netip.Addr]struct{}{}
		}
		if healthy {
			delete(next, addr)
		} else {
			next[addr] = struct{}{}
		}
		if h.down.CompareAndSwap(old, &next) {
			return
		}
	}
}

// steerSet is the immutable snapshot of every steered name.
type steerSet struct {
	byName map[string]*steer
}

type steer struct {
	name    string
	policy  Policy
	pools   []pool
	def     int
	rtt     *bart.Table[[]time.Duration] // per pool index; < 0 unmeasured
	max     int
	weights int
	turn    atomic.Uint32 // rotation within the pool, weighted picks
}

type pool struct {
	countries, continents []string
	lat, lon              float64
	a, aaaa               []member
}

type member struct {
	addr   netip.Addr
	weight int
	rr     dns.RR // the record answered, shared read-only
}

// SetSteering replaces the steered names with steers, atomically: answers
// in flight finish with the old set. It returns an error wrapping
// ErrBadSteering, and changes nothing, when one is invalid.
func (s *Server) SetSteering(steers []Steer) error {
	set := &steerSet{byName: make(map[string]*steer, len(steers))}
	for i := range steers {
		st, err := s.compileSteer(&steers[i])
		if err != nil {
			return err
		}
		if _, dup := set.byName[st.name]; dup {
			return fmt.Errorf("%w: %s steered twice", ErrBadSteering, st.name)
		}
		set.byName[st.name] = st
	}
	s.steering.Store(set)
	return nil
}

func (s *Server) compileSteer(c *Steer) (*steer, error) {
	name := dns.CanonicalName(c.Name)
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%w: bad name %q", ErrBadSteering, c.Name)
	}
	z := s.zoneFor(name)
	if z == nil {
		return nil, fmt.Errorf("%w: %s is in no zone served", ErrBadSteering, name)
	}
	for cut := name; cut != z.origin; cut = parentName(cut) {
		if z.cuts[cut] {
			return nil, fmt.Errorf("%w: %s is below the zone cut %s", ErrBadSteering, name, cut)
		}
	}
	for _, rr := range z.names[name] {
		if t := rr.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA || t == dns.TypeCNAME {
			return nil, fmt.Errorf("%w: %s has %s records in its zone", ErrBadSteering, name, dns.TypeToString[t])
		}
	}
	if len(c.Pools) == 0 {
		return nil, fmt.Errorf("%w: %s has no pools", ErrBadSteering, name)
	}
	if c.Policy < Geography || c.Policy > Failover {
		return nil, fmt.Errorf("%w: %s has unknown policy %d", ErrBadSteering, name, c.Policy)
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = DefaultSteerTTL
	}
	if ttl < 0 || ttl > 68*365*24*time.Hour {
		return nil, fmt.Errorf("%w: %s has TTL %v", ErrBadSteering, name, ttl)
	}
	st := &steer{name: name, policy: c.Policy, max: max(c.Max, 0), pools: make([]pool, len(c.Pools)), def: -1}
	index := map[string]int{}
	for i, p := range c.Pools {
		if _, dup := index[p.Name]; dup {
			return nil, fmt.Errorf("%w: %s has pool %q twice", ErrBadSteering, name, p.Name)
		}
		index[p.Name] = i
		if p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
			return nil, fmt.Errorf("%w: pool %q has coordinates out of range", ErrBadSteering, p.Name)
		}
		cp := pool{lat: p.Lat, lon: p.Lon}
		for _, x := range p.Countries {
			cp.countries = append(cp.countries, strings.ToUpper(x))
		}
		for _, x := range p.Continents {
			cp.continents = append(cp.continents, strings.ToUpper(x))
		}
		for _, m := range p.Members {
			if m.Weight < 0 {
				return nil, fmt.Errorf("%w: pool %q has a negative weight", ErrBadSteering, p.Name)
			}
			w := max(m.Weight, 1)
			addr := m.Addr.Unmap()
			hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: uint32(ttl / time.Second)}
			switch {
			case addr.Is4():
				hdr.Rrtype = dns.TypeA
				cp.a = append(cp.a, member{addr: addr, weight: w, rr: &dns.A{Hdr: hdr, A: addr.AsSlice()}})
			case addr.Is6():
				hdr.Rrtype = dns.TypeAAAA
				cp.aaaa = append(cp.aaaa, member{addr: addr, weight: w, rr: &dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()}})
			default:
				return nil, fmt.Errorf("%w: pool %q has an invalid address", ErrBadSteering, p.Name)
			}
			st.weights += w
		}
		st.pools[i] = cp
	}
	if c.Default != "" {
		i, ok := index[c.Default]
		if !ok {
			return nil, fmt.Errorf("%w: %s: default pool %q is not among its pools", ErrBadSteering, name, c.Default)
		}
		st.def = i
	} else {
		st.def = 0
	}
	if len(c.RTT) > 0 {
		st.rtt = &bart.Table[[]time.Duration]{}
		for _, r := range c.RTT {
			i, ok := index[r.Pool]
			if !ok || !r.Network.IsValid() || r.RTT < 0 {
				return nil, fmt.Errorf("%w: %s: bad RTT entry for pool %q", ErrBadSteering, name, r.Pool)
			}
			n := r.Network.Masked()
			row, _ := st.rtt.Get(n)
			if row == nil {
				row = slices.Repeat([]time.Duration{-1}, len(c.Pools))
			}
			row[i] = r.RTT
			st.rtt.Insert(n, row)
		}
	}
	return st, nil
}

func parentName(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 && i+1 < len(name) {
		return name[i+1:]
	}
	return "."
}

// client is who asks: the address located (the ECS address when the
// query carries one, else the source address) and, with ECS, its source
// prefix length. scope collects the longest prefix any steered answer
// in the response depended on.
type client struct {
	addr   netip.Addr
	ecs    bool
	source int // ECS SOURCE PREFIX-LENGTH; the address's length without ECS
	scope  int
	steer  *steerSet
}

// rankKey orders pools for a client: lower is better. The distance of
// the Geography policy is worked out only when two pools tie on tier
// (lazy): most clients are placed by country or continent, and three
// haversines per answer were half the cost of a steered answer.
type rankKey struct {
	tier int
	dist float64
	lazy bool // dist is still to be worked out: from lat, lon to pool
	pool *pool
}

// at is the client's position, for lazy distances.
type at struct{ lat, lon float64 }

func (k *rankKey) distance(c at) float64 {
	if k.lazy {
		k.dist, k.lazy = distance(c.lat, c.lon, k.pool.lat, k.pool.lon), false
	}
	return k.dist
}

func (k *rankKey) less(o *rankKey, c at) bool {
	if k.tier != o.tier {
		return k.tier < o.tier
	}
	return k.distance(c) < o.distance(c)
}

// steerAnswer appends to dst the steered records of st for qtype (A or
// AAAA).
func (s *Server) steerAnswer(dst []dns.RR, st *steer, qtype uint16, c *client) []dns.RR {
	members := func(p *pool) []member {
		if qtype == dns.TypeAAAA {
			return p.aaaa
		}
		return p.a
	}
	healthy := func(m *member) bool { return s.health == nil || s.health.Healthy(m.addr) }
	if st.policy == Weighted {
		return append(dst, st.weighted(members, healthy)...)
	}
	var loc Location
	var row []time.Duration
	known := false
	if c.addr.IsValid() && (!c.ecs || c.source > 0) {
		addr := c.addr.Unmap()
		// A network found for an IPv4-mapped client counts its bits
		// in the IPv6 address the client sent.
		bits := func(network netip.Prefix) int {
			if c.addr.Is4In6() && network.Addr().Is4() {
				return network.Bits() + 96
			}
			return network.Bits()
		}
		consulted := false
		switch st.policy {
		case Geography:
			if s.locator != nil {
				consulted = true
				l, network, ok := s.locator.Locate(addr)
				if ok {
					loc, known = l, true
					c.widen(bits(network))
				}
			}
		case Latency:
			if st.rtt != nil {
				consulted = true
				network, r, ok := st.rtt.LookupPrefixLPM(netip.PrefixFrom(addr, addr.BitLen()))
				if ok {
					row, known = r, true
					c.widen(bits(network))
				}
			}
		}
		if consulted && !known {
			c.widen(c.source) // unknown: valid for the client's own prefix only
		}
	}
	key := func(i int) rankKey {
		p := &st.pools[i]
		switch {
		case st.policy == Failover:
			return rankKey{tier: i}
		case !known:
			if i == st.def {
				return rankKey{tier: 0}
			}
			return rankKey{tier: 1 + i}
		case st.policy == Latency:
			if row[i] < 0 {
				return rankKey{tier: 1, dist: float64(i)}
			}
			return rankKey{tier: 0, dist: float64(row[i])}
		}
		k := rankKey{tier: 2}
		if loc.Country != "" && slices.Contains(p.countries, loc.Country) {
			k.tier = 0
		} else if loc.Continent != "" && slices.Contains(p.continents, loc.Continent) {
			k.tier = 1
		}
		if loc.Coords {
			k.lazy, k.pool = true, p
		} else {
			k.dist = float64(i)
		}
		return k
	}
	pos := at{loc.Lat, loc.Lon}
	// The best pool with a healthy member; with none, the best pool with
	// any member: an answer to a broken fleet beats an empty one.
	best, bestAny := -1, -1
	var bk, bak rankKey
	for i := range st.pools {
		ms := members(&st.pools[i])
		if len(ms) == 0 {
			continue
		}
		k := key(i)
		if bestAny < 0 || k.less(&bak, pos) {
			bestAny, bak = i, k
		}
		if slices.ContainsFunc(ms, func(m member) bool { return healthy(&m) }) && (best < 0 || k.less(&bk, pos)) {
			best, bk = i, k
		}
	}
	if best < 0 {
		if bestAny < 0 {
			return dst
		}
		return st.rotate(dst, members(&st.pools[bestAny]), nil)
	}
	n := len(dst)
	dst = st.rotate(dst, members(&st.pools[best]), healthy)
	if len(dst) == n {
		// Every member went down between choosing the pool and reading
		// its members (health is read live, not from one snapshot): the
		// broken-fleet rule above, never an empty answer.
		dst = st.rotate(dst, members(&st.pools[best]), nil)
	}
	return dst
}

// widen records that the answer depends on the first bits of the
// client's address.
func (c *client) widen(bits int) {
	if c.ecs && c.source == 0 {
		return // RFC 7871 §7.2.1: an answer to /0 is for everyone
	}
	c.scope = max(c.scope, bits)
}

// rotate appends to dst the records of ms (those healthy, when healthy
// is set) starting at the next turn, at most st.max of them.
func (st *steer) rotate(dst []dns.RR, ms []member, healthy func(*member) bool) []dns.RR {
	n := len(dst)
	dst = slices.Grow(dst, len(ms)) // one allocation for the records, not one per growth
	for i := range ms {
		if healthy == nil || healthy(&ms[i]) {
			dst = append(dst, ms[i].rr)
		}
	}
	out := dst[n:]
	if len(out) > 1 {
		k := int(st.turn.Add(1)) % len(out)
		slices.Reverse(out[:k])
		slices.Reverse(out[k:])
		slices.Reverse(out)
	}
	if st.max > 0 && len(out) > st.max {
		out = out[:st.max]
	}
	return dst[:n+len(out)]
}

// weighted picks one healthy member of any pool in proportion to its
// weight: turn n picks the member whose cumulative weight range holds
// n mod total (deterministic, so every turn of the total is fair).
func (st *steer) weighted(members func(*pool) []member, healthy func(*member) bool) []dns.RR {
	pick := func(useHealth bool) []dns.RR {
		total := 0
		for i := range st.pools {
			for j, m := range members(&st.pools[i]) {
				if !useHealth || healthy(&members(&st.pools[i])[j]) {
					total += m.weight
				}
			}
		}
		if total == 0 {
			return nil
		}
		n := int(st.turn.Add(1) % uint32(total))
		for i := range st.pools {
			ms := members(&st.pools[i])
			for j := range ms {
				if useHealth && !healthy(&ms[j]) {
					continue
				}
				if n < ms[j].weight {
					return []dns.RR{ms[j].rr}
				}
				n -= ms[j].weight
			}
		}
		return nil
	}
	if rr := pick(true); rr != nil {
		return rr
	}
	return pick(false)
}
