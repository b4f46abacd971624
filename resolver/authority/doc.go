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
// # Steering (GeoDNS)
//
// Config.Steering makes the A and AAAA answers of chosen names depend on
// who asks, as Route 53's geolocation, latency, weighted and failover
// records do. Each Steer has edge pools (addresses with the countries and
// continents they serve, coordinates and weights) and a Policy:
// Geography (country, then continent, then nearest by great-circle
// distance), Latency (a table of measured RTT from client networks),
// Weighted, or Failover (the first pool with a healthy member). Answers
// shrink to the members Config.Health calls healthy (HealthTable holds
// what active checks or a fleet's membership report); when no member of
// any pool is healthy the best pool is answered whole, never an empty
// answer. Records carry a short TTL (30 s unless set) so that clients
// follow a failover, and turn within the pool. Another name reaches a
// steered one by CNAME (www.shop.example CNAME shop.cdn.example).
//
// The client is the EDNS Client Subnet of the query (RFC 7871) when it
// has one, else the address the query came from; Config.Locator places
// it (StaticLocator from a table of networks, or a MaxMind database).
// A malformed option gets FORMERR (RFC 7871 §6); a valid one comes back
// with the SCOPE PREFIX-LENGTH the answer holds for (§7.2.1): the
// length of the located network, 0 for names not steered and for
// clients that sent a /0 source prefix. SetSteering swaps the steered
// names atomically while answers are served.
//
// The resolver/resolvertest package runs Servers on loopback addresses as
// a whole root -> TLD -> zone hierarchy for tests and examples.
//
// # Concurrency
//
// A Zone is immutable; a Server is safe for concurrent use. Serve it with
// ServeUDP and ServeTCP, which judge every packet as the resolver's
// Server does (a response is dropped; a query that does not parse, or
// whose header counts lie, gets FORMERR with its header bits and an OPT,
// RFC 6891 §7); their goroutines end before they return, when their ctx
// is done. Under a dns.Server instead, the dns.Server answers some
// hostile queries itself, without the OPT. Steered names
// are read from an immutable snapshot; Locator and Health are asked on
// every steered answer and must not block.
package authority
