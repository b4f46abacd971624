package resolvertest

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// Key is a DNSSEC signing key made at test time: its DNSKEY record (a
// KSK, flags 257, signing the whole zone as a combined key) and private
// key.
// A plain value, safe for concurrent use while no goroutine changes it.
type Key struct {
	DNSKEY *dns.DNSKEY
	priv   crypto.Signer // nil for a key of an algorithm that cannot sign (junk)
}

// NewKey makes a key for zone: dns.RSASHA256 (2048 bits),
// dns.ECDSAP256SHA256, dns.ED25519 or dns.ED448 (RFC 8080). Any other algorithm (dns.RSAMD5,
// a private one) gives a key whose public part is random bytes and whose
// signatures are junk: a zone "signed" with an algorithm the validator
// does not implement.
func NewKey(zone string, alg uint8) (*Key, error) { return NewKeySize(zone, alg, 0) }

// NewKeySize is NewKey with the key's size in bits: for RSA (dns.RSASHA1,
// dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512) 1024-4096, zero
// meaning 2048; ignored for ECDSA
// (dns.ECDSAP256SHA256, dns.ECDSAP384SHA384), dns.ED25519 and dns.ED448. A caller
// may change the DNSKEY's flags before the key is used (256 for a zone
// signing key, dns.REVOKE for a revoked one, RFC 5011 §7): its key tag
// follows.
func NewKeySize(zone string, alg uint8, rsaBits int) (*Key, error) {
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: dns.CanonicalName(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: alg}
	bits := 0
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512:
		bits = 2048
		if rsaBits != 0 {
			bits = rsaBits
		}
	case dns.ECDSAP256SHA256:
		bits = 256
	case dns.ECDSAP384SHA384:
		bits = 384
	case dns.ED25519:
		bits = 256
	case dns.ED448:
		priv, err := newEd448Key(k)
		if err != nil {
			return nil, fmt.Errorf("resolvertest: key for %s: %w", zone, err)
		}
		return &Key{DNSKEY: k, priv: priv}, nil
	default:
		junk := make([]byte, 64)
		rand.Read(junk)
		k.PublicKey = base64.StdEncoding.EncodeToString(junk)
		return &Key{DNSKEY: k}, nil
	}
	priv, err := k.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("resolvertest: key for %s: %w", zone, err)
	}
	return &Key{DNSKEY: k, priv: priv.(crypto.Signer)}, nil
}

// DS returns the DS record (SHA-256) a parent publishes for the key.
func (k *Key) DS() *dns.DS { return k.DNSKEY.ToDS(dns.SHA256) }

// collidingKey returns a junk key of k's algorithm and key tag (KeyTrap,
// CVE-2023-50387): the key tag is a checksum, so two bytes of random
// public key are chosen to hit it.
func collidingKey(k *dns.DNSKEY) *dns.DNSKEY {
	junk := make([]byte, junkKeySize(k.Algorithm))
	rand.Read(junk)
	// RFC 4034 Appendix B: the tag sums the RDATA as 16-bit words and
	// folds the carry; bytes p and p+1 of the key are one word (the
	// RDATA has 4 bytes before the key).
	p := len(junk) - 2
	if p%2 != 0 {
		p = 0
	}
	junk[p], junk[p+1] = 0, 0
	rdata := append([]byte{byte(k.Flags >> 8), byte(k.Flags), k.Protocol, k.Algorithm}, junk...)
	var ac0 uint32
	for i, b := range rdata {
		if i&1 == 0 {
			ac0 += uint32(b) << 8
		} else {
			ac0 += uint32(b)
		}
	}
	want := uint32(k.KeyTag())
	for x := uint32(0); x < 1<<16; x++ {
		ac := ac0 + x
		if (ac+(ac>>16))&0xFFFF == want {
			junk[p], junk[p+1] = byte(x>>8), byte(x)
			break
		}
	}
	c := *k
	c.PublicKey = base64.StdEncoding.EncodeToString(junk)
	return &c
}

