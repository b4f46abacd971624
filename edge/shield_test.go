package edge

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/surrogate"
	"github.com/edgekit/edgekit/surrogate/redisbus"
	"github.com/redis/go-redis/v9"
)

// liveSet is a Members whose list the test changes.
type liveSet struct {
	mu   sync.Mutex
	list []surrogate.Member
}

func (l *liveSet) Live(ctx context.Context) ([]surrogate.Member, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return surrogate.StaticMembers(l.list).Live(ctx)
}

func (l *liveSet) set(m []surrogate.Member) {
	l.mu.Lock()
	l.list = append([]surrogate.Member(nil), m...)
	l.mu.Unlock()
}

// tierNode is one node of a test fleet: a Node whose Origin is a Shield,
// served on loopback. mode switches its front: "" serves, "down" resets
// every connection, "slow" holds requests until release closes.
type tierNode struct {
	id      string
	srv     *httptest.Server
	node    *Node
	shield  *Shield
	mode    atomic.Value // string
	release chan struct{}
	served  atomic.Int32 // requests that reached the node
}

func (n *tierNode) get(t *testing.T, path string, hdr ...string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.srv.URL+path, nil)
	req.Host = "site.test"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"), resp.Header}
}

// tierOpts shapes a test fleet.
type tierOpts struct {
	n       int
	shield  bool                                       // false: independent caches, each fetching from the origin
	members func([]surrogate.Member) surrogate.Members // nil: a liveSet of all
	bus     surrogate.Bus
	noTier  bool         // Config.Tier left nil
	sc      ShieldConfig // Outlier, Timeout
	prefix  string
	config  func(id string, c *Config) // per-node changes, if set
}

// newTier starts a fleet of o.n nodes in front of site.
func newTier(t *testing.T, fc *clock.Fake, site *site, o tierOpts) ([]*tierNode, *liveSet) {
	t.Helper()
	if o.prefix == "" {
		o.prefix = "n"
	}
	nodes := make([]*tierNode, o.n)
	var list []surrogate.Member
	for i := range nodes {
		tn := &tierNode{id: fmt.Sprint(o.prefix, i), release: make(chan struct{})}
		tn.mode.Store("")
		var h atomic.Pointer[http.Handler]
		tn.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch tn.mode.Load().(string) {
			case "down":
				panic(http.ErrAbortHandler) // the connection closes without an answer
			case "slow":
				select {
				case <-tn.release:
				case <-r.Context().Done():
				}
				return
			}
			tn.served.Add(1)
			(*h.Load()).ServeHTTP(w, r)
		}))
		nodes[i] = tn
		list = append(list, surrogate.Member{ID: tn.id, Addr: tn.srv.Listener.Addr().String()})
		defer func(h *atomic.Pointer[http.Handler]) {
			var hh http.Handler = tn.node
			h.Store(&hh)
		}(&h)
	}
	live := &liveSet{}
	live.set(list)
	for _, tn := range nodes {
		pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: site.URL}}, Now: fc.Now})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Name: tn.id, Origin: pool, Now: fc.Now, XCache: true, Bus: o.bus}
		if o.shield {
			sc := o.sc
			sc.Self, sc.Origin, sc.Members, sc.Now = tn.id, pool, live, fc.Now
			if o.members != nil {
				sc.Members = o.members(list)
			}
			if tn.shield, err = NewShield(sc); err != nil {
				t.Fatal(err)
			}
			cfg.Origin = tn.shield
			if !o.noTier {
				cfg.Tier = tn.shield.FromTier
			}
		}
		if o.config != nil {
			o.config(tn.id, &cfg)
		}
		if tn.node, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			tn.mode.Store("")
			select {
			case <-tn.release:
			default:
				close(tn.release)
			}
			tn.srv.Close()
			tn.node.Close()
			if tn.shield != nil {
				tn.shield.Close()
			}
			pool.Close()
		})
	}
	return nodes, live
}

// zipfWorkload draws requests over objects by a Zipf law (s = 1.1), each
// sent to a node chosen uniformly: what a fleet behind DNS or anycast sees.
type request struct {
	node int
	path string
}

