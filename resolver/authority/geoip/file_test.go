package geoip

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func writeDB(t *testing.T, path, country string, mod time.Time) {
	t.Helper()
	if err := tryWriteDB(path, country, mod); err != nil {
		t.Fatal(err)
	}
}

func tryWriteDB(path, country string, mod time.Time) error {
	b := writeMMDB(map[netip.Prefix]map[string]mmdbValue{netip.MustParsePrefix("10.0.0.0/8"): cityRecord(country, "EU", 50, 10)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chtimes(path, mod, mod)
}

func countryOf(t *testing.T, f *File) string {
	t.Helper()
	loc, _, ok := f.Locate(netip.MustParseAddr("10.1.2.3"))
	if !ok {
		t.Fatal("not located")
	}
	return loc.Country
}

// A File reloads a changed database, and keeps the one it has when the
// new file is bad, saying why.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	writeDB(t, path, "DE", t0)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := countryOf(t, f); got != "DE" {
		t.Fatalf("country %s", got)
	}
	if changed, err := f.ReloadIfChanged(); changed || err != nil {
		t.Fatalf("unchanged file reloaded: %v %v", changed, err)
	}
	writeDB(t, path, "FR", t0.Add(time.Minute))
	if changed, err := f.ReloadIfChanged(); !changed || err != nil {
		t.Fatalf("changed file: %v %v", changed, err)
	}
	if got := countryOf(t, f); got != "FR" {
		t.Fatalf("after reload: country %s", got)
	}
	// A truncated file (a copy caught half-way): the old database stays.
	os.WriteFile(path, []byte("not a database at all"), 0o600)
	os.Chtimes(path, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	changed, err := f.ReloadIfChanged()
	if changed || !errors.Is(err, ErrBadDB) {
		t.Fatalf("bad file: %v %v", changed, err)
	}
	if got := countryOf(t, f); got != "FR" {
		t.Fatalf("after a bad file: country %s", got)
	}
	if changed, err := f.ReloadIfChanged(); changed || err != nil {
		t.Fatalf("the same bad file reported again: %v %v", changed, err)
	}
	if err := f.Reload(); !errors.Is(err, ErrBadDB) {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	os.Remove(path)
	if err := f.Reload(); err == nil || countryOf(t, f) != "FR" {
		t.Fatalf("Reload of a missing file: %v", err)
	}
	if _, err := OpenFile(path); err == nil {
		t.Fatal("a missing file opened")
	}
}

// Answers locate while the database is swapped (run with -race).
func TestFileReloadConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	writeDB(t, path, "DE", t0)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			if err := tryWriteDB(path, []string{"DE", "FR"}[i%2], t0.Add(time.Duration(i+1)*time.Second)); err != nil {
				t.Error(err)
				return
			}
			if _, err := f.ReloadIfChanged(); err != nil {
				t.Error(err)
			}
		}
	})
	for range 2000 {
		if c := countryOf(t, f); c != "DE" && c != "FR" {
			t.Fatalf("country %q", c)
		}
	}
	wg.Wait()
}
