package dnssec

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// rootAnchorText is the IANA root zone trust anchors
// (https://data.iana.org/root-anchors/root-anchors.xml): KSK-2017 (key
// tag 20326) and KSK-2024 (key tag 38696), as DS records with SHA-256
// digests.
const rootAnchorText = `. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
`

// RootAnchors returns the IANA root trust anchors, KSK-2017 (20326) and
// KSK-2024 (38696), as DS records. Each call returns new records.
func RootAnchors() []dns.RR {
	rrs, err := ParseAnchors(strings.NewReader(rootAnchorText), "root-anchors")
	if err != nil {
		panic("dnssec: built-in root anchors: " + err.Error()) // a constant: cannot happen
	}
	return rrs
}

// ParseAnchors reads trust anchors from zone-file text (RFC 1035 §5):
// DS and DNSKEY records, one zone or several, as Unbound's
// trust-anchor-file and BIND's dnssec-keygen output give them. Comments
// and blank lines are skipped; any other record type is an error wrapping
// ErrBadAnchor, as is text that does not parse or holds no anchor.
func ParseAnchors(r io.Reader, filename string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(r, ".", filename)
	zp.SetIncludeAllowed(false)
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch v := rr.(type) {
		case *dns.DS:
			v.Hdr.Name = dns.CanonicalName(v.Hdr.Name)
		case *dns.DNSKEY:
			v.Hdr.Name = dns.CanonicalName(v.Hdr.Name)
			if v.Flags&dns.ZONE == 0 {
				return nil, fmt.Errorf("%w: %s: DNSKEY %d without the zone key flag", ErrBadAnchor, v.Hdr.Name, v.KeyTag())
			}
		default:
			return nil, fmt.Errorf("%w: %s: %s record is no anchor (DS or DNSKEY)", ErrBadAnchor, rr.Header().Name, dns.TypeToString[rr.Header().Rrtype])
		}
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAnchor, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no DS or DNSKEY record", ErrBadAnchor, filename)
	}
	return out, nil
}
