package authority

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/gaissmai/bart"
)

// Location is where a client (or an edge pool) is. The zero value is an
// unknown location.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code in upper case ("DE"); empty
	// when unknown.
	Country string
	// Continent is the two-letter continent code of GeoLite2 ("EU",
	// "NA", "AS", "SA", "AF", "OC", "AN"); empty when unknown.
	Continent string
	// Lat and Lon are degrees, valid when Coords is true.
	Lat, Lon float64
	Coords   bool
}

// Locator maps an address to a location. Locate reports the location of
// addr and the network it holds for (the answer's ECS scope, RFC 7871
// §7.2.1, is that network's length), or ok false when addr is unknown.
// It is called on every steered answer: it must be safe for concurrent
// use, must not block and should not allocate.
type Locator interface {
	Locate(addr netip.Addr) (loc Location, network netip.Prefix, ok bool)
}

// StaticLocation maps one network to a location.
type StaticLocation struct {
	Network  netip.Prefix
	Location Location
}

// StaticLocator is a Locator from a fixed table of networks (longest
// prefix wins), for deployments without a MaxMind database. It is
// immutable and safe for concurrent use by multiple goroutines.
type StaticLocator struct {
	t bart.Table[Location]
}

// NewStaticLocator returns a StaticLocator for entries, or an error
// wrapping ErrBadSteering for an invalid network or two entries for one.
func NewStaticLocator(entries []StaticLocation) (*StaticLocator, error) {
	l := &StaticLocator{}
	for _, e := range entries {
		if !e.Network.IsValid() {
			return nil, fmt.Errorf("%w: invalid network in location table", ErrBadSteering)
		}
		p := e.Network.Masked()
		if _, dup := l.t.Get(p); dup {
			return nil, fmt.Errorf("%w: network %s twice in location table", ErrBadSteering, p)
		}
		l.t.Insert(p, e.Location)
	}
	return l, nil
}

// Locate implements Locator.
func (l *StaticLocator) Locate(addr netip.Addr) (Location, netip.Prefix, bool) {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return Location{}, netip.Prefix{}, false
	}
	p, loc, ok := l.t.LookupPrefixLPM(netip.PrefixFrom(addr, addr.BitLen()))
	return loc, p, ok
}

// distance is the great-circle distance in kilometres between two points
// (the haversine formula on a sphere of the Earth's mean radius).
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(min(1, max(0, a))))
}
