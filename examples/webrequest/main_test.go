package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestJourneyStory runs the journey with a small workload and checks the
// story it tells.
func TestJourneyStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Journey(ctx, Options{Requests: 120, Objects: 30, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if len(res.DNSTrace) < 4 || !strings.Contains(strings.Join(res.DNSTrace, "\n"), "referral") {
		t.Errorf("first lookup did not walk the hierarchy: %v", res.DNSTrace)
	}
	if !s.DNSSecondFromCache {
		t.Error("second DNS lookup was not a cache hit")
	}
	if !s.DeniedRefused {
		t.Error("the denied address was not refused")
	}
	if s.RateLimited == 0 {
		t.Error("the burst was not rate-limited")
	}
	if s.Failovers == 0 || s.FailoverServedBy != "us-east" {
		t.Errorf("no failover to the alternate origin: %d, %q", s.Failovers, s.FailoverServedBy)
	}
	if s.FailedUserRequests != 0 {
		t.Errorf("%d user requests failed", s.FailedUserRequests)
	}
	if s.StaleServed != 3 {
		t.Errorf("stale-if-error served %d of 3 with both origins down", s.StaleServed)
	}
	if s.PurgedObjects == 0 || !s.PurgeRefreshedOnly {
		t.Errorf("purge by key: %d objects, exactly tagged refreshed %v", s.PurgedObjects, s.PurgeRefreshedOnly)
	}
	if s.ConsistentHashRatio <= s.RoundRobinRatio {
		t.Errorf("consistent hash %.3f should beat round robin %.3f", s.ConsistentHashRatio, s.RoundRobinRatio)
	}
	if !s.HTTP2 {
		t.Error("HTTP/2 not negotiated")
	}
	// The registry's figures agree with the nodes' Stats.
	if m := s.Metrics; math.Abs(m.HitRatio-s.HitRatio) > 1e-9 || m.OriginFetches == 0 || m.OriginFetchP50Ms <= 0 || m.OriginFetchP99Ms < m.OriginFetchP50Ms {
		t.Errorf("metrics read back: %+v (Stats hit ratio %.4f)", m, s.HitRatio)
	}
	var redirected bool
	for _, e := range res.Events {
		if e.Status == 301 {
			redirected = true
		}
	}
	if !redirected {
		t.Error("http:// was not redirected to https://")
	}
}

func TestJSONAndFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-json", "-requests", "30", "-objects", "5"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("-json output is not JSON: %v", err)
	}
	if r.Summary.Requests != 90 || len(r.Events) == 0 {
		t.Fatalf("summary %+v", r.Summary)
	}
	for _, args := range [][]string{{"-requests", "1"}, {"-objects", "0"}, {"stray"}, {"-nope"}} {
		if err := run(args, &bytes.Buffer{}, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestProgressPrinter: a line every 5 s of the (fake) clock, none between.
func TestProgressPrinter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := progressPrinter(&buf, 5*time.Second, func() time.Time { return now })
	for i := 1; i <= 30; i++ {
		now = now.Add(time.Second)
		p(i, 30)
	}
	if got := strings.Count(buf.String(), "\n"); got != 6 || !strings.Contains(buf.String(), "workload 5/30 requests (16%)") {
		t.Fatalf("progress lines:\n%s", buf.String())
	}
}

// TestCommandLine: -h states the ranges and exits 0; out-of-range values
// are refused naming the flag; -quiet prints no progress.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "10..1000000", "Usage of webrequest"},
		{[]string{"-nope"}, 2, "Usage of webrequest", "flag provided but not defined: -nope"},
		{[]string{"-requests", "5"}, 2, "", "-requests 5: must be 10..1000000"},
		{[]string{"-objects", "200000"}, 2, "", "-objects 200000: must be 3..100000"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "webrequest: webrequest:") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}
