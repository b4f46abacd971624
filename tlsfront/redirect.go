package tlsfront

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Redirect returns a handler for a plain-HTTP listener that sends every
// request to the same URL over HTTPS with 308 Permanent Redirect
// (RFC 9110 §15.4.9: the method and body are kept): the path and query
// are kept, the host is the request's without its port, and the port is
// tlsPort unless that is 443 (or 0, meaning 443). A request without a
// valid Host gets 400. It is safe for concurrent use.
func Redirect(tlsPort int) http.Handler {
	port := ""
	if tlsPort != 0 && tlsPort != 443 {
		port = ":" + strconv.Itoa(tlsPort)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if strings.Contains(host, ":") {
			ip, err := netip.ParseAddr(host)
			if err != nil || !ip.Is6() || ip.Zone() != "" {
				http.Error(w, "tlsfront: invalid Host", http.StatusBadRequest)
				return
			}
			host = "[" + ip.String() + "]"
		} else if !regName(host) {
			http.Error(w, "tlsfront: missing or invalid Host", http.StatusBadRequest)
			return
		}
		if r.URL.Path != "" && r.URL.Path[0] != '/' { // "*", or an absolute URL's odd path
			http.Error(w, "tlsfront: no path to redirect", http.StatusBadRequest)
			return
		}
		if strings.Contains(r.URL.RawQuery, "#") {
			// A request-target has no fragment (RFC 9112 §3.2); net/http
			// leaves a "#" in the query, which the Location could not carry.
			http.Error(w, "tlsfront: '#' in the request target", http.StatusBadRequest)
			return
		}
		u := url.URL{Scheme: "https", Host: host + port, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		if u.Path == "" {
			u.Path = "/"
		}
		// Not http.Redirect: it cleans the path and would answer a body
		// with HTML; the Location is the URL as asked, in https.
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// regName reports whether host is a non-empty name of letters, digits,
// '-', '.' and '_' (a DNS name or an IPv4 address; RFC 3986 §3.2.2
// allows more, which no certificate names).
func regName(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// HSTS returns next with a Strict-Transport-Security field (RFC 6797
// §6.1) of the given max-age added to every response to a request that
// came over TLS (r.TLS set); plain-HTTP responses never carry it
// (RFC 6797 §7.2). A maxAge of zero or less returns next unchanged. The
// handler is safe for concurrent use if next is.
func HSTS(maxAge time.Duration, includeSubdomains bool, next http.Handler) http.Handler {
	if maxAge <= 0 {
		return next
	}
	v := []string{"max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)}
	if includeSubdomains {
		v[0] += "; includeSubDomains"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header()["Strict-Transport-Security"] = v
		}
		next.ServeHTTP(w, r)
	})
}