func zipfWorkload(seed uint64, nodes, objects, requests int) []request {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	z := rand.NewZipf(r, 1.1, 1, uint64(objects-1))
	out := make([]request, requests)
	for i := range out {
		out[i] = request{node: r.IntN(nodes), path: fmt.Sprintf("/obj/%d", z.Uint64())}
	}
	return out
}

// countingSite is an origin that serves every object for an hour and
// counts the fetches of each.
func countingSite(t *testing.T, fc *clock.Fake) (*site, *sync.Map) {
	var fetches sync.Map
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		c, _ := fetches.LoadOrStore(r.URL.Path, new(atomic.Int32))
		c.(*atomic.Int32).Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "%s via %s", r.URL.Path, strings.Join(r.Header.Values("Via"), ", "))
	})
	return s, &fetches
}

// The shield tier's point: with N nodes and a Zipf workload, the origin
// sees each distinct object once (the owner's fetch), where independent
// caches fetch it once per node that was asked for it. The expected
// counts are computed from the workload itself.
func TestShieldOriginOffloadZipf(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprint(n, "nodes"), func(t *testing.T) {
			const objects, requests = 200, 600
			work := zipfWorkload(uint64(n), n, objects, requests)
			distinct := map[string]bool{}
			perNode := map[string]bool{} // node|path
			for _, w := range work {
				distinct[w.path] = true
				perNode[fmt.Sprint(w.node, "|", w.path)] = true
			}
			run := func(shield bool) int {
				fc := clock.NewFake(time.Time{})
				s, _ := countingSite(t, fc)
				nodes, _ := newTier(t, fc, s, tierOpts{n: n, shield: shield})
				for _, w := range work {
					if r := nodes[w.node].get(t, w.path); r.status != 200 {
						t.Fatalf("%s: %+v", w.path, r)
					}
				}
				return int(s.Hits.Load())
			}
			without, with := run(false), run(true)
			t.Logf("N=%d, %d requests, Zipf s=1.1 over %d objects: %d distinct; origin fetches: %d without the shield, %d with (%.2fx offload)",
				n, requests, objects, len(distinct), without, with, float64(without)/float64(with))
			if without != len(perNode) {
				t.Fatalf("independent caches: %d origin fetches, want one per (node, object) = %d", without, len(perNode))
			}
			if with != len(distinct) {
				t.Fatalf("shield: %d origin fetches, want one per distinct object = %d", with, len(distinct))
			}
		})
	}
}

// A member that resets connections, or answers slower than Timeout, is
// skipped: the request goes to the origin and is served; the member is
// ejected (its objects go to the others) and re-admitted when the
// ejection ends.
func TestShieldOwnerDownEjectedReadmitted(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _ := countingSite(t, fc)
	nodes, _ := newTier(t, fc, s, tierOpts{n: 3, shield: true,
		sc: ShieldConfig{Timeout: 200 * time.Millisecond, Outlier: balancer.OutlierDetection{Consecutive: 1, BaseEjection: 10 * time.Second}}})
	a := nodes[0]
	// Paths that n1 owns, as every node sees it.
	var owned []string
	for i := 0; len(owned) < 6 && i < 1000; i++ {
		p := fmt.Sprint("/x/", i)
		if m, _ := a.shield.Owner("site.test" + p); m.ID == "n1" {
			owned = append(owned, p)
		}
	}
	if len(owned) < 6 {
		t.Fatal("no paths owned by n1")
	}
	for round, mode := range []string{"down", "slow"} {
		fail, other, after := owned[3*round], owned[3*round+1], owned[3*round+2]
		nodes[1].mode.Store(mode)
		before := nodes[1].served.Load()
		if r := a.get(t, fail); r.status != 200 || !strings.Contains(r.body, fail) {
			t.Fatalf("%s owner: %+v", mode, r)
		}
		st := a.shield.Stats()
		if st.Fallbacks != uint64(round+1) || st.Members[1].State != "ejected" || st.Members[1].Ejections != uint64(round+1) {
			t.Fatalf("%s owner: not skipped and ejected: %+v", mode, st)
		}
		// Ejected: its objects go to the others, without trying it.
		if m, _ := a.shield.Owner("site.test" + other); m.ID == "n1" {
			t.Fatalf("%s: ejected n1 still owns %s", mode, other)
		}
		if r := a.get(t, other); r.status != 200 || nodes[1].served.Load() != before {
			t.Fatalf("%s: ejected owner still asked: %+v", mode, r)
		}
		nodes[1].mode.Store("")
		fc.Advance(21 * time.Second) // past the ejection
		if m, _ := a.shield.Owner("site.test" + after); m.ID != "n1" {
			t.Fatalf("%s: n1 not re-admitted: owner %v; %+v", mode, m, a.shield.Stats())
		}
		if r := a.get(t, after); r.status != 200 || nodes[1].served.Load() != before+1 || !strings.Contains(r.body, "1.1 n1") {
			t.Fatalf("%s: re-admitted owner not asked: %+v, served %d", mode, r, nodes[1].served.Load()-before)
		}
		if st := a.shield.Stats(); st.Members[1].State != "healthy" {
			t.Fatalf("%s: after re-admission: %+v", mode, st)
		}
	}
}

