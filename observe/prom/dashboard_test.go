package prom_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVars are the dashboard's variables, as Grafana substitutes them
// before a query reaches Prometheus.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")

// TestDashboardNamesExportedMetrics parses every PromQL query of
// docs/grafana-dashboard.json and checks each metric it names is one the
// collectors and histograms of this package export (a histogram's
// _bucket, _sum and _count series belong to it).
func TestDashboardNamesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	mfs, err := fullRegistry(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		n := mf.GetName()
		exported[n] = true
		if mf.GetType().String() == "HISTOGRAM" {
			exported[n+"_bucket"], exported[n+"_sum"], exported[n+"_count"] = true, true, true
		}
	}
	p := parser.NewParser(parser.Options{})
	queries, used := 0, map[string]bool{}
	for _, panel := range dash.Panels {
		for _, tg := range panel.Targets {
			queries++
			expr, err := p.ParseExpr(grafanaVars.Replace(tg.Expr))
			if err != nil {
				t.Errorf("panel %q: %q: %v", panel.Title, tg.Expr, err)
				continue
			}
			names := 0
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					names++
					used[vs.Name] = true
					if !exported[vs.Name] {
						t.Errorf("panel %q: %s is not exported", panel.Title, vs.Name)
					}
				}
				return nil
			})
			if names == 0 {
				t.Errorf("panel %q: %q names no metric", panel.Title, tg.Expr)
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
	// The panels are all there.
	for _, m := range []string{"edgekit_edge_requests_total", "edgekit_edge_origin_fetch_seconds_bucket", "edgekit_balancer_backend_up",
		"edgekit_resolver_cache_lookups_total", "edgekit_resolver_upstream_rtt_seconds_bucket", "edgekit_origin_up"} {
		if !used[m] {
			t.Errorf("no panel uses %s", m)
		}
	}
}
