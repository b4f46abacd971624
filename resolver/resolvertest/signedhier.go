package resolvertest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// SignedZoneFile is a zone of a signed hierarchy (NewSigned): its text,
// server address, how it is signed, and what to break.
// A plain value, safe for concurrent use while no goroutine changes it.
type SignedZoneFile struct {
	ZoneFile
	Signing Signing
	// Unsigned serves the zone without DNSSEC: the TLD proves that it
	// has no DS (an insecure delegation, RFC 4035 §5.2).
	Unsigned bool
	// NoDS signs the zone but leaves its DS out of the TLD.
	NoDS bool
	// DS, if set, is published in the TLD instead of the zone's own
	// (a DS that matches no DNSKEY of the zone, for one).
	DS *dns.DS
	// ExtraDS are published in the TLD beside the zone's DS (or DS): a
	// digest type no validator knows, a key of a rollover.
	ExtraDS []*dns.DS
	// Wrap, if set, wraps the zone's server (a forger, a dropper).
	Wrap func(dns.Handler) dns.Handler
}

// SignedConfig describes a signed hierarchy: a signed root (RootAddr) and
// signed TLDs (TLDAddr) above the given zones, each zone's DS in its TLD;
// the two addresses may be changed.
// A plain value: set it up before use and do not change it while in use.
type SignedConfig struct {
	Zones []SignedZoneFile
	// TLD is how the TLD zones are signed (NSEC3, opt-out, ...).
	TLD Signing
	// Root is how the root is signed (an Ed448 root, say). The zero
	// value signs with the defaults (Signing).
	Root Signing
	// TLDs, if set, gives the signing of the TLDs it names ("com."),
	// in place of TLD: several TLDs denying in different ways.
	TLDs map[string]Signing
	// Port as Config.Port.
	Port int
	// RootAddr and TLDAddr are the root's and the TLDs' servers' loopback
	// addresses. Empty means the package's RootAddr and TLDAddr
	// (127.0.0.2, 127.0.0.3); others let two hierarchies serve port 53
	// side by side.
	RootAddr, TLDAddr string
}

// NewSigned signs and serves the zones of cfg under a signed root and
// TLD layer, and returns the hierarchy and its trust anchor (the root
// key's DS), for a validating resolver's trust anchors. Each given zone
// must be directly below its TLD, on an address of its own other than
// RootAddr and TLDAddr.
func NewSigned(cfg SignedConfig) (*Hierarchy, []dns.RR, error) {
	rootAddr, tldAddr := cmp.Or(cfg.RootAddr, RootAddr), cmp.Or(cfg.TLDAddr, TLDAddr)
	handlers := map[string]dns.Handler{}
	var files []ZoneFile
	tldText := map[string]*strings.Builder{}
	for _, zf := range cfg.Zones {
		origin := dns.CanonicalName(zf.Origin)
		labels := dns.SplitDomainName(origin)
		if len(labels) != 2 || zf.Addr == rootAddr || zf.Addr == tldAddr {
			return nil, nil, fmt.Errorf("resolvertest: signed zone %s must be a second-level zone on its own address", origin)
		}
		tld := labels[1] + "."
		b := tldText[tld]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString(tld + " 900 IN SOA a.nic." + tld + " h.nic." + tld + " 1 1800 900 604800 300\n" + tld + " 172800 IN NS a.nic." + tld + "\na.nic." + tld + " 172800 IN A " + tldAddr + "\n")
			tldText[tld] = b
		}
		var h dns.Handler
		text := zf.Text
		if zf.Unsigned {
			z, err := authority.ParseZone(strings.NewReader(text), origin, origin)
			if err != nil {
				return nil, nil, fmt.Errorf("resolvertest: %s: %w", origin, err)
			}
			writeCuts(b, z.Delegation())
			h = NewSignedServer(nil, []*authority.Zone{z})
		} else {
			z, err := SignZone(origin, text, zf.Signing)
			if err != nil {
				return nil, nil, err
			}
			writeCuts(b, z.zone.Delegation())
			switch {
			case zf.DS != nil:
				b.WriteString(zf.DS.String() + "\n")
			case !zf.NoDS:
				b.WriteString(z.DS() + "\n")
			}
			for _, ds := range zf.ExtraDS {
				c := *ds
				c.Hdr.Name = origin
				b.WriteString(c.String() + "\n")
			}
			text = z.Text()
			h = NewSignedServer([]*SignedZone{z}, nil)
		}
		if zf.Wrap != nil {
			h = zf.Wrap(h)
		}
		handlers[zf.Addr] = h
		files = append(files, ZoneFile{Addr: zf.Addr, Origin: origin, Text: text})
	}
	var root strings.Builder
	root.WriteString(". 86400 IN SOA a.root-servers.net. nstld.example. 1 1800 900 604800 86400\n. 518400 IN NS a.root-servers.net.\na.root-servers.net. 518400 IN A " + rootAddr + "\n")
	var tlds []*SignedZone
	for _, tld := range slices.Sorted(func(yield func(string) bool) {
		for t := range tldText {
			if !yield(t) {
				return
			}
		}
	}) {
		s, ok := cfg.TLDs[tld]
		if !ok {
			s = cfg.TLD
		}
		z, err := SignZone(tld, tldText[tld].String(), s)
		if err != nil {
			return nil, nil, err
		}
		tlds = append(tlds, z)
		root.WriteString(tld + " 172800 IN NS a.nic." + tld + "\na.nic." + tld + " 172800 IN A " + tldAddr + "\n" + z.DS() + "\n")
		files = append(files, ZoneFile{Addr: tldAddr, Origin: tld, Text: z.Text()})
	}
	rz, err := SignZone(".", root.String(), cfg.Root)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, ZoneFile{Addr: rootAddr, Origin: ".", Text: rz.Text()})
	handlers[rootAddr] = NewSignedServer([]*SignedZone{rz}, nil)
	handlers[tldAddr] = NewSignedServer(tlds, nil)
	h, err := New(Config{Files: files, Port: cfg.Port, Wrap: func(addr string, _ *authority.Server) dns.Handler { return handlers[addr] }})
	if err != nil {
		return nil, nil, err
	}
	return h, []dns.RR{rz.Key().DS()}, nil
}
