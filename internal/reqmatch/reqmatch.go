// Package reqmatch is the SDK's one reading of the request conditions a
// balancer route and a firewall rule share: the host without its port,
// a path prefix, and a header that is present or holds a value. Package
// balancer picks a Route with it and package firewall matches an
// HTTPRule with it, so both read a request the same way.
package reqmatch

import (
	"net"
	"net/http"
	"slices"
	"strings"
)

// Match is a set of conditions a request must all meet; an empty field
// matches any request. It is a plain value, safe for concurrent use while
// no goroutine changes it.
type Match struct {
	// Host matches the request's host, without its port,
	// case-insensitively.
	Host string
	// PathPrefix matches the start of the URL path.
	PathPrefix string
	// Header names a field the request must carry; Value, if set, must be
	// one of its field lines exactly.
	Header, Value string
}

// Matches reports whether r meets every condition of m.
func (m *Match) Matches(r *http.Request) bool {
	if m.Host != "" && !strings.EqualFold(Host(r), m.Host) {
		return false
	}
	if m.PathPrefix != "" && !strings.HasPrefix(r.URL.Path, m.PathPrefix) {
		return false
	}
	if m.Header != "" {
		v, ok := r.Header[http.CanonicalHeaderKey(m.Header)]
		if !ok || (m.Value != "" && !slices.Contains(v, m.Value)) {
			return false
		}
	}
	return true
}

// Host returns r.Host without its port.
func Host(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		return h
	}
	return r.Host
}
