package dnssec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/miekg/dns"
)

// errEd448 is why an Ed448 signature does not verify; the validator
// only reports that it did not (bogus), never this error.
var errEd448 = errors.New("dnssec: Ed448 signature does not verify")

// verifySig verifies sig over rrset with key k: miekg/dns for every
// algorithm it implements, and Ed448 (RFC 8080) here, which neither
// miekg/dns nor the standard library has.
func verifySig(sig *dns.RRSIG, k *dns.DNSKEY, rrset []dns.RR) error {
	if sig.Algorithm == dns.ED448 {
		return verifyEd448(sig, k, rrset)
	}
	return sig.Verify(k, rrset)
}

// verifyEd448 is RRSIG.Verify for Ed448 (RFC 8080 §4, pure Ed448 of RFC
// 8032 §5.2 with an empty context): the same checks of key, signature
// and RRset as miekg/dns makes for the other algorithms, then the
// signature over SignedData. A public key of other than 57 bytes or a
// signature of other than 114 fails.
func verifyEd448(sig *dns.RRSIG, k *dns.DNSKEY, rrset []dns.RR) error {
	if sig.Algorithm != dns.ED448 || !sigFits(sig, k, rrset) {
		return errEd448
	}
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(pub) != ed448.PublicKeySize {
		return errEd448
	}
	s, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil || len(s) != ed448.SignatureSize {
		return errEd448
	}
	data, err := SignedData(sig, rrset)
	if err != nil {
		return err
	}
	if !ed448.Verify(ed448.PublicKey(pub), data, s, "") {
		return errEd448
	}
	return nil
}

// sigFits makes the checks RRSIG.Verify of miekg/dns makes before the
// cryptography: rrset is an RRset (one owner, type and class) of the
// owner, type and class sig covers, within the signer's zone, with no
// fewer labels than sig claims (RFC 4035 §5.3.1); k is a zone key
// (protocol 3) of the signer, of sig's algorithm, key tag and class.
func sigFits(sig *dns.RRSIG, k *dns.DNSKEY, rrset []dns.RR) bool {
	if sig.Algorithm != k.Algorithm || !dns.IsRRset(rrset) || sig.KeyTag != k.KeyTag() || sig.Hdr.Class != k.Hdr.Class ||
		k.Protocol != 3 || k.Flags&dns.ZONE == 0 {
		return false
	}
	signer := dns.CanonicalName(sig.SignerName)
	if signer != dns.CanonicalName(k.Hdr.Name) {
		return false
	}
	h := rrset[0].Header()
	return h.Class == sig.Hdr.Class && h.Rrtype == sig.TypeCovered && dns.CountLabel(h.Name) >= int(sig.Labels) &&
		strings.EqualFold(h.Name, sig.Hdr.Name) && strings.HasSuffix(dns.CanonicalName(h.Name), signer)
}

// SignedData returns the data an RRSIG signs (RFC 4034 §3.1.8.1, RFC
// 4035 §5.3.2): the RRSIG RDATA without its Signature field, the
// signer's name in canonical form, followed by the RRset in canonical
// form (RFC 4034 §6.2) and order (§6.3), duplicates removed. Each
// record's owner is lowercased, or for a wildcard expansion (sig.Labels
// below the owner's label count) replaced by "*." and the rightmost
// sig.Labels labels; its TTL is sig.OrigTtl; the domain names in the
// RDATA of the types RFC 4034 §6.2 lists, as RFC 6840 §5.1 corrects it
// (NSEC and HINFO not), are lowercased. Only ASCII letters are
// lowercased (RFC 4343 §3), escaped ones too.
//
// It does not check that rrset is an RRset covered by sig: that is the
// caller's. It is safe for concurrent use and does not change its
// arguments.
func SignedData(sig *dns.RRSIG, rrset []dns.RR) ([]byte, error) {
	if sig == nil || len(rrset) == 0 {
		return nil, errors.New("dnssec: signed data: no RRSIG or empty RRset")
	}
	buf := make([]byte, 18, 18+256+len(rrset)*64)
	buf[0], buf[1] = byte(sig.TypeCovered>>8), byte(sig.TypeCovered)
	buf[2], buf[3] = sig.Algorithm, sig.Labels
	putUint32(buf[4:], sig.OrigTtl)
	putUint32(buf[8:], sig.Expiration)
	putUint32(buf[12:], sig.Inception)
	buf[16], buf[17] = byte(sig.KeyTag>>8), byte(sig.KeyTag)
	buf, err := appendCanonicalName(buf, sig.SignerName)
	if err != nil {
		return nil, fmt.Errorf("dnssec: signed data: signer name: %w", err)
	}
	type wireRR struct {
		wire  []byte
		rdata int // offset of the RDATA in wire
	}
	wires := make([]wireRR, 0, len(rrset))
	for _, rr := range rrset {
		if rr == nil {
			return nil, errors.New("dnssec: signed data: nil record")
		}
		c := dns.Copy(rr)
		h := c.Header()
		owner := h.Name
		if labels := dns.SplitDomainName(owner); len(labels) > int(sig.Labels) {
			// RFC 4035 §5.3.2: the wildcard the record was expanded from.
			owner = "*." + strings.Join(labels[len(labels)-int(sig.Labels):], ".") + "."
			if sig.Labels == 0 {
				owner = "*."
			}
		}
		if h.Name, err = canonicalName(owner); err != nil {
			return nil, fmt.Errorf("dnssec: signed data: owner: %w", err)
		}
		h.Ttl = sig.OrigTtl
		if err := lowerRdataNames(c); err != nil {
			return nil, fmt.Errorf("dnssec: signed data: %s RDATA: %w", dns.TypeToString[h.Rrtype], err)
		}
		w := make([]byte, dns.Len(c)+256)
		off, err := dns.PackRR(c, w, 0, nil, false)
		if err != nil {
			return nil, fmt.Errorf("dnssec: signed data: packing %s: %w", dns.TypeToString[h.Rrtype], err)
		}
		w = w[:off]
		// The owner is uncompressed and the fixed fields are 10 bytes.
		_, n, err := dns.UnpackDomainName(w, 0)
		if err != nil || n+10 > len(w) {
			return nil, fmt.Errorf("dnssec: signed data: packed %s unreadable", dns.TypeToString[h.Rrtype])
		}
		wires = append(wires, wireRR{w, n + 10})
	}
	// RFC 4034 §6.3: by RDATA as left-justified octet strings.
	slices.SortStableFunc(wires, func(a, b wireRR) int { return bytes.Compare(a.wire[a.rdata:], b.wire[b.rdata:]) })
	for i, w := range wires {
		if i > 0 && bytes.Equal(w.wire, wires[i-1].wire) {
			continue // RFC 4034 §6.3: duplicates removed
		}
		buf = append(buf, w.wire...)
	}
	return buf, nil
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// appendCanonicalName appends name in canonical wire form:
// uncompressed, ASCII letters lowercased (RFC 4034 §6.2).
func appendCanonicalName(buf []byte, name string) ([]byte, error) {
	var w [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), w[:], 0, nil, false)
	if err != nil {
		return nil, err
	}
	lowerWireName(w[:n])
	return append(buf, w[:n]...), nil
}

