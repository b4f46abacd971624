// Package hop is the SDK's one rule for hop-by-hop header fields (RFC 9110
// §7.6.1): the fields that describe one connection and that an
// intermediary removes before it forwards a message, in either direction.
// The edge, the cache's Transport and Middleware, and the stored responses
// of the cache all call it, so every path (stored, passed through,
// validated, streamed, served on error) strips the same fields.
//
// The rule is httputil.ReverseProxy's removeHopByHopHeaders; the
// balancer's proxy and the edge's pass-through run on ReverseProxy, which
// applies it to requests too, keeping "TE: trailers" and a requested
// Upgrade. Callers that buffer responses (a cache filling itself) strip
// requests with Strip alone: they forward no trailers and switch no
// protocol (an Upgrade request is passed through, see Upgrade).
package hop

import (
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// fields are the hop-by-hop fields removed whatever Connection says:
// RFC 9110 §7.6.1 (Connection, Proxy-Connection, Keep-Alive, TE,
// Transfer-Encoding, Upgrade), §11.7.1 and §11.7.2 (Proxy-Authenticate,
// Proxy-Authorization, which a proxy consumes), and Trailer, whose
// trailer section an intermediary that re-frames the body does not
// forward. It is httputil.ReverseProxy's list.
var fields = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// Strip removes from h, in place, the fields Connection names and the
// hop-by-hop fields (RFC 9110 §7.6.1). Use it on a response before it
// is stored or forwarded, and on a request before it is forwarded when
// no protocol switch is under way. A header without any of them is left
// as it is and Strip does not allocate.
func Strip(h http.Header) {
	for _, line := range h["Connection"] {
		for f := range strings.SplitSeq(line, ",") {
			if f = textproto.TrimString(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, f := range fields {
		delete(h, f)
	}
}

// Upgrade returns the protocol a request asks to switch to (RFC 9110
// §7.8): the Upgrade field when Connection lists "upgrade", else "".
func Upgrade(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}
