package geoip

import (
	"net/netip"

	"github.com/edgekit/edgekit/resolver/authority/geoip/geoiptest"
)

// The tests write their databases with geoiptest.

type mmdbValue = any

func writeMMDB(networks map[netip.Prefix]map[string]mmdbValue) []byte {
	b, err := geoiptest.Write(networks)
	if err != nil {
		panic(err) // the tests' own records are all encodable
	}
	return b
}

var cityRecord = geoiptest.City
