// Command webrequest builds a small Internet on loopback addresses and
// sends a browser's requests through it, with every building block of
// edgekit doing its real work:
//
//   - DNS: a root, the com. and net. TLDs, the site's zone (www.shop.com is
//     a CNAME to the CDN name shop.cdn.net) and the CDN's zone, served by
//     resolver/authority servers (run on loopback by resolvertest); a
//     recursive resolver walks them, and a stub cache (the browser/OS
//     cache) sits in front of it.
//   - GeoDNS: shop.cdn.net is steered per region (geo.go): users of
//     127.0.1.0/24 (DE) reach the eu front door, of 127.0.2.0/24 (US) the
//     us one; the resolver sends their /24 (EDNS Client Subnet). When the
//     us door fails its health check, US users move to eu once the 30 s
//     TTL of the answer they hold runs out.
//   - Firewall: the CDN's listeners and HTTP layer are filtered; a denied
//     address is refused at accept, a burst at the API is rate-limited.
//   - Load balancer: shop.cdn.net is a balancer.Proxy in front of three
//     edge nodes, consistent-hashed by URL (Maglev), then round robin to
//     show why independent caches then hit less.
//   - Edge: edge.Node caches with surrogate keys and a shared purge bus;
//     misses go to an origin.Pool of two origins in two regions.
//   - The browser: an http.Client resolving through the SDK's net.Resolver
//     hook types http://www.shop.com, is redirected to HTTPS, completes a
//     TLS handshake (HTTP/2) and fetches the page and its assets.
//
// Then the primary origin is stopped (failover), a purge of "sports"
// refreshes exactly the tagged objects on every node, and with both
// origins down stale-if-error keeps the site up.
//
//	go run ./examples/webrequest                 # the journey and a summary
//	go run ./examples/webrequest -requests 2000 -objects 500 -seed 7
//	go run ./examples/webrequest -json | jq .summary
//	go run ./examples/webrequest -redis 127.0.0.1:6379   # purges through Redis, acknowledged
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
)