// RFC 8586 §2 and §3: a client that names our cdn-id in CDN-Loop, or
// sends a forged proof of the tier, neither skips the owner (the origin
// still sees one fetch, through the owner) nor makes the tier loop; one
// that names it more than MaxHops times is refused 508 without any fetch.
func TestShieldHostileCDNLoop(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var seen sync.Map // path -> request header at the origin
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path, r.Header.Clone())
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, r.URL.Path)
	})
	nodes, _ := newTier(t, fc, s, tierOpts{n: 3, shield: true})
	a := nodes[0]
	p := "/h/"
	forged := []struct {
		name string
		hdr  []string
	}{
		{"our cdn-id", []string{"CDN-Loop", "edgekit"}},
		{"our cdn-id with parameters", []string{"CDN-Loop", `other, edgekit; x="a,b"`}},
		{"forged proof", []string{"CDN-Loop", "edgekit", ShieldHeader, "AAAA"}},
	}
	for i, f := range forged {
		q := fmt.Sprint(p, i)
		if m, _ := a.shield.Owner("site.test" + q); m.ID == "n0" {
			continue // only forwarding is at stake
		}
		hits := s.Hits.Load()
		r := a.get(t, q, f.hdr...)
		if r.status != 200 || s.Hits.Load() != hits+1 {
			t.Fatalf("%s: %+v, %d origin fetches", f.name, r, s.Hits.Load()-hits)
		}
		h, _ := seen.Load(q)
		via := strings.Join(h.(http.Header).Values("Via"), ", ")
		m, _ := a.shield.Owner("site.test" + q)
		if !strings.Contains(via, "1.1 "+m.ID) || h.(http.Header).Get(ShieldHeader) != "" {
			t.Fatalf("%s: the origin's fetch did not come through the owner %s: Via %q, %v", f.name, m.ID, via, h)
		}
	}
	st := a.shield.Stats()
	if st.FromTier != 0 || st.Forwarded == 0 {
		t.Fatalf("a forged header passed for the tier: %+v", st)
	}
	// Too many hops: refused before anything is contacted, never stored.
	served := func() int32 { return nodes[1].served.Load() + nodes[2].served.Load() }
	hits, peers := s.Hits.Load(), served()
	for range 2 {
		r := a.get(t, p+"loop", "CDN-Loop", "edgekit, edgekit", "CDN-Loop", "x, edgekit, edgekit")
		if r.status != StatusLoopDetected {
			t.Fatalf("looping request: %+v", r)
		}
	}
	if s.Hits.Load() != hits || served() != peers || a.shield.Stats().Loops != 2 {
		t.Fatalf("a looping request reached something: origin %d, peers %d, %+v", s.Hits.Load()-hits, served()-peers, a.shield.Stats())
	}
}

