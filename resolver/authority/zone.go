package authority

import (
	"fmt"
	"io"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// Zone is authoritative data for one zone: its records by owner name.
// Build it with ParseZone. A Zone is immutable and safe for concurrent use.
type Zone struct {
	origin string
	soa    *dns.SOA
	names  map[string][]dns.RR // lower-cased owner -> records
	cuts   map[string]bool     // delegation points below the apex
	ents   map[string]bool     // empty non-terminals: no records, names below
}

// ParseZone reads zone-file text (RFC 1035 §5) for origin. Relative names
// are relative to origin. The zone needs an SOA at its apex.
func ParseZone(r io.Reader, origin, filename string) (*Zone, error) {
	origin = dns.CanonicalName(origin)
	z := &Zone{origin: origin, names: map[string][]dns.RR{}, cuts: map[string]bool{}, ents: map[string]bool{}}
	zp := dns.NewZoneParser(r, origin, filename)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := dns.CanonicalName(rr.Header().Name)
		if !dnsproto.IsSubName(origin, name) {
			return nil, fmt.Errorf("%w: %s is outside zone %s", ErrBadZone, name, origin)
		}
		rr.Header().Name = name
		z.names[name] = append(z.names[name], rr)
		switch v := rr.(type) {
		case *dns.SOA:
			if name == origin {
				z.soa = v
			}
		case *dns.NS:
			if name != origin {
				z.cuts[name] = true
			}
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadZone, err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("%w: zone %s has no SOA at its apex", ErrBadZone, origin)
	}
	// The names between an owner and the apex exist even without records
	// of their own (RFC 8020 §2, RFC 4592 §2.2.2): found once here, not by
	// scanning every name on each query.
	for name := range z.names {
		for anc := dnsproto.Parent(name); anc != origin && dnsproto.IsSubName(origin, anc); anc = dnsproto.Parent(anc) {
			if _, ok := z.names[anc]; ok || z.ents[anc] {
				break // from here up, already known
			}
			z.ents[anc] = true
		}
	}
	return z, nil
}

// Origin returns the zone's apex name.
func (z *Zone) Origin() string { return z.origin }
