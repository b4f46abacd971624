package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	if err := run([]string{"-json", "-requests", "30", "-objects", "5"}, &out); err != nil {
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
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