// The two-level form: lower edges whose Members is the upper tier's list
// (they are not in it) forward every miss to the upper tier's owner; the
// origin sees each object once.
func TestShieldTwoLevel(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	s, _ := countingSite(t, fc)
	upper, _ := newTier(t, fc, s, tierOpts{n: 2, shield: true, prefix: "u"})
	var ulist []surrogate.Member
	for _, u := range upper {
		ulist = append(ulist, surrogate.Member{ID: u.id, Addr: u.srv.Listener.Addr().String()})
	}
	lower, _ := newTier(t, fc, s, tierOpts{n: 3, shield: true, prefix: "e",
		members: func([]surrogate.Member) surrogate.Members { return surrogate.StaticMembers(ulist) }})
	work := zipfWorkload(7, len(lower), 100, 300)
	distinct, perNode := map[string]bool{}, map[string]bool{}
	for _, w := range work {
		distinct[w.path] = true
		perNode[fmt.Sprint(w.node, "|", w.path)] = true
		if r := lower[w.node].get(t, w.path); r.status != 200 || !strings.Contains(r.body, "1.1 u") {
			t.Fatalf("%s: %+v", w.path, r)
		}
	}
	if int(s.Hits.Load()) != len(distinct) {
		t.Fatalf("origin fetches %d, want %d distinct objects", s.Hits.Load(), len(distinct))
	}
	var forwarded, fromTier, upperOwned uint64
	for _, e := range lower {
		st := e.shield.Stats()
		forwarded += st.Forwarded
		if st.Owned != 0 {
			t.Fatalf("lower edge %s owned objects: %+v", e.id, st)
		}
	}
	for _, u := range upper {
		st := u.shield.Stats()
		fromTier += st.FromTier
		upperOwned += st.Owned
	}
	// Every lower miss went up; the upper tier fetched each object once.
	if forwarded != uint64(len(perNode)) || fromTier != uint64(len(distinct)) || upperOwned != 0 {
		t.Fatalf("forwarded %d, arrived from the tier %d, owned upstairs %d", forwarded, fromTier, upperOwned)
	}
}

// Age accumulates across tiers (RFC 9111 §4.2.3, §5.1): a lower node that
// fills from the owner's stored copy stores the owner's Age as its
// initial age, so the object expires everywhere at the same moment.
func TestShieldAgeAcrossTiers(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newSite(t, fc, static("aged", "Cache-Control", "max-age=100"))
	nodes, _ := newTier(t, fc, s, tierOpts{n: 3, shield: true})
	// A path owned by n2, asked at n0 first, then at n1.
	var p string
	for i := 0; ; i++ {
		p = fmt.Sprint("/age/", i)
		if m, _ := nodes[0].shield.Owner("site.test" + p); m.ID == "n2" {
			break
		}
	}
	if r := nodes[0].get(t, p); r.status != 200 || r.h.Get("Age") != "" && r.h.Get("Age") != "0" {
		t.Fatalf("first: %+v", r)
	}
	fc.Advance(30 * time.Second)
	r := nodes[1].get(t, p) // a miss at n1, a hit at n2
	if r.xcache != "MISS" || r.h.Get("Age") != "30" || !strings.Contains(r.status2, "n2; hit") {
		t.Fatalf("n1's fill from the owner: Age %q, %+v", r.h.Get("Age"), r)
	}
	fc.Advance(10 * time.Second)
	r = nodes[1].get(t, p)
	if r.xcache != "HIT" || r.h.Get("Age") != "40" || !strings.Contains(strings.Join(r.h.Values("Cache-Status"), ", "), "n1; hit; ttl=60") {
		t.Fatalf("n1's hit: Age %q, %+v", r.h.Get("Age"), r)
	}
	if s.Hits.Load() != 1 {
		t.Fatalf("origin fetches %d, want 1", s.Hits.Load())
	}
	fc.Advance(61 * time.Second) // 101 s old: stale at every level at once
	if r := nodes[1].get(t, p); r.xcache == "HIT" || s.Hits.Load() != 2 || r.h.Get("Age") != "" && r.h.Get("Age") != "0" {
		t.Fatalf("past max-age at both levels: %+v, %d origin fetches", r, s.Hits.Load())
	}
}

