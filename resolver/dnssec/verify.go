package dnssec

import (
	"slices"
	"strings"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// algorithmSupported reports whether signatures of algorithm alg are
// validated (RFC 8624 §3.1: MUST and RECOMMENDED for validation). RSAMD5,
// DSA, ECC-GOST and everything unknown are not: data signed only with
// them is insecure (RFC 4035 §5.2, RFC 6840 §5.2). ED448 (MAY, RFC
// 8080) is verified in ed448.go; the rest by miekg/dns.
func algorithmSupported(alg uint8) bool {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
		dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519, dns.ED448:
		return true
	}
	return false
}

// digestSupported reports whether DS digests of type t are checked (RFC
// 8624 §3.3: SHA-1, SHA-256 and SHA-384; GOST is not).
func digestSupported(t uint8) bool {
	return t == dns.SHA1 || t == dns.SHA256 || t == dns.SHA384
}

// listsType reports whether a type bitmap of an NSEC or NSEC3 says its
// owner has records of type t. For ANY (RFC 1035 §3.2.3), any type at
// all: no bitmap of a name holding records proves a NODATA for ANY
// (RFC 4035 §3.1.3.1, RFC 5155 §8.5).
func listsType(bitmap []uint16, t uint16) bool {
	if t == dns.TypeANY {
		return len(bitmap) > 0
	}
	return slices.Contains(bitmap, t)
}

// budget is one validation's allowance of expensive work, and what it
// has spent.
type budget struct {
	cfg  *Config
	work Work
}

func (b *budget) verify() bool {
	if b.work.Verifications >= b.cfg.MaxVerifications {
		return false
	}
	b.work.Verifications++
	return true
}

func (b *budget) hash() bool {
	if b.work.Hashes >= b.cfg.MaxNSEC3Hashes {
		return false
	}
	b.work.Hashes++
	return true
}

// usableKey reports whether k may verify RRSIGs: a zone key (RFC 4034
// §2.1.1), protocol 3, not revoked (RFC 5011 §7), of a supported
// algorithm.
func usableKey(k *dns.DNSKEY) bool {
	return k.Flags&dns.ZONE != 0 && k.Flags&dns.REVOKE == 0 && k.Protocol == 3 && algorithmSupported(k.Algorithm)
}

// verifyRRset checks rrset against the signatures in sigs made by zone
// with one of keys, at now (RFC 4035 §5.3). It tries at most
// MaxSignaturesPerRRset signatures and, for each, MaxKeysPerTag keys of
// its key tag. On success it returns the signature that verified.
func verifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, zone string, keys []*dns.DNSKEY, now time.Time, b *budget) (*dns.RRSIG, Result) {
	if len(rrset) == 0 {
		return nil, bogus(dns.ExtendedErrorCodeDNSBogus, "empty RRset")
	}
	h := rrset[0].Header()
	owner := dns.CanonicalName(h.Name)
	tried := 0
	fail := bogus(dns.ExtendedErrorCodeRRSIGsMissing, "no signature for "+owner+" "+dns.TypeToString[h.Rrtype])
	for _, sig := range sigs {
		if sig.TypeCovered != h.Rrtype || dns.CanonicalName(sig.Hdr.Name) != owner || dns.CanonicalName(sig.SignerName) != zone ||
			!dnsproto.IsSubName(zone, owner) {
			continue
		}
		if int(sig.Labels) > dns.CountLabel(owner) {
			// RFC 4035 §5.3.1: invalid, though there (not missing).
			if fail.EDE == dns.ExtendedErrorCodeRRSIGsMissing {
				fail = bogus(dns.ExtendedErrorCodeDNSBogus, "RRSIG on "+owner+" "+dns.TypeToString[h.Rrtype]+" has more labels than its owner")
			}
			continue
		}
		if tried >= b.cfg.MaxSignaturesPerRRset {
			fail = bogus(dns.ExtendedErrorCodeDNSBogus, "too many signatures for "+owner+" "+dns.TypeToString[h.Rrtype])
			break
		}
		tried++
		if !algorithmSupported(sig.Algorithm) {
			continue
		}
		if !sig.ValidityPeriod(now) {
			if now.Unix() < int64(sig.Inception) && fail.EDE == dns.ExtendedErrorCodeRRSIGsMissing {
				fail = bogus(dns.ExtendedErrorCodeSignatureNotYetValid, "signature on "+owner+" "+dns.TypeToString[h.Rrtype]+" not yet valid")
			} else if fail.EDE == dns.ExtendedErrorCodeRRSIGsMissing || fail.EDE == dns.ExtendedErrorCodeSignatureNotYetValid {
				fail = bogus(dns.ExtendedErrorCodeSignatureExpired, "signature on "+owner+" "+dns.TypeToString[h.Rrtype]+" expired")
			}
			continue
		}
		n := 0
		for _, k := range keys {
			if k.Algorithm != sig.Algorithm || !usableKey(k) || k.KeyTag() != sig.KeyTag {
				continue
			}
			if n >= b.cfg.MaxKeysPerTag {
				break
			}
			n++
			if !b.verify() {
				return nil, bogus(dns.ExtendedErrorCodeDNSBogus, "validation work limit reached (KeyTrap)")
			}
			if verifySig(sig, k, rrset) == nil {
				return sig, Result{Status: Secure}
			}
			fail = bogus(dns.ExtendedErrorCodeDNSBogus, "signature on "+owner+" "+dns.TypeToString[h.Rrtype]+" does not verify")
		}
		if n == 0 && (fail.EDE == dns.ExtendedErrorCodeRRSIGsMissing) {
			fail = bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY of "+zone+" matches the signature on "+owner+" "+dns.TypeToString[h.Rrtype])
		}
	}
	return nil, fail
}

