// Package balancer distributes requests or connections over a live set of
// backends, as nginx, HAProxy and Envoy do, embeddable in a Go service.
//
// # Pool and policies
//
// A Pool holds backends (added, removed, re-weighted and drained at any
// time) and picks one per request with a Policy: RoundRobin,
// WeightedRoundRobin (nginx's smooth algorithm), LeastConnections,
// PowerOfTwo (least request), PeakEWMA, Random, and the keyed policies
// Maglev, RingHash, Rendezvous and BoundedLoad. Picks read an immutable
// snapshot through an atomic pointer, so they never wait for writers; keyed
// picks do not allocate. Each Pick is finished with Done, which feeds
// least-request and latency policies and passive outlier detection.
//
// # Writing a policy or a balancer
//
// A Policy is written outside the package as inside it, after grpc-go's
// balancer: whenever the pool's available backends change, the Pool
// builds an immutable snapshot of read-only Endpoint views (ID, address,
// weight during slow start, requests in flight, latency, ID hash) and asks
// the Policy's Build for a Picker; a Pick calls the Picker on the current
// snapshot and never takes a writer's lock. Optional interfaces spare the
// Pool work: KeyReader (the policy reads no PickInfo.Key) and LoadReader
// (it reads no pool-wide in-flight count); a policy that does not say gets
// both, so a wrapper that hides them stays correct.
//
// Proxy and TCPProxy take any Balancer (one method, Pick; a Pick's Done
// reports the outcome), Pool being the default; NewPick makes picks for
// other implementations. What only some balancers can do is found by type
// assertion: StickyBalancer (sticky cookies) and KeyReader.
//
// # Health
//
// Active health checks (HTTP status and body match, or TCP connect, with
// rise/fall thresholds) and passive outlier detection (consecutive
// failures eject with exponential backoff, capped by a maximum ejection
// percentage) take backends out of rotation. If every backend is out, all
// are used (panic mode) rather than none. HealthCheck.Check is usable on
// its own.
//
// # Proxies
//
// Proxy is an L7 balancer on httputil.ReverseProxy with routing by host,
// path and header, retries of idempotent requests on connection failure,
// X-Forwarded-* and RFC 7239 Forwarded, cookie-based sticky sessions, and
// keep-alive pools sized for load; package httpfront is a lean HTTP/1.1
// server to put in front of it (net/http's Server works too). TCPProxy
// is an L4 balancer with half-close, connect and idle timeouts and draining
// on shutdown.
//
// # Observability
//
// Pool.Stats returns each backend's counters and state. A Trace calls
// functions at events: on a Pool (Config.Trace) each pick, ejection,
// re-admission and health transition; on a Proxy (ProxyConfig.Trace) each
// request's start and end, each backend attempt (with a context and the
// outgoing request, so a tracing adapter can make a span per attempt and
// inject a W3C traceparent) and each retry. Unset, a Trace costs a pointer
// check and allocates nothing. Events fire outside the pool's locks.
//
// # Access log
//
// ProxyConfig.AccessLog, when set, receives one line per request at info
// level, message "request", with what HAProxy's HTTP log format carries:
// start (accept time), client (peer address without the port), method,
// host, path, query, proto, status, bytes (body bytes sent), duration (Ta)
// and ttfb (time to the response head), backend (ID) and server (address)
// of the last attempt, retries, user_agent and request_id. The request ID
// is the client's X-Request-ID when it is 1 to 128 visible ASCII
// characters (no quote or backslash); otherwise the proxy makes one (a
// random per-proxy prefix and a counter) and sends it to the backend in
// X-Request-ID. It is off by default.
//
// # Concurrency
//
// Pool, Proxy and TCPProxy are safe for concurrent use. A Pool runs a
// goroutine for active health checks and short-lived ones for drains and
// ejection ends; Close stops them.
package balancer
