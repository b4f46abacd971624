// Package origin chooses the upstream web server (origin) a CDN edge sends a
// cache miss to, and fails over when it does not answer.
//
// A Pool holds origins with a URL, a region or coordinates, a priority and
// a weight. It ranks them per request by Steering: priority (primary
// first, then alternates), geography (nearest to the edge's own location,
// by great-circle distance or matching region) or latency (a peak-sensitive
// moving average of measured response times, so a slow origin loses
// traffic without being declared dead); origins of equal rank share load
// by weight. An idempotent request that fails on one origin is retried on
// the next-ranked one not yet tried, within a bounded number of attempts
// and per-try and total timeouts; the caller's context is honoured
// throughout.
//
// # Built on package balancer
//
// The origins are the backends of a balancer.Pool, and the ranking is a
// balancer.Policy: health and ejection are package balancer's, written
// once for both. Origins that fail (connection errors, timeouts, 502, 503
// or 504; never a client's fault) are ejected for a backing-off period, as
// Envoy's outlier detection does, and come back when it ends; optional
// active health checks (HTTP GET with rise/fall thresholds) take origins
// out and back in. An origin out of rotation is still tried as a last
// resort, after those in rotation have failed. Choosing an origin reads
// the balancer's immutable snapshot: no lock, no allocation.
//
// Pool is an http.RoundTripper over one shared, pooled transport (by
// default edgekit's proxy transport: keep-alive HTTP/1.1 connections driven
// on the request's goroutine for GET and HEAD, an http.Transport with
// HTTP/2 for the rest; bodies and encodings pass through untouched);
// ServedBy tells which origin answered a response.
//
// # Observability
//
// Stats returns each origin's counters. Config.Trace (a Trace) calls
// functions at each attempt (status and time to the response head), each
// failover (from, to, why), ejections, re-admissions and health
// transitions. Unset, it costs a pointer check per request.
//
// # Concurrency
//
// A Pool is safe for concurrent use. With Health.Interval set it runs one
// health-check goroutine, which Close stops and waits for.
package origin
