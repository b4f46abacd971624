package edge

import (
	"net/http"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/surrogate"
)

// unsyncedCache is the Cache the engine sees with
// Config.RevalidateUnsynced: while the Bus has not confirmed this node in
// sync for longer than after, a stored object that would be served
// (fresh, or stale while revalidating) must be validated first, as a
// request's no-cache asks (RFC 9111 §5.2.1.4). The rest is the Cache's.
// Safe for concurrent use as the Cache is.
type unsyncedCache struct {
	cache.Cache
	bus   surrogate.Syncer
	after time.Duration
	now   func() time.Time
}

// Lookup implements cache.Cache.
func (u *unsyncedCache) Lookup(req *http.Request) cache.Lookup {
	l := u.Cache.Lookup(req)
	if l.Decision != cache.Fresh && l.Decision != cache.StaleWhileRevalidate {
		return l
	}
	if last := u.bus.LastSync(); !last.IsZero() && u.now().Sub(last) <= u.after {
		return l
	}
	l.Decision = cache.Validate
	if l.Conditional == nil {
		l.Conditional = validators(l.Header)
	}
	return l
}

// validators builds the conditional fields that validate a stored
// response (RFC 9111 §4.3.1): If-None-Match from its ETag,
// If-Modified-Since from its Last-Modified.
func validators(h http.Header) http.Header {
	out := http.Header{}
	if etag := h.Get("Etag"); etag != "" {
		out.Set("If-None-Match", etag)
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		out.Set("If-Modified-Since", lm)
	}
	return out
}
