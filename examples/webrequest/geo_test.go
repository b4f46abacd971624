package main

import (
	"context"
	"testing"
	"time"
)

// TestGeoDNSJourney: each region's users reach their own region's front
// door; when the us door fails its health check, US users keep the
// address they hold until its TTL (30 s, on the resolver's clock) runs
// out, then reach eu; Berlin is never moved.
func TestGeoDNSJourney(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Journey(ctx, Options{Requests: 10, Objects: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := res.Geo
	if g == nil {
		t.Fatal("no GeoDNS part")
	}
	type want struct {
		user, addr string
		ttl        uint32
		door       string // "" when the request must fail
	}
	var users []GeoStep
	for _, st := range g.Steps {
		if st.User != "" {
			users = append(users, st)
		}
	}
	for i, w := range []want{
		{"Berlin", lbAddr, 30, lbAddr},
		{"New York", usDoor, 30, usDoor},
		{"New York", usDoor, 30, ""}, // held: the door is down
		{"New York", usDoor, 1, ""},
		{"New York", lbAddr, 30, lbAddr}, // moved
		{"Berlin", lbAddr, 30, lbAddr},
	} {
		if i >= len(users) {
			t.Fatalf("%d user steps", len(users))
		}
		st := users[i]
		ok := st.User == w.user && st.Addr == w.addr && st.TTL == w.ttl && st.Door == w.door
		if w.door == "" {
			ok = ok && st.Error != ""
		} else {
			ok = ok && st.Status == 200
		}
		if !ok {
			t.Errorf("step %d: %+v, want %+v", i, st, w)
		}
	}
	if len(g.Health) != 1 || g.Health[0] != "t=0s "+usDoor+" down" {
		t.Errorf("health %q", g.Health)
	}
}
