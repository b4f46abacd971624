package geoiptest_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority/geoip"
	"github.com/edgekit/edgekit/resolver/authority/geoip/geoiptest"
)

func TestWriteReadsBack(t *testing.T) {
	b, err := geoiptest.Write(map[netip.Prefix]map[string]any{
		netip.MustParsePrefix("198.51.100.0/24"): geoiptest.City("NL", "EU", 52.4, 4.9),
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	loc, network, ok := db.Locate(netip.MustParseAddr("198.51.100.7"))
	if !ok || loc.Country != "NL" || network.String() != "198.51.100.0/24" {
		t.Fatalf("%+v %v %v", loc, network, ok)
	}
}

func TestWriteRefusesWhatItCannotEncode(t *testing.T) {
	for _, rec := range []map[string]any{{"x": 1}, {"x": nil}, {"x": make([]any, 40)}} {
		if _, err := geoiptest.Write(map[netip.Prefix]map[string]any{netip.MustParsePrefix("10.0.0.0/8"): rec}); !errors.Is(err, geoiptest.ErrUnsupported) {
			t.Errorf("%v: %v", rec, err)
		}
	}
	if _, err := geoiptest.Write(map[netip.Prefix]map[string]any{{}: geoiptest.City("DE", "EU", 0, 0)}); !errors.Is(err, geoiptest.ErrUnsupported) {
		t.Errorf("invalid network: %v", err)
	}
}