// A purge (here by surrogate key, over the bus) reaches both levels: the
// owner's copy and the lower node's, which knows the object's keys
// because the owner sent them to the tier (Config.Tier).
func TestShieldPurgeReachesBothLevels(t *testing.T) {
	for _, tier := range []bool{true, false} {
		t.Run(fmt.Sprint("Tier=", tier), func(t *testing.T) {
			fc := clock.NewFake(time.Time{})
			var version atomic.Int32
			s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Header().Set("Surrogate-Key", "sports news")
				fmt.Fprintf(w, "v%d", version.Load())
			})
			bus := &surrogate.LocalBus{}
			defer bus.Close()
			nodes, _ := newTier(t, fc, s, tierOpts{n: 2, shield: true, bus: bus, noTier: !tier})
			var p string
			for i := 0; ; i++ {
				p = fmt.Sprint("/p/", i)
				if m, _ := nodes[0].shield.Owner("site.test" + p); m.ID == "n1" {
					break
				}
			}
			if r := nodes[0].get(t, p); r.body != "v0" || r.h.Get("Surrogate-Key") != "" {
				t.Fatalf("fill: %+v (surrogate keys must not reach clients)", r)
			}
			if r := nodes[0].get(t, p); r.xcache != "HIT" {
				t.Fatalf("hit: %+v", r)
			}
			version.Store(1)
			res, err := nodes[1].node.Purge(context.Background(), PurgeRequest{Keys: []string{"sports"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := bus.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := nodes[0].get(t, p)
			if tier {
				if r.body != "v1" || r.xcache != "MISS" || res.Objects != 1 || nodes[0].node.Stats().PurgedObjects != 1 {
					t.Fatalf("after the purge: %+v, %+v", r, res)
				}
			} else if r.body != "v0" {
				t.Fatalf("without Config.Tier the lower copy is expected to survive (this test's control): %+v", r)
			}
		})
	}
}

// The owner passes the origin's surrogate fields down the tier whether or
// not it stored the object (its cache may decline it: too large, not
// admitted): the lower copy is indexed by its keys and a purge by key
// reaches it. Before, the keys came from the owner's index, which holds
// only what the owner stored, and such a lower copy outlived a purge.
// Surrogate-Control reaches the lower level too (Edge Architecture
// Specification 1.0 §2.2: the next surrogate of the same CDN reads it).
func TestShieldPurgeReachesLowerCopyTheOwnerDidNotStore(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var version atomic.Int32
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Control", "max-age=3600")
		w.Header().Set("Surrogate-Key", "sports")
		fmt.Fprintf(w, "version %d", version.Load())
	})
	bus := &surrogate.LocalBus{}
	defer bus.Close()
	nodes, _ := newTier(t, fc, s, tierOpts{n: 2, shield: true, bus: bus, config: func(id string, c *Config) {
		if id == "n1" {
			c.MaxObjectBytes = 4 // the owner stores nothing of this site
		}
	}})
	var p string
	for i := 0; ; i++ {
		p = fmt.Sprint("/p/", i)
		if m, _ := nodes[0].shield.Owner("site.test" + p); m.ID == "n1" {
			break
		}
	}
	if r := nodes[0].get(t, p); r.body != "version 0" || r.h.Get("Surrogate-Key") != "" || r.h.Get("Surrogate-Control") != "" {
		t.Fatalf("fill: %+v (surrogate fields must not reach clients)", r)
	}
	fc.Advance(120 * time.Second) // past max-age, within Surrogate-Control's
	if r := nodes[0].get(t, p); r.xcache != "HIT" {
		t.Fatalf("the lower copy, fresh by the Surrogate-Control the owner passed down: %+v", r)
	}
	if n := nodes[1].node.Stats().Objects; n != 0 {
		t.Fatalf("the owner stored %d objects, want none", n)
	}
	version.Store(1)
	if _, err := nodes[1].node.Purge(context.Background(), PurgeRequest{Keys: []string{"sports"}}); err != nil {
		t.Fatal(err)
	}
	if err := bus.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := nodes[0].get(t, p); r.body != "version 1" || nodes[0].node.Stats().PurgedObjects != 1 {
		t.Fatalf("after the purge by key: %+v", r)
	}
}

