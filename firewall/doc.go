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
// zone is dropped); an address that cannot be read gets the default
// policy, never a pass.
//
// # Where it plugs in
//
//   - NewListener wraps a net.Listener: denied peers are closed right after
//     accept, with per-source connection caps, a connection-rate limit and
//     an overload list.
//   - Middleware (HTTPFilter) is a func(http.Handler) http.Handler: the
//     client address (behind trusted proxies, through RFC 7239 Forwarded
//     or X-Forwarded-For), rate limits, request rules, header and body
//     size limits and built-in checks against path traversal, NUL bytes
//     and request smuggling signals.
//   - NewDNSGuard wraps a dns.Handler: source checks, response rate
//     limiting with slip, refusal of ANY and malformed queries.
//   - Limiter is a per-source token bucket keyed by prefix; Tracker is a
//     connection-tracking table (NEW, ESTABLISHED, RELATED, INVALID).
//
// # Concurrency
//
// Every exported type is safe for concurrent use. None starts a goroutine.
package firewall
