package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/redistest"
)

// With -redis the edges purge through Redis (surrogate/redisbus): the
// purge by key returns once every edge applied it, and the summary says
// so; the story is the same as in process.
func TestJourneyThroughRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Journey(ctx, Options{Requests: 60, Objects: 20, Seed: 5, Redis: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if !strings.HasPrefix(s.PurgeAck, "complete in ") {
		t.Errorf("purge acknowledgement %q, want complete", s.PurgeAck)
	}
	for _, n := range []string{"edge-1 applied", "edge-2 applied", "edge-3 applied"} {
		if !strings.Contains(s.PurgeAck, n) {
			t.Errorf("acknowledgement %q lacks %q", s.PurgeAck, n)
		}
	}
	if s.PurgedObjects == 0 || !s.PurgeRefreshedOnly {
		t.Errorf("purge by key through Redis: %d objects, exactly tagged refreshed %v", s.PurgedObjects, s.PurgeRefreshedOnly)
	}
	if s.FailedUserRequests != 0 {
		t.Errorf("%d user requests failed", s.FailedUserRequests)
	}
}

// Without -redis nothing is acknowledged (the in-process bus); a -redis
// that cannot be reached is a clear error, exit 2.
func TestRedisFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Journey(ctx, Options{Requests: 30, Objects: 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.PurgeAck != "" {
		t.Errorf("in process, acknowledgement %q", res.Summary.PurgeAck)
	}
	var stdout, stderr bytes.Buffer
	code := cli([]string{"-redis", "127.0.0.1:1", "-requests", "10", "-objects", "3", "-quiet"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "-redis 127.0.0.1:1") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("unreachable -redis: exit %d, stderr %q", code, stderr.String())
	}
}
