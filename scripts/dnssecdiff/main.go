// Command dnssecdiff compares two validating resolvers' answers about a
// signed loopback hierarchy (resolvertest.NewSigned), as an external
// DNSSEC test hierarchy would: "serve -anchor FILE" serves the hierarchy
// on port 53 of 127.0.1.2 and up (a signed root on 127.0.1.2, TLDs on
// 127.0.1.3, one address per zone; apart from the 127.0.0.x hierarchies
// of scripts/signedhier and scripts/resolverdiff, which may run beside it) and writes the root's DS, the trust
// anchor to give both resolvers, to FILE; "ask A B" puts each case's
// question to the resolvers at A and B (over TCP, so that no client-side
// truncation hides an answer) and prints each pair marked same or DIFF,
// then the Extended DNS Error codes (RFC 8914) marked ede-same or
// ede-DIFF, then the counts.
//
// Compared: the rcode, the AD bit, the answer section's records (owner,
// type, rdata; TTLs zeroed, since the two caches age them apart) and,
// for a query with DO, the types the answer's RRSIGs cover. EDE codes are
// counted apart (ede-same, ede-DIFF), and so are the authority section's
// SOA, NSEC, NSEC3 and RRSIG records (auth-same, auth-DIFF) and, loosely,
// the least TTL of the answer section (within 10% or 5 s: ttl-same,
// ttl-DIFF). PORT=N serves on port N instead of 53. VERBOSE=1 prints
// every pair, not only the differences. scripts/compare-dnssec.sh runs it
// with examples/resolver and Unbound.
//
// The cases (RFC 4033-4035, 5155, 6840, 8624, 9276, 8914): chains signed
// with RSA/SHA-1 (with NSEC and, algorithm 7, NSEC3), RSA/SHA-256,
// RSA/SHA-512, ECDSA P-256 and P-384, Ed25519 and Ed448 (RFC 8080: its
// answer, NXDOMAIN, wildcard and DNSKEY), a KSK/ZSK split; DS digests
// SHA-1 and SHA-384; an Ed448 zone whose key and signatures are junk;
// signatures expired or not yet valid; a DNSKEY that does
// not match its DS and a DS naming a missing key; missing DS proven by
// NSEC, by an NSEC3 opt-out span, or not proven; NSEC and NSEC3 NXDOMAIN,
// NODATA and NODATA at an empty non-terminal; wildcard answers with and
// without their proof and a wildcard NODATA; NSEC3 with 0, 50, 151 and 500
// iterations; algorithms 253 (PRIVATEDNS), 200 and RSAMD5; DS digest
// types unknown only or mixed with a known one; CNAME chains between
// secure, insecure and bogus zones, ending in an answer, a NODATA or an
// NXDOMAIN, and data first learned through one then asked for itself; a
// name server's address asked after use; an NSEC3 opt-out NXDOMAIN; a
// DNAME; an answer without its RRSIG;
// RRSIG label counts too low and too high; a DNSKEY RRset not signed by
// the key its DS names; a TLD whose signatures expired; a revoked key alone; a zone with a DS whose
// server strips DNSSEC, one serving no DNSKEY; a DNSKEY RRset of four
// RSA-4096 keys, too large for UDP; DS, DNSKEY, RRSIG and ANY questions;
// queries with CD, with and without DO, with AD.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

const zoneText = `$TTL 3600
@ IN SOA ns h 1 7200 3600 1209600 300
@ IN NS ns
ns IN A %addr
www IN A 192.0.2.1
www IN AAAA 2001:db8::1
`