// Joining or leaving moves about 1/N of the objects (Maglev over the
// live set), and nodes that see the same live set agree on every owner
// whatever they saw before.
func TestShieldConsistentOwnership(t *testing.T) {
	mk := func(ids ...string) []surrogate.Member {
		var ms []surrogate.Member
		for _, id := range ids {
			ms = append(ms, surrogate.Member{ID: id, Addr: "127.0.0.1:1"})
		}
		return ms
	}
	a, b := &liveSet{}, &liveSet{}
	a.set(mk("e1", "e2", "e3", "e4", "e5"))
	b.set(mk("e1", "e2", "e3", "e4", "e5", "e9")) // b saw e9 come and go
	nop := http.RoundTripper(http.DefaultTransport)
	sa, err := NewShield(ShieldConfig{Self: "e1", Members: a, Origin: nop, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := NewShield(ShieldConfig{Self: "e2", Members: b, Origin: nop, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	b.set(mk("e1", "e2", "e3", "e4", "e5"))
	if err := sb.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	const keys = 20000
	owners := func(s *Shield) []string {
		out := make([]string, keys)
		for i := range out {
			m, _ := s.Owner(fmt.Sprint("site.test/k/", i))
			out[i] = m.ID
		}
		return out
	}
	before := owners(sa)
	for i, o := range owners(sb) {
		if o != before[i] {
			t.Fatalf("key %d: owners disagree (%s, %s) on the same live set", i, before[i], o)
		}
	}
	check := func(what string, ids []string, n int) {
		a.set(mk(ids...))
		if err := sa.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		after := owners(sa)
		moved := 0
		for i := range after {
			if after[i] != before[i] {
				moved++
			}
		}
		frac, ideal := float64(moved)/keys, 1/float64(n)
		t.Logf("%s: %.3f of the keys moved (ideal 1/%d = %.3f)", what, frac, n, ideal)
		if frac < ideal*0.8 || frac > ideal*1.3 {
			t.Fatalf("%s moved %.3f of the keys, want about %.3f", what, frac, ideal)
		}
	}
	check("e6 joins", []string{"e1", "e2", "e3", "e4", "e5", "e6"}, 6)
	check("e3 leaves", []string{"e1", "e2", "e4", "e5"}, 5)
	// Owner and requests never read the live set: only Refresh does.
	if st := sa.Stats(); st.Refreshes != 3 {
		t.Fatalf("refreshes: %+v", st)
	}
}

// RFC 8586 §2: a CDN adds its cdn-id to CDN-Loop on every request it
// forwards, after the entries already there (which it leaves as they are).
func TestNodeAppendsCDNLoop(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var got atomic.Value
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		got.Store(strings.Join(r.Header.Values("CDN-Loop"), ", "))
		w.Header().Set("Cache-Control", "max-age=60")
	})
	for _, c := range []struct{ id, sent, want string }{
		{"", "", "edgekit"},
		{"cdn.example", `other; v="1,2"`, `other; v="1,2", cdn.example`},
	} {
		e := newEnv(t, fc, Config{CDNID: c.id}, s)
		var hdr []string
		if c.sent != "" {
			hdr = []string{"CDN-Loop", c.sent}
		}
		e.get("/loop"+c.id, hdr...)
		if got.Load() != c.want {
			t.Fatalf("CDNID %q: origin saw CDN-Loop %q, want %q", c.id, got.Load(), c.want)
		}
		e.do(http.MethodPost, "/post"+c.id, hdr...) // passed through, too
		if got.Load() != c.want {
			t.Fatalf("CDNID %q, POST: origin saw CDN-Loop %q, want %q", c.id, got.Load(), c.want)
		}
	}
}

// The live set is read every Refresh by the shield's goroutine, and only
// then: a member that joins owns objects from the next read on.
func TestShieldRefreshesMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		live := &liveSet{}
		live.set([]surrogate.Member{{ID: "e1"}, {ID: "e2", Addr: "127.0.0.1:1"}})
		s, err := NewShield(ShieldConfig{Self: "e1", Members: live, Origin: http.DefaultTransport, Refresh: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		live.set([]surrogate.Member{{ID: "e1"}, {ID: "e2", Addr: "127.0.0.1:1"}, {ID: "e3", Addr: "127.0.0.1:2"}})
		time.Sleep(time.Second)
		synctest.Wait()
		if st := s.Stats(); len(st.Members) != 2 || st.Refreshes != 1 {
			t.Fatalf("before Refresh passed: %+v", st)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := s.Stats(); len(st.Members) != 3 || st.Refreshes != 2 {
			t.Fatalf("after Refresh: %+v", st)
		}
	})
}

// pathOwnedBy returns a path that owner owns, as n sees it.
func pathOwnedBy(t *testing.T, n *tierNode, owner, prefix string) string {
	t.Helper()
	for i := range 1000 {
		p := fmt.Sprint(prefix, i)
		if m, _ := n.shield.Owner("site.test" + p); m.ID == owner {
			return p
		}
	}
	t.Fatalf("no path owned by %s", owner)
	return ""
}

// stale-while-revalidate works at both levels (RFC 5861 §3): the lower
// node answers at once from its stale copy and revalidates through the
// owner, which also answers at once and revalidates with the origin; the
// origin sees one revalidation, and the new version reaches the lower
// node on its next refresh.
func TestShieldStaleWhileRevalidateBothLevels(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var version atomic.Int32
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("Etag", fmt.Sprintf(`"v%d"`, version.Load()))
		fmt.Fprintf(w, "v%d", version.Load())
	})
	nodes, _ := newTier(t, fc, s, tierOpts{n: 2, shield: true})
	a, b := nodes[0], nodes[1]
	p := pathOwnedBy(t, a, "n1", "/swr/")
	if r := a.get(t, p); r.body != "v0" {
		t.Fatalf("fill: %+v", r)
	}
	version.Store(1)
	fc.Advance(15 * time.Second)
	idle := func() { a.node.waitIdle(); b.node.waitIdle(); a.node.waitIdle() }
	if r := a.get(t, p); r.body != "v0" || r.xcache != "STALE" {
		t.Fatalf("stale at the lower node: %+v", r)
	}
	idle()
	if s.Hits.Load() != 2 {
		t.Fatalf("origin fetches %d, want 2 (the fill, the owner's revalidation)", s.Hits.Load())
	}
	if r := b.get(t, p); r.body != "v1" || r.xcache != "HIT" {
		t.Fatalf("the owner after revalidating: %+v", r)
	}
	// The lower node's copy came back from the stale owner still stale
	// (its Age said so): served stale once more while it refreshes.
	for range 3 {
		r := a.get(t, p)
		idle()
		if r.body == "v1" {
			if s.Hits.Load() != 2 {
				t.Fatalf("origin fetches %d, want 2", s.Hits.Load())
			}
			return
		}
		if r.xcache != "STALE" {
			t.Fatalf("lower node: %+v", r)
		}
	}
	t.Fatal("the lower node never got v1")
}