// Signing says how SignZone signs a zone, and what it breaks on purpose.
// The zero value signs with a new ECDSA P-256 key and NSEC, valid from an
// hour ago for 30 days.
// A plain value, safe for concurrent use while no goroutine changes it.
type Signing struct {
	Key *Key // nil: NewKey(origin, Algorithm)
	// Algorithm for a new key. Zero means dns.ECDSAP256SHA256.
	Algorithm uint8
	// NSEC3 denies with NSEC3 (RFC 5155), SHA-1, Iterations and Salt
	// (hex); OptOut leaves unsigned delegations out of the chain and
	// sets the opt-out flag.
	NSEC3      bool
	OptOut     bool
	Iterations uint16
	Salt       string
	// Inception and Expiration bound every signature. Zero means an hour
	// before SignZone and 30 days after it.
	Inception, Expiration time.Time
	// NoDenial leaves every NSEC and NSEC3 proof out of the answers:
	// negative answers, wildcard expansions and unsigned delegations
	// come without proof.
	NoDenial bool
	// KeyTrap adds this many junk DNSKEYs sharing the key's tag (the
	// DNSKEY RRset still validly signed), and replaces every other
	// signature by this many junk ones with that tag: a zone that makes a
	// validator without limits try KeyTrap² checks per RRset.
	KeyTrap int
	// ZSK, if set, is published beside Key and signs every RRset but the
	// DNSKEY RRset, which Key signs (a KSK/ZSK split, RFC 6781 §3.1);
	// give it flags 256. Nil signs everything with Key.
	ZSK *Key
	// KeysSignedByZSK signs the DNSKEY RRset with ZSK only: no key the
	// parent's DS names signs it (RFC 4035 §5.2 requires one).
	KeysSignedByZSK bool
	// ExtraKeys are published in the DNSKEY RRset and sign nothing (a
	// large key set, keys of a rollover).
	ExtraKeys []*Key
	// LabelsDelta gives owners (canonical names) whose RRSIGs carry a
	// wrong Labels field (RFC 4035 §5.3.1): a negative delta d signs the
	// RRset as the expansion of the wildcard d labels up (a valid
	// signature that claims a wildcard that does not exist); a positive
	// one raises the field after signing, above the owner's count.
	LabelsDelta map[string]int
}

// SignedZone is a zone signed at test time: its records, DNSKEY, RRSIGs
// and NSEC or NSEC3 chain. It is immutable and safe for concurrent use.
type SignedZone struct {
	origin string
	s      Signing
	key    *Key
	zone   *authority.Zone
	text   string
	recs   map[string][]dns.RR // owner -> records (DNSKEY included)
	cuts   map[string]bool
	sigs   map[string][]dns.RR // owner/type -> RRSIGs
	nsec   []*dns.NSEC         // canonical order
	nsec3  []*dns.NSEC3        // hash order
}

// SignZone parses text (zone-file format, RFC 1035 §5) for origin, adds
// a DNSKEY and signs it as s says. Give the parent the key's DS
// (SignedZone.Key().DS()) in its own text to make the delegation secure.
func SignZone(origin, text string, s Signing) (*SignedZone, error) {
	origin = dns.CanonicalName(origin)
	if s.Algorithm == 0 {
		s.Algorithm = dns.ECDSAP256SHA256
	}
	if s.Inception.IsZero() {
		s.Inception = time.Now().Add(-time.Hour)
	}
	if s.Expiration.IsZero() {
		s.Expiration = time.Now().Add(30 * 24 * time.Hour)
	}
	key := s.Key
	if key == nil {
		var err error
		if key, err = NewKey(origin, s.Algorithm); err != nil {
			return nil, err
		}
	}
	z := &SignedZone{origin: origin, s: s, key: key, recs: map[string][]dns.RR{}, cuts: map[string]bool{}, sigs: map[string][]dns.RR{}}
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\n" + key.DNSKEY.String() + "\n")
	if s.ZSK != nil {
		b.WriteString(s.ZSK.DNSKEY.String() + "\n")
	}
	for _, k := range s.ExtraKeys {
		b.WriteString(k.DNSKEY.String() + "\n")
	}
	for range s.KeyTrap {
		b.WriteString(collidingKey(key.DNSKEY).String() + "\n")
	}
	z.text = b.String()
	zp := dns.NewZoneParser(strings.NewReader(z.text), origin, origin)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := dns.CanonicalName(rr.Header().Name)
		rr.Header().Name = name
		z.recs[name] = append(z.recs[name], rr)
		if rr.Header().Rrtype == dns.TypeNS && name != origin {
			z.cuts[name] = true
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("resolvertest: %s: %w", origin, err)
	}
	zone, err := authority.ParseZone(strings.NewReader(z.text), origin, origin)
	if err != nil {
		return nil, err
	}
	z.zone = zone
	if err := z.sign(); err != nil {
		return nil, err
	}
	return z, nil
}