// The richer zones' extra records.
const (
	mainExtra = `txt IN TXT "hello"
*.wild IN A 192.0.2.7
a.b.ent IN A 192.0.2.8
tosecure IN CNAME www.ed25519.sec.
toinsecure IN CNAME www.insecure.sec.
tobogus IN CNAME www.expired.sec.
tolink IN CNAME link.ed25519.sec.
tonx IN CNAME nope.ed25519.sec.
towild IN CNAME x.wild.p256.sec.
d IN DNAME ed25519.sec.
nosig IN A 192.0.2.9
`
	nsec3Extra = `*.wild IN A 192.0.2.7
a.b.ent IN A 192.0.2.8
`
	insecureExtra = `tosecure IN CNAME www.p256.sec.
`
	edExtra = `link IN A 192.0.2.12
`
	optOutExtra = `sub IN NS ns.elsewhere.example.
*.w IN A 192.0.2.13
`
	labelsExtra = `less IN A 192.0.2.10
more IN A 192.0.2.11
`
)

// junkEd448 is an Ed448 key of random bytes and no private part: the
// zone's signatures are junk (resolvertest signs with no key it lacks).
func junkEd448(origin string) *resolvertest.Key {
	b := make([]byte, 57)
	rand.Read(b)
	return &resolvertest.Key{DNSKEY: &dns.DNSKEY{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ED448, PublicKey: base64.StdEncoding.EncodeToString(b)}}
}

// zone is one zone of the hierarchy.
type zone struct {
	origin string
	extra  string
	s      resolvertest.Signing
	file   func(z *resolvertest.SignedZoneFile) // sets the breakage
}

