// Package firewall filters traffic as nftables and pf do for a host and a
// web application firewall does for HTTP, embeddable in a Go server.
//
// # Rules
//
// A RuleSet holds ordered rules (source and destination prefixes, ports,
// protocol; first-match or last-match chosen explicitly), source allow and
// deny lists decided by longest prefix match on a gaissmai/bart table (so
// exceptions inside ranges work), and a default policy, with a hit counter
// per rule. ParseRules reads a small line-oriented format and names the
// line of any error; a file with an error is refused whole. Firewall
// swaps rule sets atomically: readers never see a half-loaded set, and
// connections already allowed survive a reload unless ReloadAndFlush asks.
//
// Every entry point normalises addresses (IPv4-mapped IPv6 is unmapped, a
// zone is dropped); a peer that is no IP address at all (a Unix socket)
// gets the default policy, never a pass, and all such peers share one
// rate-limit bucket.
//
// # Where it plugs in
//
//   - NewListener wraps a net.Listener: denied peers are closed right after
//     accept, with per-source connection caps, a connection-rate limit and
//     an overload list.
//   - Middleware (HTTPFilter) is a func(http.Handler) http.Handler: the
//     client address, rate limits, request rules, header and body size
//     limits and built-in checks against path traversal, NUL bytes and
//     request smuggling signals.
//
// # Client address behind proxies
//
// By default no forwarding header is read: the client is the peer. A
// RealIP (or "trust" statements in the rule file) names the trusted
// proxies and the one header each maintains, as nginx's set_real_ip_from
// and real_ip_header do; only that header is read, right to left,
// skipping trusted proxies, and the first untrusted hop is the client.
// RFC 7239 Forwarded is parsed as the RFC says (quoted strings, bracketed
// IPv6, ports, "unknown" and obfuscated identifiers), X-Forwarded-For as
// a list over any number of field lines. A chain that cannot be read (a
// malformed, obfuscated or missing element, a chain going on past 4 KiB or
// 64 elements; the header is read from its right end, so client padding or
// an open quoted-string cannot hide the address a proxy appended) is
// judged as coming from the last hop identified, the trusted
// proxy itself when nothing else, never as an anonymous client that
// would get the default policy. The rate limiter always runs on the
// address chosen.
//   - NewDNSGuard wraps a dns.Handler: source checks, response rate
//     limiting with slip, refusal of ANY and malformed queries.
//   - Limiter is a per-source token bucket keyed by prefix; Tracker is a
//     connection-tracking table (NEW, ESTABLISHED, RELATED, INVALID).
//
// # Concurrency
//
// Every exported type is safe for concurrent use. None starts a goroutine.
package firewall
