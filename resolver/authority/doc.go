// Package authority is an authoritative DNS server: it answers from zone
// files, as the servers a recursive resolver asks do (the root, the TLDs
// and a site's own zones).
//
// # Why a package of its own
//
// The resolver package asks questions and caches answers; this package
// holds the data and gives the answers. The two share no state and no
// types (only DNS rules written once in the module's internal packages),
// and a user who serves a zone need not take the resolver, nor the other
// way round. The authoritative side also grows on its own: answers that
// depend on who asks (geographic and latency-aware steering, EDNS Client
// Subnet) belong here, beside the zone data they choose from.
//
// # Zones
//
// ParseZone reads zone-file text (RFC 1035 §5) into an immutable Zone:
// records by owner name, the zone cuts below the apex and the empty
// non-terminals (names with no records of their own but names below
// them), found once when the zone is read.
//
// # Answers
//
// Server is a dns.Handler for a set of zones. It answers from the most
// specific zone holding the query name: answers with AA set, referrals at
// zone cuts (NS in authority, glue in additional), CNAME chains within the
// zone, DNAME (RFC 6672), wildcards (RFC 4592), and NXDOMAIN or NODATA
// with the zone's SOA, its TTL capped by the SOA's MINIMUM (RFC 2308 §3).
// Over UDP an answer larger than the client's buffer goes with TC set and
// only its question and OPT, never a partial RRset (RFC 2181 §9) nor a
// referral without its glue (RFC 9471 §3.1), so that the client asks
// again over TCP. With Config.Rotate the order of several A or AAAA
// records turns with every answer (round-robin load distribution).
//
// The resolver/resolvertest package runs Servers on loopback addresses as
// a whole root -> TLD -> zone hierarchy for tests and examples.
//
// # Concurrency
//
// A Zone is immutable; a Server is safe for concurrent use and starts no
// goroutines: run it under a dns.Server for UDP and TCP.
package authority
