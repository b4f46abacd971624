// Package retry is the SDK's one rule for whether a request that failed
// may be sent again, to the same or another server: package balancer's
// proxy retries by it, and package origin fails over by it.
package retry

import "net/http"

// Replayable reports whether r may be sent again: its method is
// idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE),
// so a second copy does no harm a first did not, and its body is empty
// or can be got again (Request.GetBody).
func Replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
	}
	return false
}
