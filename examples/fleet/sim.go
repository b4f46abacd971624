package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/surrogate"
)

// Design is how a fleet's edges share the work.
type Design int

const (
	// Independent: each client request goes to a random edge (as
	// round-robin DNS or anycast would spread it), whose cache is its
	// own; a miss goes to the origin. The seed's picture.
	Independent Design = iota
	// ConsistentHash: a load balancer in front routes each object to one
	// edge (balancer.Jump over the edges, keyed by URL), so each object
	// is cached once in the fleet.
	ConsistentHash
	// Shield: clients reach a random edge as with Independent; a miss
	// goes to the edge that owns the object (edge.Shield: Maglev over
	// the edges, keyed by URL), and only the owner goes to the origin.
	Shield
)

// Designs lists every design in table order.
var Designs = []Design{Independent, ConsistentHash, Shield}

func (d Design) String() string {
	return [...]string{"independent", "consistent-hash", "shield"}[d]
}

// Workload describes what clients ask for. Every draw comes from Seed, so
// two runs with the same Workload ask for the same objects in the same
// order, with the same sizes, lifetimes and purges.
type Workload struct {
	Nodes    int     // edge nodes
	Objects  int     // distinct objects (the catalogue)
	Requests int     // client requests per run
	Zipf     float64 // popularity exponent: object of rank k asked with probability ~ 1/k^Zipf
	Seed     uint64
}

// Simulated time, object sizes, lifetimes and purges: fixed, the same for
// every design and cache size.
const (
	// step is the simulated time between two client requests: the fleet
	// takes 200 requests/s, so a default run covers about 8 minutes.
	step = 5 * time.Millisecond
	// purgeEvery: one purge by surrogate key every this many requests.
	purgeEvery = 5000
	// sections group objects for surrogate keys ("s17"); a purge by key
	// removes one section, 1/sections of the catalogue, and the origin
	// then serves new versions of those objects.
	sections = 100
	// medianSize and sizeSigma shape the log-normal object size (median
	// 8 KiB, mean about 13 KiB), capped at maxSize.
	medianSize = 4 << 10
	sizeSigma  = 1.0
	maxSize    = 1 << 20
	host       = "cdn.example"
)

// ttlChoices are the objects' lifetimes (Cache-Control: max-age), drawn
// with the weights in ttlWeights: many short-lived objects (news, API),
// most for ten minutes, a third for an hour.
var (
	ttlChoices = []time.Duration{time.Minute, 10 * time.Minute, time.Hour}
	ttlWeights = []float64{0.2, 0.5, 0.3}
)

// catalogue is the origin's content: per object its path, size and
// lifetime; and the sequence of requests (object indexes).
type catalogue struct {
	paths  []string
	urls   []*url.URL
	sizes  []int
	ttls   []time.Duration
	order  []int32 // the objects requested, in order
	bytes  int64   // sum of sizes
	blob   []byte  // the bytes every body is cut from
	client []uint8 // for Independent and Shield: the edge each request reaches
}

func newCatalogue(w Workload) *catalogue {
	r := rand.New(rand.NewPCG(w.Seed, 0xf1ee7))
	c := &catalogue{paths: make([]string, w.Objects), urls: make([]*url.URL, w.Objects),
		sizes: make([]int, w.Objects), ttls: make([]time.Duration, w.Objects)}
	largest := 0
	for i := range w.Objects {
		c.paths[i] = "/o/" + strconv.Itoa(i)
		c.urls[i] = &url.URL{Scheme: "http", Host: host, Path: c.paths[i]}
		size := int(medianSize * math.Exp(sizeSigma*r.NormFloat64()))
		c.sizes[i] = min(max(size, 64), maxSize)
		c.bytes += int64(c.sizes[i])
		largest = max(largest, c.sizes[i])
		u := r.Float64()
		for j, wt := range ttlWeights {
			if u < wt || j == len(ttlWeights)-1 {
				c.ttls[i] = ttlChoices[j]
				break
			}
			u -= wt
		}
	}
	c.blob = bytes.Repeat([]byte("x"), largest)
	// Popularity: rank k (from 1) has weight 1/k^s; ranks are shuffled
	// over the objects so popularity does not follow the object index
	// (nor the surrogate-key section).
	rankOf := r.Perm(w.Objects)
	cdf := make([]float64, w.Objects)
	sum := 0.0
	for k := range cdf {
		sum += math.Pow(float64(k+1), -w.Zipf)
		cdf[k] = sum
	}
	c.order = make([]int32, w.Requests)
	c.client = make([]uint8, w.Requests)
	for i := range c.order {
		k := min(sort.SearchFloat64s(cdf, r.Float64()*sum), w.Objects-1)
		c.order[i] = int32(rankOf[k])
		c.client[i] = uint8(r.IntN(w.Nodes))
	}
	return c
}

// clock is a simulated clock shared by a run's nodes and origin.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// origin is the site behind the fleet, in memory: each object is served
// with its size, lifetime, surrogate key and an ETag that changes when
// its section is purged; conditional requests get 304. It counts what it
// sends. Safe for concurrent use.
type origin struct {
	cat      *catalogue
	clock    *clock
	version  [sections]atomic.Uint32
	requests atomic.Int64
	bytes    atomic.Int64
}