func zones() []zone {
	key := func(origin string, alg uint8, bits int, flags uint16) *resolvertest.Key {
		k, err := resolvertest.NewKeySize(origin, alg, bits)
		if err != nil {
			log.Fatal(err)
		}
		k.DNSKEY.Flags = flags
		return k
	}
	past := time.Now().Add(-30 * 24 * time.Hour)
	future := time.Now().Add(30 * 24 * time.Hour)
	zsk := key("split.sec.", dns.ECDSAP256SHA256, 0, 256)
	notSelfZSK := key("notself.sec.", dns.ECDSAP256SHA256, 0, 256)
	var bigExtra []*resolvertest.Key
	for range 3 {
		bigExtra = append(bigExtra, key("bigkeys.sec.", dns.RSASHA256, 4096, 256))
	}
	other := key("dsmissingkey.sec.", dns.ECDSAP256SHA256, 0, 257)
	unknownDigest := func(k *resolvertest.Key) *dns.DS {
		ds := k.DS()
		ds.DigestType = 200
		b := make([]byte, 32)
		rand.Read(b)
		ds.Digest = strings.ToUpper(hex.EncodeToString(b))
		return ds
	}
	dsMismatchKey := key("dsmismatch.sec.", dns.ECDSAP256SHA256, 0, 257)
	digUnk := key("digunknown.sec.", dns.ECDSAP256SHA256, 0, 257)
	digMix := key("digmixed.sec.", dns.ECDSAP256SHA256, 0, 257)
	ds384Key := key("ds384.sec.", dns.ECDSAP256SHA256, 0, 257)
	ds1Key := key("ds1.sec.", dns.ECDSAP256SHA256, 0, 257)
	return []zone{
		{origin: "rsa256.sec.", s: resolvertest.Signing{Algorithm: dns.RSASHA256}},
		{origin: "rsa512.sec.", s: resolvertest.Signing{Algorithm: dns.RSASHA512}},
		{origin: "p256.sec.", extra: mainExtra, file: func(z *resolvertest.SignedZoneFile) {
			z.Wrap = func(h dns.Handler) dns.Handler { return rewrite{h, stripSigs("nosig.p256.sec.")} }
		}},
		{origin: "p384.sec.", s: resolvertest.Signing{Algorithm: dns.ECDSAP384SHA384}},
		{origin: "rsasha1.sec.", s: resolvertest.Signing{Algorithm: dns.RSASHA1}},
		{origin: "nsec3rsasha1.sec.", s: resolvertest.Signing{Algorithm: dns.RSASHA1NSEC3SHA1, NSEC3: true}},
		{origin: "ed448.sec.", extra: nsec3Extra, s: resolvertest.Signing{Algorithm: dns.ED448}},
		{origin: "ed448junk.sec.", s: resolvertest.Signing{Key: junkEd448("ed448junk.sec.")}},
		{origin: "ds384.sec.", s: resolvertest.Signing{Key: ds384Key}, file: func(z *resolvertest.SignedZoneFile) { z.DS = ds384Key.DNSKEY.ToDS(dns.SHA384) }},
		{origin: "ds1.sec.", s: resolvertest.Signing{Key: ds1Key}, file: func(z *resolvertest.SignedZoneFile) { z.DS = ds1Key.DNSKEY.ToDS(dns.SHA1) }},
		{origin: "ed25519.sec.", extra: edExtra, s: resolvertest.Signing{Algorithm: dns.ED25519}},
		{origin: "split.sec.", s: resolvertest.Signing{ZSK: zsk}},
		{origin: "expired.sec.", s: resolvertest.Signing{Inception: past.Add(-time.Hour), Expiration: past}},
		{origin: "future.sec.", s: resolvertest.Signing{Inception: future, Expiration: future.Add(time.Hour)}},
		{origin: "dsmismatch.sec.", s: resolvertest.Signing{Key: dsMismatchKey}, file: func(z *resolvertest.SignedZoneFile) {
			ds := dsMismatchKey.DS() // the key's tag and algorithm, another digest
			b := make([]byte, 32)
			rand.Read(b)
			ds.Digest = strings.ToUpper(hex.EncodeToString(b))
			z.DS = ds
		}},
		{origin: "dsmissingkey.sec.", file: func(z *resolvertest.SignedZoneFile) { z.DS = other.DS() }},
		{origin: "insecure.sec.", extra: insecureExtra, file: func(z *resolvertest.SignedZoneFile) { z.Unsigned = true }},
		{origin: "optout.n3o.", file: func(z *resolvertest.SignedZoneFile) { z.Unsigned = true }},
		{origin: "noproof.nop.", file: func(z *resolvertest.SignedZoneFile) { z.Unsigned = true }},
		{origin: "child.exp."},
		{origin: "wildnoproof.sec.", extra: nsec3Extra, s: resolvertest.Signing{NoDenial: true}},
		{origin: "nsec3.sec.", extra: nsec3Extra, s: resolvertest.Signing{NSEC3: true}},
		{origin: "n3optout.sec.", extra: optOutExtra, s: resolvertest.Signing{NSEC3: true, OptOut: true}},
		{origin: "it50.sec.", s: resolvertest.Signing{NSEC3: true, Iterations: 50, Salt: "ab12"}},
		{origin: "it151.sec.", s: resolvertest.Signing{NSEC3: true, Iterations: 151, Salt: "ab12"}},
		{origin: "it500.sec.", s: resolvertest.Signing{NSEC3: true, Iterations: 500, Salt: "ab12"}},
		{origin: "alg253.sec.", s: resolvertest.Signing{Algorithm: dns.PRIVATEDNS}},
		{origin: "alg200.sec.", s: resolvertest.Signing{Algorithm: 200}},
		{origin: "rsamd5.sec.", s: resolvertest.Signing{Algorithm: dns.RSAMD5}},
		{origin: "digunknown.sec.", s: resolvertest.Signing{Key: digUnk}, file: func(z *resolvertest.SignedZoneFile) {
			z.DS = unknownDigest(digUnk)
		}},
		{origin: "digmixed.sec.", s: resolvertest.Signing{Key: digMix}, file: func(z *resolvertest.SignedZoneFile) {
			z.ExtraDS = []*dns.DS{unknownDigest(digMix)}
		}},
		{origin: "labels.sec.", extra: labelsExtra, s: resolvertest.Signing{LabelsDelta: map[string]int{"less.labels.sec.": -1, "more.labels.sec.": 1}}},
		{origin: "notself.sec.", s: resolvertest.Signing{ZSK: notSelfZSK, KeysSignedByZSK: true}},
		{origin: "revoked.sec.", s: resolvertest.Signing{Key: key("revoked.sec.", dns.ECDSAP256SHA256, 0, 257|dns.REVOKE)}},
		{origin: "stripped.sec.", file: func(z *resolvertest.SignedZoneFile) {
			z.Wrap = func(h dns.Handler) dns.Handler { return rewrite{h, stripDNSSEC} }
		}},
		{origin: "nokeys.sec.", file: func(z *resolvertest.SignedZoneFile) {
			z.Wrap = func(h dns.Handler) dns.Handler { return rewrite{h, noDNSKEY} }
		}},
		{origin: "bigkeys.sec.", s: resolvertest.Signing{Key: key("bigkeys.sec.", dns.RSASHA256, 4096, 257), ExtraKeys: bigExtra}},
	}
}

