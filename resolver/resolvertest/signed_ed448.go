package resolvertest

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/miekg/dns"
)

// newEd448Key fills k (algorithm dns.ED448) with a new Ed448 key (RFC
// 8080 §3: the 57-byte public key in the DNSKEY) and returns its private
// part. miekg/dns cannot make one.
func newEd448Key(k *dns.DNSKEY) (crypto.Signer, error) {
	pub, priv, err := ed448.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k.PublicKey = base64.StdEncoding.EncodeToString(pub)
	return priv, nil
}

// signEd448 is RRSIG.Sign for Ed448 (RFC 8080 §4: pure Ed448, empty
// context), which miekg/dns lacks: it fills sig's header, type covered
// and labels as RRSIG.Sign does and signs the data the validator checks
// (dnssec.SignedData).
func signEd448(sig *dns.RRSIG, priv crypto.Signer, rrset []dns.RR) error {
	h0 := rrset[0].Header()
	sig.Hdr.Rrtype, sig.Hdr.Name, sig.Hdr.Class = dns.TypeRRSIG, h0.Name, h0.Class
	if sig.OrigTtl == 0 {
		sig.OrigTtl = h0.Ttl
	}
	sig.TypeCovered = h0.Rrtype
	sig.Labels = uint8(dns.CountLabel(h0.Name))
	if strings.HasPrefix(h0.Name, "*") {
		sig.Labels--
	}
	data, err := dnssec.SignedData(sig, rrset)
	if err != nil {
		return err
	}
	s, err := priv.Sign(rand.Reader, data, crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("resolvertest: Ed448: %w", err)
	}
	sig.Signature = base64.StdEncoding.EncodeToString(s)
	return nil
}

// junkKeySize and junkSigSize are the sizes of a junk public key and
// signature of algorithm alg: 64 bytes, or Ed448's own (RFC 8080 §3, §4:
// 57 and 114), so that a validator gets as far as the cryptography.
func junkKeySize(alg uint8) int {
	if alg == dns.ED448 {
		return ed448.PublicKeySize
	}
	return 64
}

func junkSigSize(alg uint8) int {
	if alg == dns.ED448 {
		return ed448.SignatureSize
	}
	return 64
}