// lowerWireName lowercases the ASCII letters of the labels of an
// uncompressed wire-form name, leaving the length octets alone.
func lowerWireName(w []byte) {
	for i := 0; i < len(w) && w[i] != 0; i += int(w[i]) + 1 {
		for j := i + 1; j <= i+int(w[i]) && j < len(w); j++ {
			if c := w[j]; 'A' <= c && c <= 'Z' {
				w[j] = c + 'a' - 'A'
			}
		}
	}
}

// canonicalName returns name (presentation form) with its ASCII letters
// lowercased, escaped ones (\065) included.
func canonicalName(name string) (string, error) {
	if !strings.Contains(name, `\`) {
		b := []byte(dns.Fqdn(name))
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b), nil
	}
	w, err := appendCanonicalName(nil, name)
	if err != nil {
		return "", err
	}
	s, _, err := dns.UnpackDomainName(w, 0)
	return s, err
}

// lowerRdataNames lowercases the domain names in the RDATA of rr, a copy,
// for the types of RFC 4034 §6.2 item 3 as RFC 6840 §5.1 corrects the
// list: not NSEC (nor HINFO, which holds no name), RRSIG included. NXT
// and A6 are not types miekg/dns parses into fields.
func lowerRdataNames(rr dns.RR) error {
	var names []*string
	switch x := rr.(type) {
	case *dns.NS:
		names = []*string{&x.Ns}
	case *dns.MD:
		names = []*string{&x.Md}
	case *dns.MF:
		names = []*string{&x.Mf}
	case *dns.CNAME:
		names = []*string{&x.Target}
	case *dns.SOA:
		names = []*string{&x.Ns, &x.Mbox}
	case *dns.MB:
		names = []*string{&x.Mb}
	case *dns.MG:
		names = []*string{&x.Mg}
	case *dns.MR:
		names = []*string{&x.Mr}
	case *dns.PTR:
		names = []*string{&x.Ptr}
	case *dns.MINFO:
		names = []*string{&x.Rmail, &x.Email}
	case *dns.MX:
		names = []*string{&x.Mx}
	case *dns.RP:
		names = []*string{&x.Mbox, &x.Txt}
	case *dns.AFSDB:
		names = []*string{&x.Hostname}
	case *dns.RT:
		names = []*string{&x.Host}
	case *dns.SIG:
		names = []*string{&x.SignerName}
	case *dns.PX:
		names = []*string{&x.Map822, &x.Mapx400}
	case *dns.NAPTR:
		names = []*string{&x.Replacement}
	case *dns.KX:
		names = []*string{&x.Exchanger}
	case *dns.SRV:
		names = []*string{&x.Target}
	case *dns.DNAME:
		names = []*string{&x.Target}
	case *dns.RRSIG:
		names = []*string{&x.SignerName}
	}
	for _, p := range names {
		s, err := canonicalName(*p)
		if err != nil {
			return err
		}
		*p = s
	}
	return nil
}