// Origin returns the zone's apex.
func (z *SignedZone) Origin() string { return z.origin }

// Key returns the zone's signing key.
func (z *SignedZone) Key() *Key { return z.key }

// DS returns the DS record of the zone's key, for the parent's text.
func (z *SignedZone) DS() string { return z.key.DS().String() }

// Text returns the zone's text with its DNSKEY records (no signatures).
func (z *SignedZone) Text() string { return z.text }

// occluded reports whether name lies below a delegation (glue), or is
// a delegation whose records other than DS the parent does not sign.
func (z *SignedZone) belowCut(name string) bool {
	for n := dnsproto.Parent(name); n != z.origin && dnsproto.IsSubName(z.origin, n); n = dnsproto.Parent(n) {
		if z.cuts[n] {
			return true
		}
	}
	return false
}

func sigKey(owner string, t uint16) string { return owner + "/" + dns.TypeToString[t] }

func (z *SignedZone) signSet(set []dns.RR) error {
	h := set[0].Header()
	signer := z.key
	if zsk := z.s.ZSK; zsk != nil && (h.Rrtype != dns.TypeDNSKEY || z.s.KeysSignedByZSK) {
		signer = zsk
	}
	k := signer.DNSKEY
	var sigs []dns.RR
	mk := func() *dns.RRSIG {
		return &dns.RRSIG{Hdr: dns.RR_Header{Ttl: h.Ttl}, Algorithm: k.Algorithm, KeyTag: k.KeyTag(), SignerName: z.origin,
			Inception: uint32(z.s.Inception.Unix()), Expiration: uint32(z.s.Expiration.Unix())}
	}
	junk := func(sig *dns.RRSIG) {
		sig.Hdr.Rrtype, sig.Hdr.Name, sig.Hdr.Class = dns.TypeRRSIG, h.Name, h.Class
		sig.TypeCovered, sig.OrigTtl = h.Rrtype, h.Ttl
		sig.Labels = uint8(dns.CountLabel(h.Name))
		if strings.HasPrefix(h.Name, "*.") {
			sig.Labels--
		}
		b := make([]byte, junkSigSize(k.Algorithm))
		rand.Read(b)
		sig.Signature = base64.StdEncoding.EncodeToString(b)
	}
	switch {
	case z.s.KeyTrap > 0 && h.Rrtype != dns.TypeDNSKEY:
		for range z.s.KeyTrap {
			sig := mk()
			junk(sig)
			sigs = append(sigs, sig)
		}
	case signer.priv == nil:
		sig := mk()
		junk(sig)
		sigs = append(sigs, sig)
	default:
		sig := mk()
		d := z.s.LabelsDelta[dns.CanonicalName(h.Name)]
		signed := set
		if d < 0 {
			labels := dns.SplitDomainName(h.Name)
			wild := "*." + strings.Join(labels[min(len(labels), -d):], ".") + "."
			signed = nil
			for _, rr := range set {
				c := dns.Copy(rr)
				c.Header().Name = wild
				signed = append(signed, c)
			}
		}
		sign := sig.Sign
		if k.Algorithm == dns.ED448 {
			sign = func(priv crypto.Signer, rrset []dns.RR) error { return signEd448(sig, priv, rrset) }
		}
		if err := sign(signer.priv, signed); err != nil {
			return fmt.Errorf("resolvertest: signing %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
		sig.Hdr.Name = h.Name
		if d > 0 {
			sig.Labels += uint8(d)
		}
		sigs = append(sigs, sig)
	}
	z.sigs[sigKey(dns.CanonicalName(h.Name), h.Rrtype)] = sigs
	return nil
}

func (z *SignedZone) sign() error {
	names := slices.Collect(func(yield func(string) bool) {
		for n := range z.recs {
			if !yield(n) {
				return
			}
		}
	})
	slices.SortFunc(names, dnsproto.CanonicalCompare)
	var chain []string // names with an NSEC
	for _, name := range names {
		if z.belowCut(name) {
			continue
		}
		chain = append(chain, name)
		byType := map[uint16][]dns.RR{}
		var types []uint16
		for _, rr := range z.recs[name] {
			t := rr.Header().Rrtype
			if byType[t] == nil {
				types = append(types, t)
			}
			byType[t] = append(byType[t], rr)
		}
		for _, t := range types {
			if z.cuts[name] && t != dns.TypeDS {
				continue // the child's data: only DS is the parent's to sign
			}
			if err := z.signSet(byType[t]); err != nil {
				return err
			}
		}
	}
	if z.s.NSEC3 {
		return z.buildNSEC3(chain)
	}
	for i, name := range chain {
		next := chain[(i+1)%len(chain)]
		n := &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: z.negTTL()}, NextDomain: next, TypeBitMap: z.bitmap(name)}
		z.nsec = append(z.nsec, n)
		if err := z.signSet([]dns.RR{n}); err != nil {
			return err
		}
	}
	return nil
}

