package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgekit/edgekit/resolver/authority/geoip"
	"github.com/edgekit/edgekit/resolver/authority/geoip/geoiptest"
)

const geoSteer = `{"steer": [{"name": "shop.cdn.example.", "pools": [
  {"name": "eu", "countries": ["DE"], "continents": ["EU"], "members": ["127.0.0.2"]},
  {"name": "us", "countries": ["US"], "continents": ["NA"], "members": ["127.0.0.3"]}
]}]}`

// writeGeoIP writes a database placing 198.18.0.0/16 in country.
func writeGeoIP(t *testing.T, path, country, continent string, mod time.Time) {
	t.Helper()
	b, err := geoiptest.Write(map[netip.Prefix]map[string]any{
		netip.MustParsePrefix("198.18.0.0/16"): geoiptest.City(country, continent, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, mod, mod)
}

// syncBuffer is an io.Writer safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SIGHUP's reload: a new -geoip database moves the clients it places
// elsewhere, without a restart; a bad file keeps the one loaded and
// says why.
func TestGeoIPReload(t *testing.T) {
	dir := t.TempDir()
	zone, steer, db := filepath.Join(dir, "cdn.zone"), filepath.Join(dir, "steer.json"), filepath.Join(dir, "city.mmdb")
	os.WriteFile(zone, []byte(testZone), 0o600)
	os.WriteFile(steer, []byte(geoSteer), 0o600)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	writeGeoIP(t, db, "DE", "EU", t0)
	out := &syncBuffer{}
	svc, err := start("127.0.0.1:0", zone, "cdn.example.", steer, db, out)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	if got, _, _ := digSubnet(t, svc.addr, "198.18.5.0/24"); !slices.Equal(got, []string{"127.0.0.2"}) {
		t.Fatalf("before: %v", got)
	}
	writeGeoIP(t, db, "US", "NA", t0.Add(time.Minute))
	reloadGeoIP(svc.geo, out)
	if got, _, _ := digSubnet(t, svc.addr, "198.18.5.0/24"); !slices.Equal(got, []string{"127.0.0.3"}) {
		t.Fatalf("after the reload: %v", got)
	}
	os.WriteFile(db, []byte("half a download"), 0o600)
	reloadGeoIP(svc.geo, out)
	if got, _, _ := digSubnet(t, svc.addr, "198.18.5.0/24"); !slices.Equal(got, []string{"127.0.0.3"}) {
		t.Fatalf("after a bad file: %v", got)
	}
	if s := out.String(); !strings.Contains(s, "geoip: reloaded") || !strings.Contains(s, "bad database") || !strings.Contains(s, "keeping the database loaded before") {
		t.Fatalf("output %q", s)
	}
}

// The watcher reloads a file that changed at its next check, and says
// once that a bad one is kept out.
func TestWatchGeoIP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	writeGeoIP(t, path, "DE", "EU", t0)
	f, err := geoip.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); watchGeoIP(ctx, f, geoipPoll, out) }()
		writeGeoIP(t, path, "US", "NA", t0.Add(time.Minute))
		time.Sleep(geoipPoll) // fake time: one check
		synctest.Wait()
		if loc, _, _ := f.Locate(netip.MustParseAddr("198.18.1.1")); loc.Country != "US" || !strings.Contains(out.String(), "changed: reloaded") {
			t.Fatalf("country %s, output %q", loc.Country, out.String())
		}
		os.WriteFile(path, []byte("garbage"), 0o600)
		os.Chtimes(path, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
		time.Sleep(3 * geoipPoll)
		synctest.Wait()
		if n := strings.Count(out.String(), "keeping"); n != 1 {
			t.Fatalf("bad file reported %d times: %q", n, out.String())
		}
		cancel()
		<-done
	})
}
