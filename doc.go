// Package edgekit is an embeddable Go SDK of the protocol building blocks that
// carry a web request from a name typed in a browser to the bytes of a page.
//
// Teams import the packages they need into their own services (a CDN edge, an
// internal load balancer, a caching resolver, an API gateway) and wire them
// together themselves. Each leaf package stands alone.
//
// # Package map
//
//   - resolver: DNS. Iterative resolution from the root, caching (positive,
//     negative, serve-stale, prefetch), forwarding, a net.Resolver hook, a DNS
//     server handler and an authoritative zone server.
//   - cache: RFC 9111 HTTP caching (with RFC 5861 stale-while-revalidate and
//     stale-if-error) on a concurrent, byte-bounded, frequency-aware store; an
//     http.RoundTripper and a middleware.
//   - surrogate: surrogate keys (cache tags): header parsing, an index from
//     key to cached objects, hard and soft purge, purge fan-out.
//   - origin: origin servers and their selection by geography, latency and
//     availability, with failover.
//   - balancer: load-balancing policies, health checks, sticky sessions, L4
//     and L7 proxying.
//   - firewall: packet-filter style rules, stateful inspection, rate limits
//     and an HTTP filter, as a listener wrapper, middleware and DNS guard.
//   - edge: the CDN edge node composing cache, surrogate and origin.
//   - examples: runnable programs to copy.
//
// This root package holds no code; it documents the module.
package edgekit
