// Package edge is a CDN edge node: an http.Handler that answers from its
// cache and sends misses to origins, composing package cache (RFC 9111
// semantics), package origin (origin selection and failover) and package
// surrogate (surrogate keys and purging). It takes those parts through
// their interfaces (cache.Cache, http.RoundTripper, surrogate.Target,
// surrogate.Bus), so any of them can be replaced.
//
// The serving flow (lookup, serve, revalidate, collapse, fetch, store,
// stream) is cache.Engine's, the one the SDK has; a Node is a thin adapter
// over it that adds an edge's own: cache keys (KeyConfig), Surrogate-Control
// targeted at its device and negative caching (handed to the cache as
// cache.Exchange.Control), surrogate keys and purging, Via, Cache-Status
// and X-Cache, and the origin.
//
// # Serving
//
// A fresh stored response is served with Age, Via and an RFC 9211
// Cache-Status entry (and X-Cache if configured). A stale one is served at
// once and refreshed in the background when stale-while-revalidate (or a
// soft purge) allows, validated with a conditional request otherwise, and
// served stale when the origin fails within the stale-if-error window: the
// response's own, or Config.StaleIfError (by default DefaultStaleIfError,
// 10 s, as Varnish's grace) unless must-revalidate, proxy-revalidate,
// no-cache or s-maxage forbids stale use (RFC 9111 §4.2.4). Range
// requests, HEAD and the client's own conditional requests are answered
// from the stored full object, with only the fields it carries plus
// Content-Range (RFC 9110 §13, §14); a complete 200 says so with
// Accept-Ranges: bytes (§14.3). Interim responses (102, 103) from the
// origin are passed to the client and never stored (RFC 9110 §15.2).
// Bodies larger than MaxObjectBytes stream through without being stored.
//
// Concurrent misses for one object collapse into one origin fetch. When
// that response cannot be stored, the waiters are released to fetch on
// their own and the object is marked hit-for-pass for 30 seconds, so no
// request queues behind another. Only stored responses are shared, so a
// private one never reaches another client.
//
// # Large objects
//
// The response head decides: a Content-Length above MaxObjectBytes
// releases the waiters at once (not counted as collapsed) and streams to
// each client through a 32 KiB buffer, never stored nor buffered. A body
// of unknown length is read at the origin's pace into the copy to store
// and streamed to its client as it arrives (after a first 32 KiB, so a
// small one is answered whole); past MaxObjectBytes the copy is dropped,
// the waiters are released, and the rest is handed to the client 32 KiB
// at a time. So memory per request is bounded by the object being stored
// plus a fixed window. An origin that fails mid-body truncates the
// client's response (the connection closes, a chunked body is not
// terminated; the handler panics with http.ErrAbortHandler as
// httputil.ReverseProxy does) and nothing is stored. A fetch that may be
// stored goes on when its client leaves, bounded by FetchTimeout; a
// pass-through ends with its client.
//
// # Clients that half-close
//
// Both fronts (net/http's server, httpfront) end a request's context when
// the connection reads EOF, which a client that shut only its sending
// side (TCP half-close) also causes, though it still reads its response.
// So the context's end is not taken for a departure where that would lose
// work or an answer: a request passed through (a POST) is never aborted
// by it once forwarded, as HAProxy without abortonclose (a client that
// left is found when the response's write fails), and a request answered
// by a fetch that is being stored waits for it (bounded by FetchTimeout).
// What the client alone needs, a body too large to store streamed to it,
// still ends with its context, so a half-closed client may see such a
// body cut.
//
// Surrogate-Control (W3C Edge Architecture) and CDN-Cache-Control (RFC
// 9213) take precedence over Cache-Control, and are not forwarded to
// clients (CDN-Cache-Control is).
//
// # Purging
//
// Purge and PurgeHandler remove or soft-purge objects by URL, by surrogate
// key or all of them; through a surrogate.Bus the purge reaches every node.
// The default cache is purged; with a Cache of one's own, Config.PurgeTarget
// names what purges act on (usually that cache), and without one Purge
// returns ErrPurgeUnsupported.
//
// PurgeHandler never trusts a peer by its address: a proxy on the same
// host (the SDK's own load balancer in front of the node) connects from
// loopback for anyone. It requires a token (PurgeConfig.Token), unless it
// is declared to be served only on an admin listener of its own
// (PurgeConfig.AdminListener), apart from public traffic. examples/edge
// serves purge and stats on -admin (loopback by default) and purge on the
// public listener only with -purge-token.
//
// # Shield tier
//
// Shield, used as a Node's Config.Origin, is tiered caching (Fastly's
// shielding, Cloudflare's Tiered Cache, groupcache's peer fill): a miss
// goes to the node that owns the object, by Maglev consistent hashing
// over the fleet's live members (surrogate.Members: redisbus, or a static
// list), and only the owner fetches from the origin. Requests between
// nodes carry a proof of the tier (ShieldHeader, an HMAC under the
// fleet's Secret), so the owner never forwards them again; every node
// appends its cdn-id to CDN-Loop (RFC 8586 §2, Config.CDNID), and a
// request that names it more than MaxHops times is answered 508. An owner
// that fails or is slow is skipped (straight to the origin) and ejected
// as package balancer ejects. With Config.Tier set to Shield.FromTier, a
// node sends an object's surrogate keys to the node below it, so purges
// by key reach both levels. See docs/fleet.md.
//
// # Deliberate deviations
//
// Responses with Set-Cookie are not stored (as Varnish and Fastly do by
// default); partial (206) responses from origins are not stored; a
// Transfer-Encoding other than chunked from an origin is refused by Go's
// HTTP client and answered 502.
//
// # Concurrency
//
// A Node is safe for concurrent use. Its engine runs background
// revalidations and fetches that may be stored in goroutines the Node
// owns, each ended by FetchTimeout; Close cancels and waits for them.
package edge
