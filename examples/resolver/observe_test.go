package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetricsDeadCollector: with -metrics and an -otlp collector that is
// not running, the resolver serves, /metrics counts its queries and cache
// hits, and the program ends cleanly.
func TestMetricsDeadCollector(t *testing.T) {
	port, stop, err := startHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	hints := filepath.Join(t.TempDir(), "root.hints")
	os.WriteFile(hints, []byte(". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.0.2\n"), 0o644)
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
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-roots", hints, "-port", strconv.Itoa(port), "-allow-loopback",
			"-metrics", "127.0.0.1:0", "-otlp", dead, "-access-log"}, out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	c := &dns.Client{Timeout: 5 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	for range 2 {
		if resp, _, err := c.Exchange(q, addr); err != nil || resp.Rcode != dns.RcodeSuccess {
			t.Fatalf("%v %v", resp, err)
		}
	}
	m := regexp.MustCompile(`metrics: http://(\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", out)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"edgekit_resolver_queries_total 2\n", `edgekit_resolver_cache_lookups_total\{result="hit"\} [1-9]`,
		"edgekit_resolver_upstream_rtt_seconds_count [1-9]", "edgekit_resolver_resolution_seconds_count [1-9]"} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), `"msg":"query"`); n != 2 {
		t.Errorf("%d query log lines, want 2:\n%s", n, out)
	}
	if n := strings.Count(out.String(), "tracing: export to"); n != 1 {
		t.Errorf("said %d times that export failed, want once:\n%s", n, out)
	}
}
