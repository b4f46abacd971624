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
//   - Engine is the serving flow over a Cache and an upstream
//     http.RoundTripper, written once for the whole SDK (see # Engine). It
//     is an http.Handler (ServeHTTP) and an http.RoundTripper (RoundTrip).
//   - Transport is an http.RoundTripper that gives any Go HTTP client a
//     private cache: Engine.RoundTrip over http.DefaultTransport (or
//     Base).
//   - Middleware puts a shared cache in front of an http.Handler
//     (func(http.Handler) http.Handler through Wrap): Engine.ServeHTTP
//     with the handler as its upstream. Package edge is the full CDN
//     node, also built on Engine.
//   - Underneath is a concurrent, byte-bounded, frequency-aware store,
//     deliberately not exported: its only users are HTTPCache and the
//     resolver, a generic store would be a second API to keep stable
//     while the store still changes, and byte-bounded Go caches for values
//     of one's own exist (otter, ristretto, golang-lru). Config.Policy
//     (TinyLFU or LRU) and Removal.Reason are what a user needs of it.
//
// # Engine
//
// For a GET or HEAD, the Engine asks its Cache (Lookup) and then:
//
//   - serves a fresh response as stored, with Age (no allocation beyond
//     the response header on this path);
//   - serves a stale one at once and revalidates it in the background
//     when stale-while-revalidate (RFC 5861 §3) or a soft purge allows:
//     one job per key at a time, at most 1024 at once, each ended by
//     EngineConfig.FetchTimeout;
//   - validates with a conditional request otherwise and merges a 304
//     into what is stored (RFC 9111 §4.3.3, §4.3.4);
//   - serves a stale response when the origin fails or answers 500, 502,
//     503 or 504 within a stale-if-error window: the response's, the
//     request's, or the Cache's default (Config.StaleIfError; RFC 9111
//     §4.2.4, RFC 5861 §4);
//   - fetches a miss once for all concurrent requests for it (collapsing);
//     when that response cannot be stored the waiters are released to
//     fetch on their own and the key is marked hit-for-pass for 30 s;
//   - stores what the Cache accepts, and streams what is too large to
//     store: decided from Content-Length, or once a body of unknown
//     length outgrows MaxObjectBytes, through a 32 KiB window.
//
// The 1xx responses of a fetch reach the client (RFC 9110 §15.2) and the
// hop-by-hop fields of every response are removed (§7.6.1, internal/hop,
// the SDK's one rule). Unsafe methods pass through (EngineConfig.Pass)
// and invalidate (§4.4).
//
// Adapters add what is theirs through hooks that take structs of this
// package (EngineConfig): Outgoing (fields on requests to the origin),
// Control (directives from a field of the adapter's own, such as an
// edge's Surrogate-Control for its device: the targeted-field option of
// the engine, handed to the Cache as Exchange.Control), Store (around
// Cache.Store: Exchange.Retained, the memory the adapter keeps beside a
// response, and what it does once stored), Decorate (fields on every
// response: X-Cache by default, an edge's Via and Cache-Status),
// HideFields and Pass. Targeted fields a response carries, such as
// CDN-Cache-Control (RFC 9213), are HTTPCache's Config.TargetedFields.
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
// HTTPCache, Engine, Transport and Middleware are safe for concurrent
// use. Only the Engine, and so Transport and Middleware, start
// goroutines: background revalidations (one per key at a time, at most
// 1024 at once) and fetches whose response may be stored (which outlive
// the client that started them, for the waiters and the cache), each
// ended by EngineConfig.FetchTimeout (TransportConfig.RevalidateTimeout);
// their Close cancels and waits for them.
package cache