// stale-if-error works at both levels (RFC 5861 §4, RFC 9111 §4.2.4):
// with the origin failing, the owner serves its stale copy to the lower
// node; with the owner down too, the lower node falls back to the origin,
// which fails, and serves its own stale copy.
func TestShieldStaleIfErrorBothLevels(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var failing atomic.Bool
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=600")
		io.WriteString(w, "kept")
	})
	nodes, _ := newTier(t, fc, s, tierOpts{n: 2, shield: true})
	a, b := nodes[0], nodes[1]
	p := pathOwnedBy(t, a, "n1", "/sie/")
	a.get(t, p)
	q := pathOwnedBy(t, a, "n1", "/sie2/")
	a.get(t, q)
	failing.Store(true)
	fc.Advance(30 * time.Second)
	if r := a.get(t, p); r.status != 200 || r.body != "kept" || !strings.Contains(strings.Join(r.h.Values("Cache-Status"), ", "), "n1; fwd=stale") {
		t.Fatalf("origin failing: %+v", r)
	}
	b.mode.Store("down")
	if r := a.get(t, q); r.status != 200 || r.body != "kept" || r.xcache != "STALE" || a.shield.Stats().Fallbacks != 1 {
		t.Fatalf("origin failing and owner down: %+v %+v", r, a.shield.Stats())
	}
}

// The CDN-Loop reader (RFC 8586 §2, a list of cdn-info) never panics and
// counts a member only when its cdn-id is the token.
func FuzzShieldHops(f *testing.F) {
	for _, seed := range []string{"edgekit", `a, edgekit; x="1,2", EDGEKIT`, `"unterminated, edgekit`, ";;,,", "edgekit;edgekit"} {
		f.Add(seed)
	}
	s := &Shield{token: "edgekit"}
	f.Fuzz(func(t *testing.T, v string) {
		n := s.hops(http.Header{"Cdn-Loop": {v}})
		if n < 0 || n > strings.Count(strings.ToLower(v), "edgekit") {
			t.Fatalf("%q: %d", v, n)
		}
	})
}

