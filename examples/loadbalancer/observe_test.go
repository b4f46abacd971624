package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// TestMetricsTracingDeadCollector: with -metrics and an -otlp collector
// that is not running, the balancer serves, /metrics counts the picks,
// the backend receives a traceparent of the balancer's span (W3C Trace
// Context §3.2), and the failed export is said once.
func TestMetricsTracingDeadCollector(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
		io.WriteString(w, "b")
	}))
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-backend", "b=" + strings.TrimPrefix(b.URL, "http://"),
			"-metrics", "127.0.0.1:0", "-pprof", "-otlp", dead, "-access-log"}, out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	const client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Traceparent", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mu.Lock()
	if len(seen) != 1 || !regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`).MatchString(seen[0]) || seen[0] == client {
		t.Errorf("backend saw traceparent %q, want the balancer span's", seen)
	}
	mu.Unlock()
	m := regexp.MustCompile(`metrics: http://(\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", out)
	}
	admin := "http://" + m[1]
	code, body := scrape(t, admin+"/metrics")
	for _, want := range []string{`edgekit_balancer_picks_total{backend="b"} 1`, `edgekit_balancer_backend_up{backend="b"} 1`,
		`edgekit_balancer_backend_latency_seconds_count{backend="b"} 1`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/debug/pprof/": 200} {
		if code, _ := scrape(t, admin+path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), `"msg":"request"`); n != 1 {
		t.Errorf("%d access log lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out.String(), "tracing: export to"); n != 1 {
		t.Errorf("said %d times that export failed, want once:\n%s", n, out)
	}
}