// rewrite serves h's answers changed by f: a server, or a path, that
// strips or loses DNSSEC records.
type rewrite struct {
	h dns.Handler
	f func(req, m *dns.Msg)
}

func (rw rewrite) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	rw.h.ServeDNS(rewriteWriter{w, req, rw.f}, req)
}

type rewriteWriter struct {
	dns.ResponseWriter
	req *dns.Msg
	f   func(req, m *dns.Msg)
}

func (w rewriteWriter) WriteMsg(m *dns.Msg) error {
	w.f(w.req, m)
	return w.ResponseWriter.WriteMsg(m)
}

// stripSigs drops the RRSIGs of owner's answers: a signed answer whose
// signature was lost on the way.
func stripSigs(owner string) func(req, m *dns.Msg) {
	return func(_, m *dns.Msg) {
		m.Answer = slices.DeleteFunc(m.Answer, func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeRRSIG && dns.CanonicalName(rr.Header().Name) == owner
		})
	}
}

// stripDNSSEC drops every RRSIG, NSEC, NSEC3 and DNSKEY record: a
// signed zone (its DS in the parent) served by a server that does not
// do DNSSEC, or a middlebox stripping it.
func stripDNSSEC(_, m *dns.Msg) {
	drop := func(rr dns.RR) bool {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDNSKEY:
			return true
		}
		return false
	}
	m.Answer = slices.DeleteFunc(m.Answer, drop)
	m.Ns = slices.DeleteFunc(m.Ns, drop)
}

// noDNSKEY answers DNSKEY questions with an empty answer: a zone whose
// keys are gone while its DS stays.
func noDNSKEY(req, m *dns.Msg) {
	if req.Question[0].Qtype == dns.TypeDNSKEY {
		m.Answer = nil
	}
}

