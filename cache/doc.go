// Package cache implements HTTP caching as RFC 9111 specifies it, with the
// RFC 5861 stale-while-revalidate and stale-if-error extensions and RFC
// 9213 targeted cache-control fields, over a concurrent, byte-bounded,
// frequency-aware store.
//
// # Pieces
//
//   - Cache is the decision interface: Lookup (what may be reused, §4),
//     Store (what may be stored, §3; 304 freshening, §4.3.4) and
//     Invalidate (§4.4). HTTPCache is its default implementation, shared
//     (proxy, CDN) or private (client), and also offers Delete, MarkStale
//     (soft purge) and Clear for purging.
//   - Transport is an http.RoundTripper that gives any Go HTTP client a
//     private cache with all of the above, including conditional
//     revalidation and background stale-while-revalidate.
//   - Middleware puts a shared cache in front of an http.Handler
//     (func(http.Handler) http.Handler through Wrap); package edge is the
//     full CDN node.
//   - Store is the generic store underneath, usable on its own.
//
// # Conservative readings
//
// Malformed input never fails a request. An invalid max-age or s-maxage
// makes a response stale, duplicate directives keep their first value, an
// invalid Expires means already expired, an invalid Age is ignored, and
// delta-seconds overflow to 2^31, as RFC 9111 §1.2.2, §4.2.1, §5.1 and §5.3
// prescribe.
//
// # Deliberate choices
//
// A shared HTTPCache does not store responses carrying Set-Cookie (as
// Varnish and Fastly do by default), treats qualified private as
// unqualified in a shared cache (not storing, where the RFC allows storing
// without the named fields), and does not store partial (206) responses.
// Qualified no-cache is honoured by storing the response without the named
// fields.
//
// # Memory
//
// Config.MaxBytes bounds what stored responses really take on the heap,
// not their body lengths: each response is counted with its body's
// allocation (bodies read into a growing buffer are kept at exact size),
// its header map with every key and value string, its variant record, the
// key, the store's per-entry bookkeeping, and what a caller keeps beside
// it (Exchange.Retained: edge's surrogate index entries). The estimates
// (internal/memsize) err on the side of too much; tests compare them with
// measured heap growth. A 56-byte response with a handful of header
// fields costs about 1.3 KiB; the live heap of a full cache stays near
// MaxBytes.
//
// # Concurrency
//
// HTTPCache, Transport, Middleware and Store are safe for concurrent use.
// Only Transport and Middleware start goroutines (background
// revalidations, one per key at a time, at most 1024 at once, each ended
// by TransportConfig.RevalidateTimeout); their Close cancels and waits
// for them.
package cache