func (o *origin) RoundTrip(r *http.Request) (*http.Response, error) {
	o.requests.Add(1)
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/o/"))
	if err != nil || id < 0 || id >= len(o.cat.sizes) {
		return response(r, http.StatusNotFound, http.Header{"Content-Length": {"0"}}, nil), nil
	}
	sec := id % sections
	etag := o.etag(id)
	h := http.Header{
		"Date":          {o.clock.Now().Format(http.TimeFormat)},
		"Cache-Control": {"max-age=" + strconv.Itoa(int(o.cat.ttls[id]/time.Second))},
		"Etag":          {etag},
		"Surrogate-Key": {"s" + strconv.Itoa(sec)},
	}
	if r.Header.Get("If-None-Match") == etag {
		return response(r, http.StatusNotModified, h, nil), nil
	}
	size := o.cat.sizes[id]
	o.bytes.Add(int64(size))
	h["Content-Length"] = []string{strconv.Itoa(size)}
	return response(r, http.StatusOK, h, o.cat.blob[:size]), nil
}

// etag is object id's current entity tag.
func (o *origin) etag(id int) string {
	return `"` + strconv.Itoa(id) + "." + strconv.Itoa(int(o.version[id%sections].Load())) + `"`
}

func response(r *http.Request, code int, h http.Header, body []byte) *http.Response {
	return &http.Response{StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: r,
		ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}
}