// serve runs the hierarchy until SIGINT or SIGTERM.
func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	anchor := fs.String("anchor", "anchor.ds", "file to write the root's DS (the trust anchor) to")
	fs.Parse(args)
	port := 53 // Unbound sends referred queries to port 53 only
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			log.Fatal("PORT: ", err)
		}
		port = n
	}
	zs := zones()
	cfg := resolvertest.SignedConfig{Port: port, RootAddr: "127.0.1.2", TLDAddr: "127.0.1.3", TLDs: map[string]resolvertest.Signing{
		"n3o.": {NSEC3: true, OptOut: true},
		"nop.": {NoDenial: true},
		"exp.": {Inception: time.Now().Add(-60 * 24 * time.Hour), Expiration: time.Now().Add(-30 * 24 * time.Hour)},
	}}
	for i, z := range zs {
		addr := fmt.Sprintf("127.0.1.%d", 4+i)
		f := resolvertest.SignedZoneFile{
			ZoneFile: resolvertest.ZoneFile{Addr: addr, Origin: z.origin, Text: strings.ReplaceAll(zoneText, "%addr", addr) + z.extra},
			Signing:  z.s,
		}
		if z.file != nil {
			z.file(&f)
		}
		cfg.Zones = append(cfg.Zones, f)
	}
	h, anchors, err := resolvertest.NewSigned(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := os.WriteFile(*anchor, []byte(anchors[0].String()+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("signed hierarchy of %d zones on port %d, trust anchor in %s", len(zs), h.Port, *anchor)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

// A case is one question and its flags.
type tcase struct {
	label  string
	name   string
	qtype  uint16
	noDO   bool // without DO
	cd, ad bool // with CD, with AD
}

var cases = []tcase{
	{"RSA/SHA-256 chain", "www.rsa256.sec.", dns.TypeA, false, false, false},
	{"RSA/SHA-512 chain", "www.rsa512.sec.", dns.TypeA, false, false, false},
	{"ECDSA P-256 chain", "www.p256.sec.", dns.TypeA, false, false, false},
	{"ECDSA P-384 chain", "www.p384.sec.", dns.TypeA, false, false, false},
	{"Ed25519 chain", "www.ed25519.sec.", dns.TypeA, false, false, false},
	{"RSA/SHA-1 chain", "www.rsasha1.sec.", dns.TypeA, false, false, false},
	{"RSASHA1-NSEC3-SHA1 NXDOMAIN", "nope.nsec3rsasha1.sec.", dns.TypeA, false, false, false},
	{"Ed448 chain", "www.ed448.sec.", dns.TypeA, false, false, false},
	{"Ed448 NSEC NXDOMAIN", "nope.ed448.sec.", dns.TypeA, false, false, false},
	{"Ed448 wildcard answer", "x.wild.ed448.sec.", dns.TypeA, false, false, false},
	{"Ed448 DNSKEY", "ed448.sec.", dns.TypeDNSKEY, false, false, false},
	{"Ed448 (junk key and signatures)", "www.ed448junk.sec.", dns.TypeA, false, false, false},
	{"DS digest SHA-384", "www.ds384.sec.", dns.TypeA, false, false, false},
	{"DS digest SHA-1", "www.ds1.sec.", dns.TypeA, false, false, false},
	{"KSK/ZSK split", "www.split.sec.", dns.TypeA, false, false, false},
	{"KSK/ZSK split DNSKEY", "split.sec.", dns.TypeDNSKEY, false, false, false},
	{"expired signature", "www.expired.sec.", dns.TypeA, false, false, false},
	{"signature not yet valid", "www.future.sec.", dns.TypeA, false, false, false},
	{"DNSKEY not matching DS", "www.dsmismatch.sec.", dns.TypeA, false, false, false},
	{"DS naming a missing key", "www.dsmissingkey.sec.", dns.TypeA, false, false, false},
	{"no DS, NSEC proof (insecure)", "www.insecure.sec.", dns.TypeA, false, false, false},
	{"no DS, NSEC3 opt-out (insecure)", "www.optout.n3o.", dns.TypeA, false, false, false},
	{"no DS, no proof (bogus)", "www.noproof.nop.", dns.TypeA, false, false, false},
	{"DS question, NSEC no DS", "insecure.sec.", dns.TypeDS, false, false, false},
	{"DS question, NSEC3 opt-out", "optout.n3o.", dns.TypeDS, false, false, false},
	{"NSEC NXDOMAIN", "nope.p256.sec.", dns.TypeA, false, false, false},
	{"NSEC NXDOMAIN in a TLD", "nope.sec.", dns.TypeA, false, false, false},
	{"NSEC NODATA", "www.p256.sec.", dns.TypeTXT, false, false, false},
	{"NSEC NODATA at an empty non-terminal", "b.ent.p256.sec.", dns.TypeA, false, false, false},
	{"NSEC wildcard answer", "x.wild.p256.sec.", dns.TypeA, false, false, false},
	{"NSEC wildcard NODATA", "x.wild.p256.sec.", dns.TypeTXT, false, false, false},
	{"wildcard answer without proof", "x.wild.wildnoproof.sec.", dns.TypeA, false, false, false},
	{"NSEC3 NXDOMAIN", "nope.nsec3.sec.", dns.TypeA, false, false, false},
	{"NSEC3 NODATA", "www.nsec3.sec.", dns.TypeTXT, false, false, false},
	{"NSEC3 NODATA at an empty non-terminal", "b.ent.nsec3.sec.", dns.TypeA, false, false, false},
	{"NSEC3 wildcard answer", "x.wild.nsec3.sec.", dns.TypeA, false, false, false},
	{"NSEC3 wildcard NODATA", "x.wild.nsec3.sec.", dns.TypeTXT, false, false, false},
	{"NSEC3 0 iterations answer", "www.nsec3.sec.", dns.TypeA, false, false, false},
	{"NSEC3 50 iterations NXDOMAIN", "nope.it50.sec.", dns.TypeA, false, false, false},
	{"NSEC3 151 iterations NXDOMAIN", "nope.it151.sec.", dns.TypeA, false, false, false},
	{"NSEC3 500 iterations NXDOMAIN", "nope.it500.sec.", dns.TypeA, false, false, false},
	{"NSEC3 500 iterations NODATA", "www.it500.sec.", dns.TypeTXT, false, false, false},
	{"NSEC3 500 iterations answer", "www.it500.sec.", dns.TypeA, false, false, false},
	{"algorithm 253 (PRIVATEDNS)", "www.alg253.sec.", dns.TypeA, false, false, false},
	{"algorithm 200", "www.alg200.sec.", dns.TypeA, false, false, false},
	{"RSAMD5 only", "www.rsamd5.sec.", dns.TypeA, false, false, false},
	{"DS of unknown digest only", "www.digunknown.sec.", dns.TypeA, false, false, false},
	{"DS known + unknown digest", "www.digmixed.sec.", dns.TypeA, false, false, false},
	{"CNAME secure -> secure", "tosecure.p256.sec.", dns.TypeA, false, false, false},
	{"CNAME secure -> insecure", "toinsecure.p256.sec.", dns.TypeA, false, false, false},
	{"CNAME secure -> bogus", "tobogus.p256.sec.", dns.TypeA, false, false, false},
	{"CNAME insecure -> secure", "tosecure.insecure.sec.", dns.TypeA, false, false, false},
	{"CNAME secure -> secure NODATA", "tosecure.p256.sec.", dns.TypeTXT, false, false, false},
	{"CNAME secure -> secure NXDOMAIN", "tonx.p256.sec.", dns.TypeA, false, false, false},
	{"CNAME to a name not asked before", "tolink.p256.sec.", dns.TypeA, false, false, false},
	{"target first learned through a CNAME", "link.ed25519.sec.", dns.TypeA, false, false, false},
	{"name server address after use", "ns.p256.sec.", dns.TypeA, false, false, false},
	{"NSEC3 opt-out NXDOMAIN (insecure)", "nope.n3optout.sec.", dns.TypeA, false, false, false},
	{"NSEC3 opt-out wildcard answer", "x.w.n3optout.sec.", dns.TypeA, false, false, false},
	{"CNAME to a wildcard", "towild.p256.sec.", dns.TypeA, false, false, false},
	{"DS in parent, zone stripped of DNSSEC", "www.stripped.sec.", dns.TypeA, false, false, false},
	{"DS in parent, no DNSKEY served", "www.nokeys.sec.", dns.TypeA, false, false, false},
	{"name in mixed case", "WwW.P256.sEc.", dns.TypeAAAA, false, false, false},
	{"DNAME in a signed zone", "www.d.p256.sec.", dns.TypeA, false, false, false},
	{"DNAME question", "d.p256.sec.", dns.TypeDNAME, false, false, false},
	{"answer without RRSIG", "nosig.p256.sec.", dns.TypeA, false, false, false},
	{"RRSIG labels too low (claims wildcard)", "less.labels.sec.", dns.TypeA, false, false, false},
	{"RRSIG labels above the owner's", "more.labels.sec.", dns.TypeA, false, false, false},
	{"DNSKEY not signed by the DS key", "www.notself.sec.", dns.TypeA, false, false, false},
	{"revoked key only", "www.revoked.sec.", dns.TypeA, false, false, false},
	{"RSA-4096 key set (TC, TCP)", "www.bigkeys.sec.", dns.TypeA, false, false, false},
	{"RSA-4096 key set DNSKEY", "bigkeys.sec.", dns.TypeDNSKEY, false, false, false},
	{"DS question", "p256.sec.", dns.TypeDS, false, false, false},
	{"DNSKEY question", "p256.sec.", dns.TypeDNSKEY, false, false, false},
	{"RRSIG question", "www.p256.sec.", dns.TypeRRSIG, false, false, false},
	{"ANY question", "www.p256.sec.", dns.TypeANY, false, false, false},
	{"ANY question without DO", "www.p384.sec.", dns.TypeANY, true, false, false},
	{"below a TLD whose signatures expired", "www.child.exp.", dns.TypeA, false, false, false},
	{"CD on a secure answer", "www.ed25519.sec.", dns.TypeA, false, true, false},
	{"CD on an expired signature", "www.expired.sec.", dns.TypeA, false, true, false},
	{"CD on a DS mismatch", "www.dsmismatch.sec.", dns.TypeA, false, true, false},
	{"without DO", "www.p384.sec.", dns.TypeA, true, false, false},
	{"without DO, AD set", "www.rsa512.sec.", dns.TypeA, true, false, true},
	{"without DO, bogus", "www.future.sec.", dns.TypeA, true, false, false},
	{"without DO, NXDOMAIN", "nope.nsec3.sec.", dns.TypeA, true, false, false},
}

// answer is what is compared of a response, and apart from it its EDE
// codes and the DNSSEC records of its authority section.
type answer struct {
	summary string
	ede     string
	auth    string
	ttl     int // the least TTL of the answer section, -1 without one
}

func summarise(m *dns.Msg, do bool) answer {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ad=%v", dns.RcodeToString[m.Rcode], m.AuthenticatedData)
	var recs, sigs []string
	ttl := -1
	for _, rr := range m.Answer {
		if t := int(rr.Header().Ttl); ttl < 0 || t < ttl {
			ttl = t
		}
		if s, ok := rr.(*dns.RRSIG); ok {
			t := dns.CanonicalName(s.Hdr.Name) + "/" + dns.TypeToString[s.TypeCovered]
			if !slices.Contains(sigs, t) {
				sigs = append(sigs, t)
			}
			continue
		}
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		c.Header().Name = dns.CanonicalName(c.Header().Name)
		recs = append(recs, strings.ReplaceAll(c.String(), "\t", " "))
	}
	slices.Sort(recs)
	slices.Sort(sigs)
	fmt.Fprintf(&b, "\n    an: %s", strings.Join(recs, " | "))
	if do {
		fmt.Fprintf(&b, "\n    rrsig: %s", strings.Join(sigs, " "))
	}
	var codes []string
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				codes = append(codes, strconv.Itoa(int(e.InfoCode)))
			}
		}
	}
	slices.Sort(codes)
	// The authority section's SOA, NSEC, NSEC3 and RRSIGs (owner/type;
	// NSEC3 owners as "NSEC3" alone, RRSIGs by the type they cover).
	var auth []string
	for _, rr := range m.Ns {
		h := rr.Header()
		switch x := rr.(type) {
		case *dns.SOA:
			auth = append(auth, dns.CanonicalName(h.Name)+"/SOA")
		case *dns.NSEC:
			auth = append(auth, dns.CanonicalName(h.Name)+"/NSEC")
		case *dns.NSEC3:
			auth = append(auth, "NSEC3")
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeNSEC3 {
				auth = append(auth, "RRSIG/NSEC3")
			} else {
				auth = append(auth, dns.CanonicalName(h.Name)+"/RRSIG/"+dns.TypeToString[x.TypeCovered])
			}
		}
	}
	slices.Sort(auth)
	auth = slices.Compact(auth)
	return answer{summary: b.String(), ede: strings.Join(codes, ","), auth: strings.Join(auth, " "), ttl: ttl}
}

