// Package resolver is the DNS of a web request's journey: a recursive,
// caching resolver that walks from the root to the authoritative servers,
// a forwarder, a DNS server for clients, and a hook that sends Go's own
// lookups through all of it. The authoritative side (zone files and the
// server answering from them) is the package resolver/authority, and
// resolver/resolvertest runs whole hierarchies of such servers on loopback
// for tests and examples.
//
// # Resolution
//
// Recursive resolves iteratively from root hints (the IANA roots built in,
// or configured ones for private hierarchies): it follows referrals using
// glue only within the delegating zone's bailiwick, resolves glueless name
// servers, chases CNAMEs (and DNAMEs, RFC 6672) across zones with loop and
// length limits, minimises query names (RFC 9156; a probe's NXDOMAIN is
// checked with the full name, since some servers say NXDOMAIN for empty
// non-terminals), tries the next server on timeouts, SERVFAIL, REFUSED and
// lame answers (a non-authoritative NXDOMAIN without SOA among them), gives
// up on a zone after three timeouts, orders servers by smoothed RTT,
// retries over TCP on truncation and without EDNS on a FORMERR without OPT
// (RFC 6891 §7; the server is remembered for 15 minutes), checks that
// answers match their questions (RFC 5452), and bounds every resolution's
// queries, depth and time. Name servers on loopback and private addresses
// are refused unless Config.AllowLoopback is set (New warns when every
// root is such an address).
//
// # Upstream queries over UDP
//
// Every upstream query leaves from a socket of its own, connected to the
// server, on a port the kernel draws at random, with a random ID (RFC 5452
// §9.2); the socket is closed with the answer. Datagrams that do not carry
// the query's ID and question are skipped, and the kernel drops those from
// any other address or port (§9.1). On Linux these sockets are raw
// non-blocking descriptors in an epoll set of the resolver's own, made,
// written, read and closed with raw system calls (socket, connect,
// epoll_ctl, sendto, recvfrom, close: six per query), one goroutine
// waiting on the set through Go's poller; elsewhere, and if the set
// cannot be made, they are sockets in Go's poller. Long-lived sockets
// shared by many queries (rotated after N queries or T seconds, as some
// resolvers do)
// would save six of a query's eight or nine system calls (socket,
// connect, fcntl, two epoll_ctl, close; a prototype rotating after 100
// queries or 1 s answered about 30% more misses per busy core), but a
// port that stays open can be learned (a query to the attacker's own
// zone shows it; an ICMP side channel as in SAD DNS finds it given time)
// and then only the 16 bits of the ID stand between an off-path attacker
// and every query sent from it: against §9.2's unpredictable port per
// query and the spirit of "multiple different source ports
// simultaneously", so not done.
//
// # Caching
//
// Answers are cached on a byte-bounded store: positive RRsets with TTL
// clamping, negative answers per RFC 2308 (with RFC 8020; the SOA of the
// zone that said no, also at the end of a CNAME or DNAME chain), ranked by
// trust (RFC 2181 §5.4.1: a referral's NS set and glue find servers but
// never answer a question), stale data
// served when no authority answers (RFC 8767, TTL 30), prefetch of popular
// entries, and coalescing of identical in-flight questions. RFC 6761 names
// and a hosts table are answered locally; localhost., invalid. and test.
// as locally served zones (RFC 6303: authoritative, negative answers with
// an SOA).
//
// # Client subnet (ECS)
//
// With Config.ECS, queries for names in the listed zones carry the
// client's subnet (RFC 7871; /24 and /56 by default, §11.1), from the
// client's address or its own option (cut to those lengths; its /0 sent
// as /0), so that a GeoDNS answers for the client. Their answers are
// cached per scope (§7.3.1: one tailored to 10.1.1.0/24 is given to that
// subnet only; scope 0 to everyone), at most ECSConfig.MaxScopes per name
// and type, each counted in MaxBytes; a reply whose option is not the
// query's is dropped (§7.3). A client that sent the option gets it back
// with the answer's scope. Resolve, which knows no client, sends none.
// With DNSSEC, a tailored answer's outcome (AD, RRSIGs, NSEC records) is
// kept per scope beside it, and a bogus verdict or a failure of a
// resolution that sent the subnet holds for that subnet only
// (ecs_dnssec.go).
//
// # Serving and hooks
//
// Server is a dns.Handler with an access list (loopback only by default).
// It vets queries as Unbound does (NOTIMP for other opcodes, FORMERR for
// malformed ones, header counts that promise records not carried among
// them, BADVERS for EDNS above version 0, REFUSED for zone
// transfers and classes other than IN) and answers a query without RD
// from local data only, refusing the rest (no recursion, no cache
// snooping). Its replies, errors included, carry the query's ID, RD and
// CD, its question, and an OPT when the query had one, with the DO bit
// copied (RFC 6891 §7, RFC 3225 §3; AD only as DNSSEC validation below
// says). A UDP answer that does not fit the client's buffer goes with
// TC and no records, never a partial RRset (RFC 2181 §9), as Unbound's. Its ServeUDP method serves a UDP socket directly, faster than
// a dns.Server (cache hits answered in the read loops, datagrams batched),
// and ServeTCP a listener, answering pipelined queries concurrently and out
// of order (RFC 7766);
// DoHHandler serves it over HTTPS (RFC 8484). With Config.Forward the
// resolver forwards over UDP/TCP, DNS over TLS or DNS over HTTPS.
// ServeUDP and ServeDNS keep a cache hit's reply packed and send later
// hits a copy with their ID, CD, AD and DO bits written in, as Unbound
// and Knot keep packed replies; ServeDNS writes it with the
// ResponseWriter's Write, so a wrapper must handle Write as WriteMsg.
// NetResolver returns a *net.Resolver whose lookups go through a Resolver,
// and the Lookup methods convert names with IDNA and return *net.DNSError.
//
// Config.Hooks (and ServerConfig.Hooks, which default to the Recursive's)
// call functions at events, for metrics and tracing: queries received and
// answered, cache hits, misses and stale answers, each upstream query sent
// and answered (with its RTT), resolutions (with a context for a span) and
// SERVFAILs with their cause. Unset, they cost a pointer check per query
// and allocate nothing. Config.Trace reports each step of a resolution as
// dig +trace prints it.
//
// # DNSSEC validation
//
// Recursive validates DNSSEC (RFC 4033-4035, 5155, 6840) by default when
// it resolves from the IANA roots, whose trust anchors (KSK-2017 and
// KSK-2024) are built in; with Config.Roots (a private hierarchy) it
// validates only with Config.TrustAnchors, and Config.DisableDNSSEC turns
// it off. A forwarder (Config.Forward) validates the same way with the
// same anchors, asking its upstreams for the chain's DS and DNSKEY
// records (forwardval.go); Config.InsecureDomains exempts private unsigned
// names (Unbound's domain-insecure). Upstream queries then carry DO;
// each authoritative answer, NXDOMAIN or NODATA of a client's resolution
// is validated before it is cached by resolver/dnssec, which fetches the
// DS (from the parent's servers, RFC 4035 §4.2) and DNSKEY RRsets of the
// chain through the resolver and keeps the validated keys. A bogus answer
// is SERVFAIL with an Extended DNS Error (RFC 8914) saying why, the
// verdict kept 60 s (Unbound's val-bogus-ttl); a secure one carries AD to
// clients that set DO or AD (RFC 6840 §5.7-5.8), fresh or from the cache,
// and clients that set DO get its RRSIG, NSEC and NSEC3 records (RFC
// 4035 §3.2.1). A CNAME chain is as secure as its weakest link. A query
// with CD gets the data of a bogus answer, resolved apart and never
// cached (RFC 4035 §3.2.2). Unsupported algorithms and digests make a
// zone insecure, not bogus (RFC 4035 §5.2, RFC 6840 §5.2); the work a
// hostile zone can cause is bounded (KeyTrap, CVE-2023-50387; NSEC3
// hashes, CVE-2023-50868; see resolver/dnssec). Validated records are
// cached no longer than their signatures' original TTL and expiration
// (RFC 4035 §5.3.3). The validated NSEC records of secure negative
// answers are used aggressively (RFC 8198 §5.1, §5.2): a name they prove
// absent, or without the asked type, is answered NXDOMAIN or NODATA with
// AD from the cache, and a name they prove absent below a validated
// wildcard is answered from the cached wildcard RRset (§5.3), never for a
// query with CD; NSEC only, not NSEC3; Config.DisableAggressiveNSEC turns
// it off. Names below a secure NXDOMAIN answered from the cache (RFC 8020)
// carry its AD.
//
// # Packages
//
// The resolver asks; resolver/authority answers from zone data
// (authority.Zone, authority.ParseZone, authority.Server). They are two
// packages because they share no state and grow apart: a user serving a
// zone needs no resolver, and answers that depend on the client
// (geographic steering, EDNS Client Subnet) belong beside the zone data.
// The DNS rules both apply (the name hierarchy, a negative answer's SOA,
// the vetting of queries) are written once, in an internal package.
//
// resolver/resolvertest is to this package what net/http/httptest is to
// net/http: resolvertest.New starts a root -> TLD -> zone hierarchy of
// authority servers on loopback addresses from a Config (zones by
// address, a fixed or free port, a Wrap hook per address), and offers
// servers that misbehave as some found on the Internet do (a CNAME
// followed across zones, NXDOMAIN for empty non-terminals, no EDNS). It is
// a package of its own so that this package's documentation shows only
// what a resolver's user needs, and so that tests outside the module can
// build the same hierarchies.
//
// # Reading the code
//
// The files follow a question's path. resolver.go holds the types
// (Resolver, Config, Recursive, Step) and Resolve, which answers from
// local.go (the hosts table and special-use names) or rcache.go (the
// cache: entries, trust ranks, TTL ageing, negative, failure and stale
// data, prefetch), and on a miss resolves: iterate.go walks down from the
// closest known zone cut (referrals, glueless name servers, QNAME
// minimisation, which servers may be asked), classify.go reads each
// response (answer, referral, negative, lame; what is in bailiwick),
// query.go sends one query to one server (EDNS fallback, TCP on
// truncation, RFC 5452 matching) through exchange.go's per-query UDP
// sockets (dial_*.go), and infra.go keeps what is learned of servers
// (smoothed RTT, hold-down, EDNS support). forward.go replaces the walk
// when Config.Forward is set (doh.go for DNS over HTTPS). server.go and
// tcp.go serve clients, lookup.go holds NetResolver and the Lookup
// methods, names.go the name helpers of the resolver alone. validate.go
// joins the iteration to resolver/dnssec (DO, DS from the parent, the
// outcome of each step, AD, EDE, CD, the DNSSEC records kept for DO).
//
// # Concurrency
//
// Every exported type is safe for concurrent use. Recursive runs prefetch
// goroutines and, on Linux, from its first upstream query over UDP, the
// goroutine that waits on its sockets; Close waits for them, and ends the
// resolutions in progress (answered SERVFAIL). Replies compress names (RFC 1035 §4.1.4).
package resolver
