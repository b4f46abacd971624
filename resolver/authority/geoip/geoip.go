// Package geoip places clients for authority's steering with a MaxMind
// DB file (GeoLite2-Country, GeoLite2-City, GeoIP2 and any database of
// the same layout).
//
// It is a package of its own so that a user of resolver/authority who
// places clients with a static table (authority.StaticLocator) does not
// link the MaxMind reader.
//
// # Concurrency
//
// A DB is safe for concurrent use by multiple goroutines and starts no
// goroutines. To load new databases while serving, use a File
// (OpenFile): Reload and ReloadIfChanged swap the new database in and
// keep the old one when the new file is bad.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/oschwald/maxminddb-golang/v2"
)

// ErrBadDB reports a database that cannot be read.
var ErrBadDB = errors.New("geoip: bad database")

// DB is an authority.Locator over a MaxMind DB file. Locate is safe for
// concurrent use by multiple goroutines; Close must come after the last
// Locate.
type DB struct {
	r *maxminddb.Reader
}

var _ authority.Locator = (*DB)(nil)

// Open opens the MaxMind DB file at path (memory-mapped where the
// platform allows). Close releases it.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDB, err)
	}
	return &DB{r: r}, nil
}

// OpenBytes reads a database held in memory; b must not change while the
// DB is in use.
func OpenBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadDB, err)
	}
	return &DB{r: r}, nil
}

// Close releases the database. Locate must not be called after it.
func (d *DB) Close() error { return d.r.Close() }

// record is the part of a GeoLite2/GeoIP2 Country or City record used.
type record struct {
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Location struct {
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Locate implements authority.Locator: the record's country (else its
// registered country), continent and coordinates (City databases), and
// the network the record holds for. An address without a record, or
// one whose record does not decode, is unknown.
func (d *DB) Locate(addr netip.Addr) (authority.Location, netip.Prefix, bool) {
	res := d.r.Lookup(addr.Unmap())
	if !res.Found() {
		return authority.Location{}, netip.Prefix{}, false
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return authority.Location{}, netip.Prefix{}, false
	}
	loc := authority.Location{Country: rec.Country.ISOCode, Continent: rec.Continent.Code}
	if loc.Country == "" {
		loc.Country = rec.RegisteredCountry.ISOCode
	}
	// Country databases have no location; a City record without one
	// decodes as (0, 0), in the Gulf of Guinea, where no client lives.
	if lat, lon := rec.Location.Latitude, rec.Location.Longitude; (lat != 0 || lon != 0) &&
		lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		loc.Lat, loc.Lon, loc.Coords = lat, lon, true
	}
	return loc, res.Prefix(), true
}