func (z *SignedZone) negTTL() uint32 {
	for _, rr := range z.recs[z.origin] {
		if s, ok := rr.(*dns.SOA); ok {
			return min(s.Hdr.Ttl, s.Minttl)
		}
	}
	return 300
}

// bitmap lists the types at name, with RRSIG and NSEC (or none for an
// empty non-terminal under NSEC3).
func (z *SignedZone) bitmap(name string) []uint16 {
	var types []uint16
	for _, rr := range z.recs[name] {
		if t := rr.Header().Rrtype; !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil
	}
	signed := !z.cuts[name] || slices.Contains(types, dns.TypeDS)
	if signed || !z.s.NSEC3 {
		types = append(types, dns.TypeRRSIG)
	}
	if !z.s.NSEC3 {
		types = append(types, dns.TypeNSEC)
	}
	slices.Sort(types)
	return types
}

func (z *SignedZone) hash(name string) string {
	return dns.HashName(name, dns.SHA1, z.s.Iterations, z.s.Salt)
}

func (z *SignedZone) buildNSEC3(chain []string) error {
	// NSEC3 covers empty non-terminals too (RFC 5155 §7.1); opt-out
	// leaves out delegations without DS.
	set := map[string]bool{}
	for _, name := range chain {
		if z.s.OptOut && z.cuts[name] && !slices.ContainsFunc(z.recs[name], func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeDS }) {
			continue
		}
		set[name] = true
		for n := dnsproto.Parent(name); n != z.origin && dnsproto.IsSubName(z.origin, n); n = dnsproto.Parent(n) {
			set[n] = true
		}
	}
	type hn struct{ hash, name string }
	var hs []hn
	for n := range set {
		hs = append(hs, hn{z.hash(n), n})
	}
	slices.SortFunc(hs, func(a, b hn) int { return strings.Compare(a.hash, b.hash) })
	var flags uint8
	if z.s.OptOut {
		flags = 1
	}
	for i, h := range hs {
		n := &dns.NSEC3{Hdr: dns.RR_Header{Name: strings.ToLower(h.hash) + "." + z.origin, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: z.negTTL()},
			Hash: dns.SHA1, Flags: flags, Iterations: z.s.Iterations, Salt: z.s.Salt, SaltLength: uint8(len(z.s.Salt) / 2),
			HashLength: 20, NextDomain: hs[(i+1)%len(hs)].hash, TypeBitMap: z.bitmap(h.name)}
		z.nsec3 = append(z.nsec3, n)
		if err := z.signSet([]dns.RR{n}); err != nil {
			return err
		}
	}
	return nil
}
