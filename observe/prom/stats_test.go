package prom_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/resolver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type edgeStats edge.Stats

func (s edgeStats) Stats() edge.Stats { return edge.Stats(s) }

type originStats []origin.OriginStats

func (s originStats) Stats() []origin.OriginStats { return s }

type backendStats []balancer.BackendStats

func (s backendStats) Stats() []balancer.BackendStats { return s }

type resolverStats resolver.Stats

func (s resolverStats) Stats() resolver.Stats { return resolver.Stats(s) }

type firewallStats firewall.Stats

func (s firewallStats) Stats() firewall.Stats { return firewall.Stats(s) }

type httpStats firewall.HTTPStats

func (s httpStats) Stats() firewall.HTTPStats { return firewall.HTTPStats(s) }

type guardStats firewall.DNSGuardStats

func (s guardStats) Stats() firewall.DNSGuardStats { return firewall.DNSGuardStats(s) }

// fixedRegistry registers every collector over fixed snapshots.
func fixedRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	var es edge.Stats
	es.Requests, es.Hits, es.Misses, es.Passes = 10, 6, 3, 1
	es.BytesFromCache, es.BytesFromOrigin = 600, 300
	es.Objects, es.Bytes, es.MaxBytes = 3, 4096, 1<<20
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		prom.Edge(edgeStats(es)),
		prom.Origins(originStats{
			{Name: "eu", State: balancer.Healthy, Requests: 5, Latency: 20 * time.Millisecond},
			{Name: "us", State: balancer.Ejected, Requests: 2, Errors: 2, Ejections: 1},
			{Name: "us", State: balancer.Healthy}, // a repeated name is dropped, not a failed scrape
		}),
		prom.Balancer(backendStats{
			{Backend: balancer.Backend{ID: "a", Addr: "127.0.0.1:1", Weight: 3}, State: balancer.Healthy, Picks: 7, Active: 2},
			{Backend: balancer.Backend{ID: "b", Addr: "127.0.0.1:2", Weight: 1}, State: balancer.Unhealthy, Picks: 1, Failures: 1},
		}),
		prom.Resolver(resolverStats{Queries: 9, CacheHits: 7, CacheMisses: 2, Upstream: 4, CacheEntries: 5, CacheBytes: 900}),
		prom.Firewall(firewallStats{Allowed: 4, Denied: 1, Rules: []firewall.RuleCount{{Rule: "deny-bad", Hits: 1}, {Rule: "default", Hits: 4}, {Rule: "default", Hits: 9}}}),
		prom.HTTPFilter(httpStats{Allowed: 8, Denied: 3, Limited: 2, Builtin: 1}),
		prom.DNSGuard(guardStats{Denied: 1, RateLimited: 2}),
	} {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// TestCollectorsLintClean scrapes every collector and runs client_golang's
// promlint over the result: names, units, _total on counters, help text.
func TestCollectorsLintClean(t *testing.T) {
	reg := fixedRegistry(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// Every name carries the namespace.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "edgekit_") {
			t.Errorf("%s: not in the edgekit_ namespace", mf.GetName())
		}
	}
}

// TestCollectorsValues checks counters are counters, gauges are gauges and
// values are the snapshot's.
func TestCollectorsValues(t *testing.T) {
	reg := fixedRegistry(t)
	want := `
# HELP edgekit_edge_requests_total Requests the cache decided on, by cache status.
# TYPE edgekit_edge_requests_total counter
edgekit_edge_requests_total{cache="hit"} 6
edgekit_edge_requests_total{cache="miss"} 3
edgekit_edge_requests_total{cache="pass"} 1
# HELP edgekit_edge_cache_bytes Bytes the cache counts its objects to cost.
# TYPE edgekit_edge_cache_bytes gauge
edgekit_edge_cache_bytes 4096
# HELP edgekit_origin_up 1 when the origin is healthy, else 0.
# TYPE edgekit_origin_up gauge
edgekit_origin_up{origin="eu"} 1
edgekit_origin_up{origin="us"} 0
# HELP edgekit_balancer_backend_state 1 for the backend's current state (healthy, unhealthy, ejected, draining).
# TYPE edgekit_balancer_backend_state gauge
edgekit_balancer_backend_state{backend="a",state="draining"} 0
edgekit_balancer_backend_state{backend="a",state="ejected"} 0
edgekit_balancer_backend_state{backend="a",state="healthy"} 1
edgekit_balancer_backend_state{backend="a",state="unhealthy"} 0
edgekit_balancer_backend_state{backend="b",state="draining"} 0
edgekit_balancer_backend_state{backend="b",state="ejected"} 0
edgekit_balancer_backend_state{backend="b",state="healthy"} 0
edgekit_balancer_backend_state{backend="b",state="unhealthy"} 1
# HELP edgekit_resolver_cache_lookups_total Cache lookups, by result.
# TYPE edgekit_resolver_cache_lookups_total counter
edgekit_resolver_cache_lookups_total{result="hit"} 7
edgekit_resolver_cache_lookups_total{result="miss"} 2
# HELP edgekit_firewall_rule_hits_total Decisions made by each rule of the rule set in force.
# TYPE edgekit_firewall_rule_hits_total counter
edgekit_firewall_rule_hits_total{rule="default"} 4
edgekit_firewall_rule_hits_total{rule="deny-bad"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"edgekit_edge_requests_total", "edgekit_edge_cache_bytes", "edgekit_origin_up",
		"edgekit_balancer_backend_state", "edgekit_resolver_cache_lookups_total", "edgekit_firewall_rule_hits_total"); err != nil {
		t.Error(err)
	}
}

// TestEdgeCollectorLive drives a real edge node: a miss, two hits and a
// POST, read at scrape time with no hook set.
func TestEdgeCollectorLive(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "hello")
	}))
	defer site.Close()
	pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: site.URL, Name: "site"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	node, err := edge.New(edge.Config{Origin: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.Edge(node), prom.Origins(pool))
	for _, m := range []string{"GET", "GET", "GET", "POST"} {
		rec := httptest.NewRecorder()
		node.ServeHTTP(rec, httptest.NewRequest(m, "http://example.test/a", nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d", m, rec.Code)
		}
	}
	want := `
# HELP edgekit_edge_requests_total Requests the cache decided on, by cache status.
# TYPE edgekit_edge_requests_total counter
edgekit_edge_requests_total{cache="hit"} 2
edgekit_edge_requests_total{cache="miss"} 1
edgekit_edge_requests_total{cache="pass"} 1
# HELP edgekit_edge_requests_received_total Requests handed to the node, purges and bypassed requests included.
# TYPE edgekit_edge_requests_received_total counter
edgekit_edge_requests_received_total 4
# HELP edgekit_origin_requests_total Requests sent to the origin.
# TYPE edgekit_origin_requests_total counter
edgekit_origin_requests_total{origin="site"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"edgekit_edge_requests_total", "edgekit_edge_requests_received_total", "edgekit_origin_requests_total"); err != nil {
		t.Error(err)
	}
}
