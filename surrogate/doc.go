// Package surrogate implements surrogate keys (cache tags) for an HTTP
// edge: reading the keys an origin attaches to responses, reading
// Surrogate-Control, indexing which cached objects carry which keys, and
// purging by key (hard or soft) across a fleet of edge nodes.
//
// # Headers
//
// Keys come from Surrogate-Key (space-separated, as at Fastly), Cache-Tag
// (comma-separated, as at Cloudflare) and xkey / X-Key (space-separated,
// as Varnish's xkey module reads them); Config.Fields chooses which. A key
// is an exact string: percent-escapes are decoded when they are valid
// UTF-8 ("a%20b" is "a b"), and kept literally when they are not.
//
// Surrogate-Control (W3C Edge Architecture 1.0) is parsed by
// ParseControl: max-age (with the "+stale" extension), no-store,
// no-store-remote and content, each optionally targeted at one device with
// ";token".
//
// # Purging
//
// An Index maps keys to the objects (cache keys) that carry them and back.
// A Purger applies purges to a Target (the cache: hard purge deletes, soft
// purge marks stale) and, with a Bus, to every node of a fleet. The Target
// interface is this package's own; cache.HTTPCache satisfies it.
//
// # Concurrency
//
// Index, Purger and LocalBus are safe for concurrent use. LocalBus runs one
// delivery goroutine per subscription; Close stops them and waits.
package surrogate