// ttlAlike compares the least answer TTLs loosely: the two caches age
// them apart, so within 10% or 5 s of each other.
func ttlAlike(a, b int) bool {
	if a < 0 || b < 0 {
		return a == b || a < 0 && b < 0
	}
	d := max(a, b) - min(a, b)
	return d <= 5 || d*10 <= max(a, b)
}

func flags(c tcase) string {
	var f []string
	if !c.noDO {
		f = append(f, "do")
	}
	if c.cd {
		f = append(f, "cd")
	}
	if c.ad {
		f = append(f, "ad")
	}
	return strings.Join(f, "+")
}

func ask(addrs []string) {
	cl := &dns.Client{Timeout: 10 * time.Second, Net: "tcp"}
	verbose := os.Getenv("VERBOSE") != ""
	diffs, edeDiffs, authDiffs, ttlDiffs := 0, 0, 0, 0
	var edeLines, authLines, ttlLines []string
	for _, c := range cases {
		var res []answer
		for _, a := range addrs {
			m := new(dns.Msg)
			m.SetQuestion(c.name, c.qtype)
			m.SetEdns0(1232, !c.noDO)
			m.CheckingDisabled = c.cd
			m.AuthenticatedData = c.ad
			r, _, err := cl.Exchange(m, a)
			if err != nil {
				res = append(res, answer{summary: "error " + err.Error()})
				continue
			}
			res = append(res, summarise(r, !c.noDO))
		}
		mark := "same"
		if res[0].summary != res[1].summary {
			mark = "DIFF"
			diffs++
		}
		if mark == "DIFF" || verbose {
			fmt.Printf("%s %s: %s %s %s\n  %s: %s\n  %s: %s\n", mark, c.label, c.name, dns.TypeToString[c.qtype], flags(c),
				addrs[0], res[0].summary, addrs[1], res[1].summary)
		} else {
			fmt.Printf("same %s: %s %s %s\n", c.label, c.name, dns.TypeToString[c.qtype], flags(c))
		}
		emark := "ede-same"
		if res[0].ede != res[1].ede {
			emark = "ede-DIFF"
			edeDiffs++
		}
		edeLines = append(edeLines, fmt.Sprintf("%s %s: [%s] [%s]", emark, c.label, res[0].ede, res[1].ede))
		amark := "auth-same"
		if res[0].auth != res[1].auth {
			amark = "auth-DIFF"
			authDiffs++
		}
		authLines = append(authLines, fmt.Sprintf("%s %s:\n    [%s]\n    [%s]", amark, c.label, res[0].auth, res[1].auth))
		tmark := "ttl-same"
		if !ttlAlike(res[0].ttl, res[1].ttl) {
			tmark = "ttl-DIFF"
			ttlDiffs++
		}
		ttlLines = append(ttlLines, fmt.Sprintf("%s %s: %d %d", tmark, c.label, res[0].ttl, res[1].ttl))
	}
	for _, l := range edeLines {
		if verbose || strings.HasPrefix(l, "ede-DIFF") {
			fmt.Println(l)
		}
	}
	for _, l := range authLines {
		if verbose || strings.HasPrefix(l, "auth-DIFF") {
			fmt.Println(l)
		}
	}
	for _, l := range ttlLines {
		if verbose || strings.HasPrefix(l, "ttl-DIFF") {
			fmt.Println(l)
		}
	}
	fmt.Printf("%d questions, %d answered alike, %d differently; EDE codes differ on %d, authority DNSSEC records on %d, answer TTLs on %d\n",
		len(cases), len(cases)-diffs, diffs, edeDiffs, authDiffs, ttlDiffs)
}

func main() {
	switch {
	case len(os.Args) >= 2 && os.Args[1] == "serve":
		serve(os.Args[2:])
	case len(os.Args) == 4 && os.Args[1] == "ask":
		ask(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: dnssecdiff serve [-anchor FILE] | dnssecdiff ask ADDR_A ADDR_B")
		os.Exit(2)
	}
}
