package edge

import (
	"net/http"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/interim"
)

// withInterim returns r with a context whose fetches forward the origin's
// 1xx responses (102, 103) to w (RFC 9110 §15.2); they are never stored
// and their fields stay out of the final response. Uncacheable requests go
// through httputil.ReverseProxy, which forwards them itself. Fetches that
// outlive the client (collapsed, bounded by FetchTimeout) keep the
// context's values, so the leader's client still gets them; background
// revalidations have no client and forward nothing. fetch calls
// interim.Done as soon as the origin's final response is in.
func withInterim(r *http.Request, w http.ResponseWriter) *http.Request {
	return r.WithContext(interim.With(r.Context(), w, cache.StripHopByHop))
}
