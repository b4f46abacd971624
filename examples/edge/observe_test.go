package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func scrape(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndDeadCollector: with -metrics and an -otlp collector that
// is not running, the edge starts and serves, /metrics counts its hits
// and misses and has their latency histograms, -access-log writes a line
// per request, /healthz and /readyz answer, /debug/pprof/ is off without
// -pprof, and the failed span export is said once.
func TestMetricsAndDeadCollector(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "page")
	}))
	defer site.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-admin", "", "-origin", site.URL,
			"-metrics", "127.0.0.1:0", "-otlp", deadAddr(t), "-access-log"}, out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("edge did not start")
	}
	m := regexp.MustCompile(`metrics: http://(\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", out)
	}
	admin := "http://" + m[1]
	for range 3 {
		if code, _, _ := send(t, "GET", "http://"+addr+"/p"); code != 200 {
			t.Fatalf("GET /p: %d", code)
		}
	}
	code, body := scrape(t, admin+"/metrics")
	for _, want := range []string{
		`edgekit_edge_requests_total{cache="hit"} 2`,
		`edgekit_edge_requests_total{cache="miss"} 1`,
		`edgekit_edge_first_byte_seconds_count{cache="hit"} 2`,
		`edgekit_edge_origin_fetch_seconds_count{kind="fetch"} 1`,
		`edgekit_origin_up{origin="` + strings.TrimPrefix(site.URL, "http://") + `"} 1`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/debug/pprof/": 404} {
		if code, _ := scrape(t, admin+path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), `"msg":"request"`); n != 3 {
		t.Errorf("%d access log lines, want 3:\n%s", n, out)
	}
	if n := strings.Count(out.String(), "tracing: export to"); n != 1 {
		t.Errorf("said %d times that export failed, want once:\n%s", n, out)
	}
}

// TestMetricsOffLoopbackNeedsToken: a -metrics address off loopback is
// refused without a token, naming the flag that fixes it.
func TestMetricsOffLoopbackNeedsToken(t *testing.T) {
	err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-admin", "", "-origin", "http://127.0.0.1:1", "-metrics", "0.0.0.0:0"}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "-metrics-token") {
		t.Fatalf("got %v, want a refusal naming -metrics-token", err)
	}
}