// Only GET and HEAD take the tier: an unsafe method, or a protocol
// switch, goes to the origin from the node that received it (a body
// cannot be sent twice when an owner fails; a tunnel is not cached).
func TestShieldDirectMethods(t *testing.T) {
	var toOrigin, toPeer atomic.Int32
	ok := func(n *atomic.Int32) roundTripFunc {
		return func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		}
	}
	s, err := NewShield(ShieldConfig{Self: "a", Members: surrogate.StaticMembers{{ID: "b", Addr: "127.0.0.1:1"}},
		Origin: ok(&toOrigin), Peers: ok(&toPeer)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		method, upgrade string
		peer            bool
	}{{"GET", "", true}, {"HEAD", "", true}, {"POST", "", false}, {"DELETE", "", false}, {"GET", "websocket", false}} {
		o, p := toOrigin.Load(), toPeer.Load()
		req, _ := http.NewRequest(c.method, "http://site.test/x", nil)
		if c.upgrade != "" {
			req.Header.Set("Upgrade", c.upgrade)
		}
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if (toPeer.Load() == p+1) != c.peer || (toOrigin.Load() == o+1) == c.peer {
			t.Fatalf("%s (Upgrade %q): peer %d origin %d", c.method, c.upgrade, toPeer.Load()-p, toOrigin.Load()-o)
		}
	}
}

// The shield over Redis membership (redisbus.Bus as Members and as the
// purge bus): one origin fetch per object across three nodes, and an
// acknowledged purge by key that reaches the owner's copy and the lower
// copies (RFC 9111 §4.4 aside, a purge is the fleet's own invalidation).
func TestShieldOverRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	fc := clock.NewFake(time.Time{})
	var version atomic.Int32
	s := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Surrogate-Key", "all")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	})
	var buses []*redisbus.Bus
	nodes := make([]*tierNode, 3)
	for i := range nodes {
		nodes[i] = &tierNode{id: fmt.Sprint("r", i)}
	}
	// Addresses first: a node advertises where others reach it.
	var handlers [3]atomic.Pointer[Node]
	for i, tn := range nodes {
		tn.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handlers[i].Load().ServeHTTP(w, r) }))
		t.Cleanup(tn.srv.Close)
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}})
		b, err := redisbus.New(redisbus.Config{Client: rdb, Node: tn.id, Advertise: tn.srv.Listener.Addr().String(),
			Heartbeat: 50 * time.Millisecond, Block: 100 * time.Millisecond, Retry: 10 * time.Millisecond, AckTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(); rdb.Close() })
		buses = append(buses, b)
	}
	for i, tn := range nodes {
		pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: s.URL}}, Now: fc.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		if tn.shield, err = NewShield(ShieldConfig{Self: tn.id, Members: buses[i], Origin: pool, Now: fc.Now, Refresh: time.Hour}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tn.shield.Close() })
		if tn.node, err = New(Config{Name: tn.id, Origin: tn.shield, Tier: tn.shield.FromTier, Bus: buses[i], Now: fc.Now, XCache: true}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tn.node.Close() })
		handlers[i].Store(tn.node)
	}
	// Every node sees the three once each has heartbeated (a bus joins
	// when its reader knows where the log stands), read now rather than
	// after Refresh.
	for _, b := range buses {
		waitLive(t, b, 3)
	}
	for _, tn := range nodes {
		if err := tn.shield.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := tn.shield.Stats(); len(st.Members) != 3 {
			t.Fatalf("%s sees %+v", tn.id, st.Members)
		}
	}
	work := zipfWorkload(3, 3, 50, 150)
	distinct := map[string]bool{}
	for _, w := range work {
		distinct[w.path] = true
		if r := nodes[w.node].get(t, w.path); r.status != 200 {
			t.Fatalf("%s: %+v", w.path, r)
		}
	}
	if int(s.Hits.Load()) != len(distinct) {
		t.Fatalf("origin fetches %d, want %d distinct objects", s.Hits.Load(), len(distinct))
	}
	version.Store(1)
	res, err := nodes[0].node.Purge(context.Background(), PurgeRequest{Keys: []string{"all"}})
	if err != nil || res.Fleet == nil || !res.Fleet.Complete {
		t.Fatalf("purge: %+v %v", res, err)
	}
	for _, w := range work {
		if r := nodes[w.node].get(t, w.path); !strings.HasSuffix(r.body, " v1") {
			t.Fatalf("%s at node %d after the purge: %+v", w.path, w.node, r)
		}
	}
}