// sigsFor returns the RRSIGs in rrs covering owner/t.
func sigsFor(rrs []dns.RR, owner string, t uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t && strings.EqualFold(s.Hdr.Name, owner) {
			out = append(out, s)
		}
	}
	return out
}

// rrsetOf returns the records of rrs with owner and type t.
func rrsetOf(rrs []dns.RR, owner string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == t && strings.EqualFold(h.Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// dnskeys returns the DNSKEY records of rrs.
func dnskeys(rrs []dns.RR) []*dns.DNSKEY {
	var out []*dns.DNSKEY
	for _, rr := range rrs {
		if k, ok := rr.(*dns.DNSKEY); ok {
			out = append(out, k)
		}
	}
	return out
}

// usableDS returns the DS records the validator can check: supported
// algorithm and digest type (RFC 4035 §5.2, RFC 6840 §5.2). When none is
// usable the child is insecure; the EDE says why.
func usableDS(dsSet []*dns.DS) ([]*dns.DS, Result) {
	var out []*dns.DS
	alg, dig := false, false
	for _, ds := range dsSet {
		a, d := algorithmSupported(ds.Algorithm), digestSupported(ds.DigestType)
		alg, dig = alg || a, dig || d
		if a && d {
			out = append(out, ds)
		}
	}
	if len(out) > 0 {
		return out, Result{Status: Secure}
	}
	if !alg {
		return nil, insecure(dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, "DS algorithms not supported")
	}
	return nil, insecure(dns.ExtendedErrorCodeUnsupportedDSDigestType, "DS digest types not supported")
}

// matchDS validates a zone's DNSKEY RRset (keySet, with its signatures)
// against the DS records of its parent (RFC 4035 §5.2): a key whose
// digest a usable DS gives must sign the set. Anchors given as DNSKEY
// records (trusted) stand in for DS. It returns the zone's keys, with the
// signature that verified the set.
func matchDS(zone string, dsSet []*dns.DS, trusted []*dns.DNSKEY, keySet []dns.RR, sigs []*dns.RRSIG, now time.Time, b *budget) ([]*dns.DNSKEY, *dns.RRSIG, Result) {
	keys := dnskeys(keySet)
	if len(keys) == 0 {
		return nil, nil, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY for "+zone)
	}
	var candidates []*dns.DNSKEY
	if len(trusted) > 0 {
		for _, t := range trusted {
			if !usableKey(t) {
				continue
			}
			for _, k := range keys {
				if k.Algorithm == t.Algorithm && k.Flags == t.Flags && k.PublicKey == t.PublicKey {
					candidates = append(candidates, k)
				}
			}
		}
		if len(candidates) == 0 && !anyUsable(trusted) {
			return nil, nil, insecure(dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, "trust anchor algorithms not supported")
		}
	} else {
		usable, res := usableDS(dsSet)
		if res.Status != Secure {
			return nil, nil, res
		}
		if len(usable) > b.cfg.MaxSignaturesPerRRset {
			usable = usable[:b.cfg.MaxSignaturesPerRRset]
		}
		for _, ds := range usable {
			n := 0
			for _, k := range keys {
				if k.Algorithm != ds.Algorithm || k.KeyTag() != ds.KeyTag || !usableKey(k) {
					continue
				}
				if n >= b.cfg.MaxKeysPerTag {
					break
				}
				n++
				if d := k.ToDS(ds.DigestType); d != nil && strings.EqualFold(d.Digest, ds.Digest) && dns.CanonicalName(k.Hdr.Name) == zone {
					candidates = append(candidates, k)
				}
			}
		}
	}
	if len(candidates) == 0 {
		return nil, nil, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY of "+zone+" matches its DS")
	}
	sig, res := verifyRRset(keySet, sigs, zone, candidates, now, b)
	if res.Status != Secure {
		if res.EDE == dns.ExtendedErrorCodeDNSKEYMissing {
			// A key matches the DS but signs nothing here (RFC 4035
			// §5.2): its signature is what is missing.
			res = bogus(dns.ExtendedErrorCodeRRSIGsMissing, "no signature on the DNSKEY RRset of "+zone+" by a key its DS names")
		}
		return nil, nil, res
	}
	return keys, sig, res
}

func anyUsable(keys []*dns.DNSKEY) bool {
	for _, k := range keys {
		if usableKey(k) {
			return true
		}
	}
	return false
}