// recorder is a cheap in-memory http.ResponseWriter: it keeps the status
// and header and counts the body, keeping it only when keep is set.
// Not safe for concurrent use.
type recorder struct {
	header http.Header
	code   int
	n      int64
	keep   bool
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += int64(len(p))
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

// Row is one run's outcome: one design at one cache size.
type Row struct {
	Design     string  `json:"design"`
	CacheBytes int64   `json:"cache_bytes_per_node"`
	Requests   int     `json:"requests"`
	EdgeHits   int     `json:"edge_hits"`
	HitRatio   float64 `json:"edge_hit_ratio"`
	// Offload is 1 - origin requests / client requests: the share of
	// requests the fleet answered without the origin.
	Offload        float64 `json:"offload"`
	OriginRequests int64   `json:"origin_requests"`
	OriginBytes    int64   `json:"origin_bytes"`
	// PeerRequests are requests between edges (Shield only).
	PeerRequests int64 `json:"peer_requests"`
	// Load is per node the requests it served (clients' and peers').
	Load []uint64 `json:"load"`
	// Imbalance is max/mean of Load: 1 is perfectly even.
	Imbalance float64 `json:"max_over_mean_load"`
	Errors    int     `json:"errors"`
	// Outdated counts responses with an entity tag the origin had
	// replaced, and purged, before the request: a purge that missed a
	// copy. Zero when purges reach every copy.
	Outdated int `json:"outdated"`
}

// fleet is one run's nodes, origin and clock.
type fleet struct {
	cat     *catalogue
	clock   *clock
	origin  *origin
	bus     *surrogate.LocalBus
	nodes   []*edge.Node
	shields []*edge.Shield // Shield: each node's shield tier
	owners  *balancer.Pool // object -> edge, for ConsistentHash
	peers   atomic.Int64
}

func newFleet(cat *catalogue, w Workload, d Design, cacheBytes int64) (*fleet, error) {
	f := &fleet{cat: cat, clock: &clock{}, bus: &surrogate.LocalBus{}}
	f.clock.ns.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	f.origin = &origin{cat: cat, clock: f.clock}
	var err error
	f.owners, err = balancer.New(balancer.Config{Policy: balancer.Jump(), Now: f.clock.Now})
	if err != nil {
		return nil, err
	}
	for i := range w.Nodes {
		if err := f.owners.Add(balancer.Backend{ID: nodeID(i)}); err != nil {
			f.close()
			return nil, err
		}
	}
	f.nodes = make([]*edge.Node, w.Nodes)
	var members surrogate.Members
	if d == Shield {
		members = f.members()
	}
	for i := range w.Nodes {
		cfg := edge.Config{Name: nodeID(i), Origin: f.origin, MaxBytes: cacheBytes, XCache: true,
			Bus: f.bus, Now: f.clock.Now, StaleIfError: -1}
		if d == Shield {
			sh, err := f.newShield(i, members)
			if err != nil {
				f.close()
				return nil, err
			}
			f.shields = append(f.shields, sh)
			// The owner's answers to the tier carry surrogate keys, so
			// a purge by key also reaches the copies at other edges.
			cfg.Origin, cfg.Tier = sh, sh.FromTier
		}
		n, err := edge.New(cfg)
		if err != nil {
			f.close()
			return nil, err
		}
		f.nodes[i] = n
	}
	return f, nil
}

func nodeID(i int) string { return "edge-" + strconv.Itoa(i) }

// owner returns the index of the node that owns path.
func (f *fleet) owner(path string) (int, error) {
	p, err := f.owners.Pick(balancer.PickInfo{Key: path})
	if err != nil {
		return 0, err
	}
	p.Done(balancer.DoneInfo{})
	return strconv.Atoi(strings.TrimPrefix(p.Backend().ID, "edge-"))
}

func (f *fleet) close() {
	for _, n := range f.nodes {
		if n != nil {
			n.Close()
		}
	}
	for _, s := range f.shields {
		s.Close()
	}
	f.bus.Close()
	f.owners.Close()
}

// run sends the workload through the fleet and reports the row.
func (f *fleet) run(ctx context.Context, d Design, cacheBytes int64) (Row, error) {
	row := Row{Design: d.String(), CacheBytes: cacheBytes, Requests: len(f.cat.order)}
	var w recorder
	for i, id := range f.cat.order {
		if i%4096 == 0 && ctx.Err() != nil {
			return row, ctx.Err()
		}
		if i > 0 && i%purgeEvery == 0 {
			if err := f.purge(ctx, i); err != nil {
				return row, err
			}
		}
		f.clock.Advance(step)
		var n int
		switch d {
		case ConsistentHash:
			var err error
			if n, err = f.owner(f.cat.paths[id]); err != nil {
				return row, err
			}
		default:
			n = int(f.cat.client[i])
		}
		r := &http.Request{Method: http.MethodGet, URL: f.cat.urls[id], Host: host, Proto: "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, RemoteAddr: "192.0.2.1:1234", RequestURI: f.cat.paths[id]}
		w = recorder{}
		f.nodes[n].ServeHTTP(&w, r)
		if w.code != http.StatusOK {
			row.Errors++
			continue
		}
		if xc := w.header.Get("X-Cache"); xc == "HIT" || xc == "STALE" {
			row.EdgeHits++
		}
		if w.header.Get("Etag") != f.origin.etag(int(id)) {
			row.Outdated++
		}
	}
	row.OriginRequests, row.OriginBytes, row.PeerRequests = f.origin.requests.Load(), f.origin.bytes.Load(), f.peers.Load()
	if row.Requests > 0 {
		row.HitRatio = float64(row.EdgeHits) / float64(row.Requests)
		row.Offload = 1 - float64(row.OriginRequests)/float64(row.Requests)
	}
	var sum, most uint64
	for _, n := range f.nodes {
		l := n.Stats().Requests
		row.Load = append(row.Load, l)
		sum += l
		most = max(most, l)
	}
	if sum > 0 {
		row.Imbalance = float64(most) / (float64(sum) / float64(len(f.nodes)))
	}
	return row, nil
}

// purge purges one section by surrogate key, hard, from one edge through
// the fleet's bus, after the origin changed those objects; the workload's
// next request waits until every node applied it.
func (f *fleet) purge(ctx context.Context, i int) error {
	sec := (i / purgeEvery * 37) % sections // a fixed walk over the sections
	f.origin.version[sec].Add(1)
	if _, err := f.nodes[i%len(f.nodes)].Purge(ctx, edge.PurgeRequest{Keys: []string{"s" + strconv.Itoa(sec)}}); err != nil {
		return err
	}
	return f.bus.Flush(ctx)
}

// Result is a whole simulation: every design at every cache size.
type Result struct {
	Workload     Workload `json:"workload"`
	CatalogBytes int64    `json:"catalogue_bytes"`
	Distinct     int      `json:"distinct_objects_requested"`
	Rows         []Row    `json:"rows"`
	Elapsed      time.Duration
}

// Simulate runs every design at every cache size (bytes per node), on as
// many goroutines as workers (each run is sequential and independent).
func Simulate(ctx context.Context, w Workload, caches []int64, workers int) (*Result, error) {
	cat := newCatalogue(w)
	res := &Result{Workload: w, CatalogBytes: cat.bytes}
	seen := make([]bool, w.Objects)
	for _, id := range cat.order {
		if !seen[id] {
			seen[id] = true
			res.Distinct++
		}
	}
	type job struct {
		i    int
		d    Design
		size int64
	}
	var jobs []job
	for _, size := range caches {
		for _, d := range Designs {
			jobs = append(jobs, job{len(jobs), d, size})
		}
	}
	res.Rows = make([]Row, len(jobs))
	errs := make([]error, len(jobs))
	ch := make(chan job)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Go(func() {
			for j := range ch {
				if ctx.Err() != nil {
					errs[j.i] = ctx.Err()
					continue
				}
				f, err := newFleet(cat, w, j.d, j.size)
				if err != nil {
					errs[j.i] = err
					continue
				}
				res.Rows[j.i], errs[j.i] = f.run(ctx, j.d, j.size)
				f.close()
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s, %d bytes per node: %w", jobs[i].d, jobs[i].size, err)
		}
	}
	slices.SortStableFunc(res.Rows, func(a, b Row) int {
		if a.CacheBytes != b.CacheBytes {
			return int(a.CacheBytes - b.CacheBytes)
		}
		return strings.Compare(designIndex(a.Design), designIndex(b.Design))
	})
	return res, nil
}

func designIndex(name string) string {
	for i, d := range Designs {
		if d.String() == name {
			return strconv.Itoa(i)
		}
	}
	return name
}
