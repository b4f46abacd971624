// Package dnssec validates DNS answers (RFC 4033, 4034, 4035, 5155, 6840;
// algorithms per RFC 8624) for the recursive resolver: it builds the chain
// of trust from trust anchors (the IANA root KSKs built in, or anchors
// from a file for private hierarchies) through DS -> DNSKEY -> RRSIG at
// every delegation, and proves denial of existence with NSEC and NSEC3.
// The cryptography is github.com/miekg/dns's (RRSIG.Verify, DNSKEY.ToDS,
// HashName); this package decides what to verify, against what, and what
// the outcome means.
//
// # Results
//
// Validate gives each response a Status: Secure (every RRset verified up
// to an anchor), Insecure (a proven unsigned delegation, or only
// algorithms or digests the validator does not implement: RFC 4035 §5.2,
// RFC 6840 §5.2), Bogus (a signature or proof is wrong or missing where
// one is required), or Indeterminate (no trust anchor covers the name).
// A Bogus result carries an Extended DNS Error code (RFC 8914) and a
// reason, for the SERVFAIL the resolver then answers.
//
// # Bounded work
//
// A hostile zone can make a validator burn CPU (KeyTrap, CVE-2023-50387;
// NSEC3 hash floods, CVE-2023-50868). Each Validate call tries at most
// Config.MaxKeysPerTag keys per key tag, Config.MaxSignaturesPerRRset
// signatures per RRset, Config.MaxVerifications signature checks in all
// and Config.MaxNSEC3Hashes NSEC3 hashes, and treats NSEC3 chains with
// more than Config.MaxNSEC3Iterations iterations as insecure (RFC 9276
// §3.2). Result.Work reports what a call spent.
//
// # Fetching
//
// The validator asks for the DS and DNSKEY RRsets it needs through a
// Fetcher the caller gives (the resolver's own iteration, with DO set),
// and caches the zone keys it validated (and proven insecure or bogus
// delegations) until their TTL or signatures expire; bogus entries for
// Config.BogusTTL (60 s, as Unbound's val-bogus-ttl).
package dnssec
