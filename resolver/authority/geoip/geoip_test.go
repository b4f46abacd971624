package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority"
)

func testDB(t testing.TB) []byte {
	return writeMMDB(map[netip.Prefix]map[string]mmdbValue{
		netip.MustParsePrefix("10.1.0.0/16"):      cityRecord("DE", "EU", 52.5, 13.4),
		netip.MustParsePrefix("10.2.0.0/16"):      cityRecord("US", "NA", 40.7, -74),
		netip.MustParsePrefix("2001:db8:aa::/48"): cityRecord("JP", "AS", 35.7, 139.7),
		netip.MustParsePrefix("10.3.0.0/24"): {
			"continent":          map[string]mmdbValue{"code": "EU"},
			"registered_country": map[string]mmdbValue{"iso_code": "PL"},
		},
	})
}

func TestLocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test-city.mmdb")
	if err := os.WriteFile(path, testDB(t), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		addr    string
		want    authority.Location
		network string
	}{
		{"10.1.2.0", authority.Location{Country: "DE", Continent: "EU", Lat: 52.5, Lon: 13.4, Coords: true}, "10.1.0.0/16"},
		{"::ffff:10.2.0.1", authority.Location{Country: "US", Continent: "NA", Lat: 40.7, Lon: -74, Coords: true}, "10.2.0.0/16"},
		{"2001:db8:aa:1::", authority.Location{Country: "JP", Continent: "AS", Lat: 35.7, Lon: 139.7, Coords: true}, "2001:db8:aa::/48"},
		{"10.3.0.9", authority.Location{Country: "PL", Continent: "EU"}, "10.3.0.0/24"},
	} {
		loc, network, ok := db.Locate(netip.MustParseAddr(c.addr))
		if !ok || loc != c.want || network.String() != c.network {
			t.Errorf("%s: %+v %s %v, want %+v %s", c.addr, loc, network, ok, c.want, c.network)
		}
	}
	if _, _, ok := db.Locate(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("an address without a record was located")
	}
	if _, _, ok := db.Locate(netip.Addr{}); ok {
		t.Error("the zero Addr was located")
	}
}

func TestBadDB(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("not a database"), testDB(t)[:40]} {
		if _, err := OpenBytes(b); err == nil {
			t.Errorf("%q opened", b)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing file opened")
	}
}

func BenchmarkLocate(b *testing.B) {
	db, err := OpenBytes(testDB(b))
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("10.1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := db.Locate(a); !ok {
			b.Fatal("not found")
		}
	}
}

// FuzzOpenBytes: no database, however broken, panics the reader or Locate.
func FuzzOpenBytes(f *testing.F) {
	good := testDB(f)
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := OpenBytes(b)
		if err != nil {
			return
		}
		defer db.Close()
		for _, a := range []string{"10.1.2.3", "2001:db8:aa::1", "0.0.0.0"} {
			db.Locate(netip.MustParseAddr(a))
		}
	})
}
