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

// Delegation returns the records a parent zone holds to delegate to this
// zone (RFC 1034 §4.2.1): the NS records at the apex and, as glue, the A
// and AAAA records of those name servers whose names lie inside the zone
// (RFC 9471 §2.1). The records are copies, NS first in zone-file order,
// then glue in the order of the NS records that name it.
func (z *Zone) Delegation() []dns.RR {
	var ns, glue []dns.RR
	seen := map[string]bool{}
	for _, rr := range z.names[z.origin] {
		n, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		ns = append(ns, dns.Copy(n))
		target := dns.CanonicalName(n.Ns)
		if seen[target] || !dnsproto.IsSubName(z.origin, target) {
			continue
		}
		seen[target] = true
		for _, a := range z.names[target] {
			switch a.(type) {
			case *dns.A, *dns.AAAA:
				glue = append(glue, dns.Copy(a))
			}
		}
	}
	return append(ns, glue...)
}
