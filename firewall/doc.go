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
// line of any error; a file with an error is refused whole. Decide returns
// a Verdict: the action, what decided, and Matched, false when nothing
// matched and the default policy decided. A Firewall holds the rule set
// in force and swaps it atomically on Reload: readers never see a
// half-loaded set, and connections already allowed survive a reload
// unless Listener.Flush is called.
//
// Every entry point normalises addresses (IPv4-mapped IPv6 is unmapped, a
// zone is dropped); a peer that is no IP address at all (a Unix socket)
// gets the default policy, never a pass, and all such peers share one
// rate-limit bucket.
//
// # Filters
//
// Filter is the one-method interface the blocks below judge with:
// Decide(Flow) Verdict. *Firewall and *RuleSet implement it; a filter of
// your own (a reputation feed, a geography check, a composition that asks
// the Firewall first and decides what it leaves open by Verdict.Matched)
// plugs in where a Firewall would. See the Filter example.
//
// # Where it plugs in
//
//   - NewListener wraps a net.Listener: denied peers are closed right after
//     accept, with per-source connection caps, a connection-rate limit and
//     an overload list; Flush closes open connections the rules now deny.
//   - NewHTTPFilter builds the HTTP middleware; its Wrap is a
//     func(http.Handler) http.Handler: the client address, rate limits,
//     request rules, header and body size limits and built-in checks
//     against path traversal, NUL bytes and request smuggling signals.
//   - NewDNSGuard wraps a dns.Handler: source checks, response rate
//     limiting with slip, refusal of ANY and malformed queries.
//   - Limiter is a per-source token bucket keyed by prefix.
//
// The connection-tracking table (NEW, ESTABLISHED, RELATED, INVALID, DNS
// replies matched on server, port and query ID) lives in the subpackage
// conntrack.
//
// Every constructor validates its Config and returns an error wrapping
// ErrInvalidConfig (rules: ErrBadRule, with a ParseError naming the line).
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
// address chosen. An HTTPFilter without its own RealIP uses the proxies
// its Filter names (a Firewall: those of the rule set in force, read from
// the same rule set that judges the request).
//
// # Observability
//
// Each block's Stats counts its decisions. ListenerConfig.Trace,
// HTTPConfig.Trace and DNSGuardConfig.Trace (a Trace) call functions at
// each verdict (with the rule, list or default that decided) and each
// refusal by a rate limit. Unset, a Trace costs a pointer check and
// allocates nothing; RuleSet.Decide itself is untouched.
//
// # Concurrency
//
// Every exported type is safe for concurrent use: the blocks and rule
// sets by design, the Config, Stats and other plain values while no
// goroutine changes them. None starts a goroutine. A Filter you write is
// called from many goroutines at once and must be safe for that.
package firewall