type (
	tlsState     = tls.ConnectionState
	resolverStep = resolver.Step
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli runs the command and says on stderr how it ended: -h prints the
// usage and returns 0; a bad command line prints its error once, then the
// usage, and returns 2; a failure prints one line and returns 2.
func cli(args []string, stdout, stderr io.Writer) int {
	return cmdline.Report(stderr, "webrequest", run(args, stdout, stderr))
}

// Options are the journey's knobs (the command's flags).
type Options struct {
	Requests int    // workload requests per balancing policy
	Objects  int    // distinct objects in the workload (Zipf popularity)
	Seed     uint64 // workload seed
	// Redis, if set, carries purges between the edges through Redis
	// (surrogate/redisbus, acknowledged); empty means in process.
	Redis string
	// Progress, if set, is called after each workload request with the
	// number done and the total (three runs of Requests each).
	Progress func(done, total int)
}

// Event is one request of the journey, timed with net/http/httptrace.
type Event struct {
	Step     string  `json:"step"`
	Method   string  `json:"method"`
	URL      string  `json:"url"`
	Source   string  `json:"source"`
	Status   int     `json:"status"`
	Proto    string  `json:"proto,omitempty"`
	Firewall string  `json:"firewall"`
	Edge     string  `json:"edge,omitempty"`
	Cache    string  `json:"cache,omitempty"`
	Origin   string  `json:"origin,omitempty"`
	DNSMs    float64 `json:"dns_ms"`
	ConnMs   float64 `json:"connect_ms"`
	TLSMs    float64 `json:"tls_ms"`
	TTFBMs   float64 `json:"ttfb_ms"`
	TotalMs  float64 `json:"total_ms"`
	Error    string  `json:"error,omitempty"`
}

// Summary is the journey's outcome.
type Summary struct {
	Requests            int                `json:"requests"`
	HitRatioByNode      map[string]float64 `json:"hit_ratio_by_node"`
	HitRatio            float64            `json:"hit_ratio"`
	ConsistentHashRatio float64            `json:"consistent_hash_hit_ratio"`
	RoundRobinRatio     float64            `json:"round_robin_hit_ratio"`
	OriginRequests      int64              `json:"origin_requests"`
	OriginRequestsSaved int64              `json:"origin_requests_saved"`
	DNSCacheHits        uint64             `json:"dns_cache_hits"`
	DNSUpstreamQueries  uint64             `json:"dns_upstream_queries"`
	DNSFirstLookupSteps int                `json:"dns_first_lookup_queries"`
	DNSSecondFromCache  bool               `json:"dns_second_lookup_from_cache"`
	DeniedRefused       bool               `json:"denied_address_refused"`
	RateLimited         int                `json:"rate_limited"`
	Failovers           uint64             `json:"failovers"`
	FailoverServedBy    string             `json:"failover_served_by"`
	FailedUserRequests  int                `json:"failed_user_requests"`
	PurgedObjects       int                `json:"purged_objects"`
	PurgeRefreshedOnly  bool               `json:"purge_refreshed_exactly_tagged"`
	PurgeAck            string             `json:"purge_ack,omitempty"`
	StaleServed         int                `json:"stale_if_error_served"`
	HTTP2               bool               `json:"http2"`
	// Metrics are read back from the journey's Prometheus registry, as
	// a dashboard would show them.
	Metrics MetricsSummary `json:"metrics"`
}

// Result is what the journey produced.
type Result struct {
	DNSTrace []string   `json:"dns_trace"`
	Geo      *GeoResult `json:"geo,omitempty"`
	Events   []Event    `json:"events"`
	Summary  Summary    `json:"summary"`
}

// run runs the journey, printing it to out and, unless -quiet or -json,
// a progress line to progress every 5 s of the workload.
func run(args []string, out, progress io.Writer) error {
	fs := flag.NewFlagSet("webrequest", flag.ContinueOnError)
	requests := fs.Int("requests", 300, "workload requests per balancing policy, 10..1000000 (three runs; about 1 ms each; the whole journey is cut after 2 min)")
	objects := fs.Int("objects", 60, "distinct objects in the workload (Zipf-distributed popularity), 3..100000")
	seed := fs.Uint64("seed", 1, "workload seed, for repeatable runs")
	asJSON := fs.Bool("json", false, "print the events and summary as JSON")
	quiet := fs.Bool("quiet", false, "print the summary only (and no progress lines on stderr)")
	redisAddr := fs.String("redis", "", "carry purges between the edges through Redis at this address (host:port, or a redis:// URL), acknowledged by every edge; empty: in process, no Redis")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *requests < 10 || *requests > 1_000_000 {
		return fmt.Errorf("-requests %d: must be 10..1000000", *requests)
	}
	if *objects < 3 || *objects > 100_000 {
		return fmt.Errorf("-objects %d: must be 3..100000", *objects)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opt := Options{Requests: *requests, Objects: *objects, Seed: *seed, Redis: *redisAddr}
	if !*quiet && !*asJSON {
		opt.Progress = progressPrinter(progress, 5*time.Second, time.Now)
	}
	res, err := Journey(ctx, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if !*quiet {
		printJourney(out, res)
	}
	printSummary(out, res.Summary)
	return nil
}

// progressPrinter returns a Progress func that writes a line to w when
// every has passed since the start or the last line.
func progressPrinter(w io.Writer, every time.Duration, now func() time.Time) func(done, total int) {
	last := now()
	return func(done, total int) {
		if t := now(); t.Sub(last) >= every {
			last = t
			fmt.Fprintf(w, "webrequest: workload %d/%d requests (%d%%)\n", done, total, done*100/total)
		}
	}
}

// Journey builds the Internet, runs the story and tears everything down.
func Journey(ctx context.Context, opt Options) (*Result, error) {
	in := &internet{clock: &simClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}, metrics: newMetrics()}
	in.geo.dnsClock = &simClock{now: in.clock.now}
	defer in.close()
	in.redisAddr = opt.Redis
	for _, start := range []func() error{in.startDNS, in.startResolvers, in.startOrigins, func() error { return in.startEdges(3) }, in.startFrontDoor, in.startGeo} {
		if err := start(); err != nil {
			return nil, err
		}
	}
	if _, err := in.useBalancer(balancer.Maglev(0)); err != nil {
		return nil, err
	}
	res := &Result{}
	s := &res.Summary
	s.HitRatioByNode = map[string]float64{}
	httpBase := fmt.Sprintf("http://www.shop.com:%d", in.httpPort)
	httpsBase := fmt.Sprintf("https://www.shop.com:%d", in.httpsPort)

	// 1. DNS: the first lookup walks root -> TLD -> authoritative (twice,
	// through the CNAME to the CDN); the second comes from the stub cache.
	if _, err := in.stub.LookupNetIP(ctx, "www.shop.com"); err != nil {
		return nil, fmt.Errorf("first DNS lookup: %w", err)
	}
	for _, st := range in.takeTrace() {
		res.DNSTrace = append(res.DNSTrace, describeStep(st))
	}
	s.DNSFirstLookupSteps = len(res.DNSTrace)
	before := in.stub.Stats().CacheHits
	upBefore := in.stub.Stats().Upstream
	if _, err := in.stub.LookupNetIP(ctx, "www.shop.com"); err != nil {
		return nil, err
	}
	s.DNSSecondFromCache = in.stub.Stats().CacheHits > before && in.stub.Stats().Upstream == upBefore

	// 2. The browser types http://www.shop.com and follows the redirect.
	browser := in.browser("127.0.0.1")
	page := in.fetch(ctx, browser, "visit", httpBase+"/", "127.0.0.1")
	res.Events = append(res.Events, page.events...)
	s.HTTP2 = page.proto == "HTTP/2.0"
	for _, asset := range assetsIn(page.body) {
		e := in.fetch(ctx, browser, "visit", httpsBase+asset, "127.0.0.1")
		res.Events = append(res.Events, e.events...)
	}
	// A second visit: the page and assets now come from the edge caches.
	for _, path := range append([]string{"/"}, assetsIn(page.body)...) {
		e := in.fetch(ctx, browser, "revisit", httpsBase+path, "127.0.0.1")
		res.Events = append(res.Events, e.events...)
	}

	// 2c. GeoDNS: users of two regions, then one region fails (geo.go).
	res.Geo = in.geoJourney(ctx)

	// 3. Firewall: a denied address, and a burst at the API.
	denied := in.fetch(ctx, in.browser("127.0.0.66"), "firewall", httpsBase+"/", "127.0.0.66")
	res.Events = append(res.Events, denied.events...)
	s.DeniedRefused = denied.err != nil
	burstClient := in.browser("127.0.0.77")
	for i := 0; i < 12; i++ {
		e := in.fetch(ctx, burstClient, "firewall", httpsBase+"/api/search?q=boots", "127.0.0.77")
		if e.status == http.StatusTooManyRequests {
			s.RateLimited++
		}
		if i == 0 || i == 11 {
			res.Events = append(res.Events, e.events...)
		}
	}

	// 4. The workload, consistent-hashed, then round robin on cold caches.
	keys := zipfKeys(opt)
	originBefore := in.originHits()
	progress := func(done int) {
		if opt.Progress != nil {
			opt.Progress(done, 3*len(keys))
		}
	}
	hit, byNode, failed := in.workload(ctx, browser, httpsBase, keys, func(i int) { progress(i) })
	s.ConsistentHashRatio, s.HitRatioByNode, s.FailedUserRequests = hit, byNode, failed
	s.Requests += len(keys)
	in.clearEdgeCaches(ctx)
	if _, err := in.useBalancer(balancer.RoundRobin()); err != nil {
		return nil, err
	}
	rr, _, failed := in.workload(ctx, browser, httpsBase, keys, func(i int) { progress(len(keys) + i) })
	s.RoundRobinRatio = rr
	s.FailedUserRequests += failed
	s.Requests += len(keys)
	in.clearEdgeCaches(ctx)
	if _, err := in.useBalancer(balancer.Maglev(0)); err != nil {
		return nil, err
	}
	_, _, failed = in.workload(ctx, browser, httpsBase, keys, func(i int) { progress(2*len(keys) + i) }) // warm the caches again
	s.FailedUserRequests += failed
	s.Requests += len(keys)

	// 5. Purge by surrogate key: "sports" tags every third article.
	tagged, untagged := []string{"/articles/0", "/articles/3", "/articles/6"}, []string{"/articles/1", "/articles/2", "/articles/4"}
	for _, p := range append(append([]string{}, tagged...), untagged...) {
		in.fetch(ctx, browser, "purge", httpsBase+p, "127.0.0.1")
	}
	var purgedBefore uint64
	for _, n := range in.nodes {
		purgedBefore += n.Stats().PurgedObjects
	}
	pr, err := in.nodes[0].Purge(ctx, edge.PurgeRequest{Keys: []string{"sports"}})
	if err != nil {
		return nil, err
	}
	s.PurgeAck = describeAck(pr.Fleet)
	in.buses.flush(ctx) // the purge reaches every node through the bus
	var purgedAfter uint64
	for _, n := range in.nodes {
		purgedAfter += n.Stats().PurgedObjects
	}
	purged := int(purgedAfter - purgedBefore)
	s.PurgedObjects = purged
	s.PurgeRefreshedOnly = true
	for _, p := range tagged {
		e := in.fetch(ctx, browser, "purge", httpsBase+p, "127.0.0.1")
		res.Events = append(res.Events, e.events...)
		if e.cache != "MISS" {
			s.PurgeRefreshedOnly = false
		}
	}
	for _, p := range untagged {
		e := in.fetch(ctx, browser, "purge", httpsBase+p, "127.0.0.1")
		res.Events = append(res.Events, e.events...)
		if e.cache != "HIT" {
			s.PurgeRefreshedOnly = false
		}
	}

	// 6. Failover: the primary origin stops; misses go to the alternate.
	in.origins[0].srv.Close()
	for i := 0; i < 3; i++ {
		e := in.fetch(ctx, browser, "failover", fmt.Sprintf("%s/articles/%d", httpsBase, 100000+i), "127.0.0.1")
		res.Events = append(res.Events, e.events...)
		if e.err != nil || e.status != 200 {
			s.FailedUserRequests++
		}
		if e.origin != "" {
			s.FailoverServedBy = e.origin
		}
	}
	for _, st := range in.pool.Stats() {
		s.Failovers += st.Failovers
	}

	// 7. Both origins down, every object stale: stale-if-error serves.
	in.origins[1].srv.Close()
	in.clock.Advance(2 * time.Minute)
	for _, p := range untagged {
		e := in.fetch(ctx, browser, "stale-if-error", httpsBase+p, "127.0.0.1")
		res.Events = append(res.Events, e.events...)
		if e.status == 200 && e.cache == "STALE" {
			s.StaleServed++
		}
	}

	// Totals.
	var hits, lookups uint64
	for _, n := range in.nodes {
		st := n.Stats()
		hits += st.Hits
		lookups += st.Hits + st.Misses
	}
	if lookups > 0 {
		s.HitRatio = float64(hits) / float64(lookups)
	}
	s.OriginRequests = in.originHits() - originBefore
	s.OriginRequestsSaved = int64(s.Requests) - s.OriginRequests
	st := in.stub.Stats()
	s.DNSCacheHits, s.DNSUpstreamQueries = st.CacheHits, in.recursive.Stats().Upstream
	if s.Metrics, err = in.metrics.summary(); err != nil {
		return nil, err
	}
	return res, nil
}

func (in *internet) originHits() int64 {
	return in.origins[0].hits.Load() + in.origins[1].hits.Load()
}

// zipfKeys draws the workload: object k with probability ~ 1/(k+1).
func zipfKeys(opt Options) []string {
	r := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	cdf := make([]float64, opt.Objects)
	sum := 0.0
	for k := range cdf {
		sum += 1 / math.Pow(float64(k+1), 1.0)
		cdf[k] = sum
	}
	keys := make([]string, opt.Requests)
	for i := range keys {
		u := r.Float64() * sum
		k := sort.SearchFloat64s(cdf, u)
		keys[i] = fmt.Sprintf("/articles/%d", min(k, opt.Objects-1))
	}
	return keys
}

// workload sends the keys and returns the hit ratio, per node and overall.
func (in *internet) workload(ctx context.Context, c *http.Client, base string, keys []string, done func(int)) (float64, map[string]float64, int) {
	hits, total := map[string]int{}, map[string]int{}
	failed := 0
	for i, k := range keys {
		e := in.fetch(ctx, c, "workload", base+k, "127.0.0.1")
		done(i + 1)
		if e.err != nil || e.status != 200 {
			failed++
			continue
		}
		total[e.edge]++
		if e.cache == "HIT" {
			hits[e.edge]++
		}
	}
	byNode := map[string]float64{}
	h, t := 0, 0
	for n, tot := range total {
		byNode[n] = float64(hits[n]) / float64(tot)
		h += hits[n]
		t += tot
	}
	if t == 0 {
		return 0, byNode, failed
	}
	return float64(h) / float64(t), byNode, failed
}

type fetched struct {
	events      []Event
	body        string
	status      int
	proto       string
	cache, edge string
	origin      string
	err         error
}

// fetch GETs url with a timeline, following redirects (one event each).
func (in *internet) fetch(ctx context.Context, c *http.Client, step, url, source string) fetched {
	var f fetched
	next := url
	for hop := 0; hop < 3 && next != ""; hop++ {
		e := Event{Step: step, Method: "GET", URL: next, Source: source}
		var start, dnsStart, connStart, tlsStart time.Time
		trace := &httptrace.ClientTrace{
			DNSStart:             func(httptrace.DNSStartInfo) { dnsStart = time.Now() },
			DNSDone:              func(httptrace.DNSDoneInfo) { e.DNSMs = ms(time.Since(dnsStart)) },
			ConnectStart:         func(string, string) { connStart = time.Now() },
			ConnectDone:          func(string, string, error) { e.ConnMs = ms(time.Since(connStart)) },
			TLSHandshakeStart:    func() { tlsStart = time.Now() },
			TLSHandshakeDone:     func(_ tlsState, _ error) { e.TLSMs = ms(time.Since(tlsStart)) },
			GotFirstResponseByte: func() { e.TTFBMs = ms(time.Since(start)) },
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, next, nil)
		start = time.Now()
		resp, err := noRedirect(c).Do(req)
		e.TotalMs = ms(time.Since(start))
		next = ""
		if err != nil {
			e.Error, e.Firewall = shortErr(err), "refused"
			f.err = err
			f.events = append(f.events, e)
			break
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.TotalMs = ms(time.Since(start))
		e.Status, e.Proto = resp.StatusCode, resp.Proto
		e.Firewall = "allowed"
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			e.Firewall = "rate-limited"
		case http.StatusForbidden:
			e.Firewall = "denied"
		}
		if via := resp.Header.Values("Via"); len(via) > 0 {
			e.Edge = strings.TrimPrefix(via[len(via)-1], "1.1 ")
		}
		e.Cache = resp.Header.Get("X-Cache")
		if e.Cache == "MISS" || e.Cache == "PASS" {
			e.Origin = resp.Header.Get("X-Origin-Region")
		}
		f.events = append(f.events, e)
		f.body, f.status, f.proto, f.cache, f.edge, f.origin = string(body), resp.StatusCode, resp.Proto, e.Cache, e.Edge, e.Origin
		if resp.StatusCode/100 == 3 {
			next = resp.Header.Get("Location")
		}
	}
	return f
}

func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

var assetRE = regexp.MustCompile(`(?:src|href)="(/[^"]+)"`)

// assetsIn lists the page's same-site references, as a browser would.
func assetsIn(html string) []string {
	var out []string
	for _, m := range assetRE.FindAllStringSubmatch(html, -1) {
		out = append(out, m[1])
	}
	return out
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func describeStep(st resolverStep) string {
	if st.Err != nil {
		return fmt.Sprintf("%s %s @%s (zone %s): %v", st.Question.Name, dns.TypeToString[st.Question.Qtype], st.Server, st.Zone, st.Err)
	}
	m := st.Response
	if len(m.Answer) == 0 && !m.Authoritative {
		var ns []string
		for _, rr := range m.Ns {
			if n, ok := rr.(*dns.NS); ok {
				ns = append(ns, n.Hdr.Name+" NS "+n.Ns)
			}
		}
		return fmt.Sprintf("%-20s %-5s @%s zone %-9s referral: %s", st.Question.Name, dns.TypeToString[st.Question.Qtype], st.Server.Addr(), st.Zone, strings.Join(ns, ", "))
	}
	var ans []string
	for _, rr := range m.Answer {
		ans = append(ans, strings.Join(strings.Fields(rr.String())[3:], " "))
	}
	if len(ans) == 0 {
		ans = []string{dns.RcodeToString[m.Rcode] + ", no records (SOA in authority)"}
	}
	return fmt.Sprintf("%-20s %-5s @%s zone %-9s answer: %s", st.Question.Name, dns.TypeToString[st.Question.Qtype], st.Server.Addr(), st.Zone, strings.Join(ans, "; "))
}

func printJourney(out io.Writer, r *Result) {
	fmt.Fprintln(out, "== 1. DNS: first lookup of www.shop.com, walking the hierarchy")
	for _, l := range r.DNSTrace {
		fmt.Fprintln(out, "  "+l)
	}
	fmt.Fprintf(out, "  second lookup answered from the stub cache: %v\n\n", r.Summary.DNSSecondFromCache)
	printGeo(out, r.Geo)
	last := ""
	for _, e := range r.Events {
		if e.Step == "purge" && last != "purge" {
			s := r.Summary
			fmt.Fprintf(out, "\n== 4. Workload: %d Zipf-distributed requests per run, through the load balancer\n", s.Requests/3)
			fmt.Fprintf(out, "  consistent hash (Maglev) by URL: edge hit ratio %.1f%%  (each object lives on one node)\n", 100*s.ConsistentHashRatio)
			fmt.Fprintf(out, "  round robin, cold caches:        edge hit ratio %.1f%%  (each node caches its own copy)\n", 100*s.RoundRobinRatio)
		}
		if e.Step != last {
			fmt.Fprintf(out, "\n== %s\n", stepTitle(e.Step))
			fmt.Fprintf(out, "  %-52s %-6s %-8s %-6s %-8s %-11s %-8s %6s %6s %6s %6s\n", "request", "status", "proto", "fw", "edge", "cache", "origin", "dns", "conn", "tls", "total")
			last = e.Step
		}
		status := fmt.Sprint(e.Status)
		if e.Error != "" {
			status = "-"
		}
		fmt.Fprintf(out, "  %-52s %-6s %-8s %-6s %-8s %-11s %-8s %6.2f %6.2f %6.2f %6.2f\n",
			trimURL(e.URL), status, e.Proto, abbrev(e.Firewall), dash(e.Edge), dash(e.Cache), dash(e.Origin), e.DNSMs, e.ConnMs, e.TLSMs, e.TotalMs)
		if e.Error != "" {
			fmt.Fprintf(out, "  %52s   %s\n", "", e.Error)
		}
	}
	fmt.Fprintln(out)
}

func stepTitle(s string) string {
	return map[string]string{
		"visit":          "2. Browser: http://www.shop.com -> redirect -> HTTPS page and its assets (ms)",
		"revisit":        "2b. Second visit: served by the edge caches",
		"firewall":       "3. Firewall: a denied address (127.0.0.66), then a burst at /api (127.0.0.77)",
		"purge":          "5. Purge of surrogate key \"sports\": tagged objects refresh, the rest stay cached",
		"failover":       "6. Primary origin (eu-west) stopped: new objects come from us-east",
		"stale-if-error": "7. Both origins down, objects stale: stale-if-error keeps the site up",
	}[s]
}

func trimURL(u string) string {
	if i := strings.Index(u, "//"); i >= 0 {
		u = u[i+2:]
	}
	if len(u) > 52 {
		u = u[:49] + "..."
	}
	return u
}

func abbrev(s string) string {
	return map[string]string{"allowed": "pass", "refused": "REFUSE", "rate-limited": "LIMIT", "denied": "DENY"}[s]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printSummary(out io.Writer, s Summary) {
	fmt.Fprintln(out, "== Summary")
	var nodes []string
	for n := range s.HitRatioByNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	var per []string
	for _, n := range nodes {
		per = append(per, fmt.Sprintf("%s %.0f%%", n, 100*s.HitRatioByNode[n]))
	}
	rows := [][2]string{
		{"requests (workload, 3 runs)", fmt.Sprint(s.Requests)},
		{"edge hit ratio, consistent hash (Maglev)", fmt.Sprintf("%.1f%% (%s)", 100*s.ConsistentHashRatio, strings.Join(per, ", "))},
		{"edge hit ratio, round robin", fmt.Sprintf("%.1f%%", 100*s.RoundRobinRatio)},
		{"edge hit ratio, whole journey", fmt.Sprintf("%.1f%%", 100*s.HitRatio)},
		{"origin requests / saved", fmt.Sprintf("%d / %d", s.OriginRequests, s.OriginRequestsSaved)},
		{"DNS: first lookup queries, second from cache", fmt.Sprintf("%d, %v", s.DNSFirstLookupSteps, s.DNSSecondFromCache)},
		{"DNS: stub cache hits, recursive upstream queries", fmt.Sprintf("%d, %d", s.DNSCacheHits, s.DNSUpstreamQueries)},
		{"firewall: denied address refused, burst requests limited", fmt.Sprintf("%v, %d of 12", s.DeniedRefused, s.RateLimited)},
		{"failovers (served by)", fmt.Sprintf("%d (%s)", s.Failovers, s.FailoverServedBy)},
		{"failed user requests", fmt.Sprint(s.FailedUserRequests)},
		{"purged objects (all nodes), only tagged refreshed", fmt.Sprintf("%d, %v", s.PurgedObjects, s.PurgeRefreshedOnly)},
		{"stale-if-error responses with both origins down", fmt.Sprint(s.StaleServed)},
		{"HTTP/2 negotiated", fmt.Sprint(s.HTTP2)},
		{"/metrics: edge hit ratio", fmt.Sprintf("%.1f%%", 100*s.Metrics.HitRatio)},
		{"/metrics: origin fetch p50 / p99", fmt.Sprintf("%.2f ms / %.2f ms (%d fetches)", s.Metrics.OriginFetchP50Ms, s.Metrics.OriginFetchP99Ms, s.Metrics.OriginFetches)},
	}
	if s.PurgeAck != "" { // -redis
		rows = append(rows, [2]string{"purge acknowledged through Redis", s.PurgeAck})
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-56s %s\n", r[0], r[1])
	}
}
