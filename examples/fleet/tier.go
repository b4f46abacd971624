package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// loopToken is this fleet's CDN-Loop cdn-id (RFC 8586 §2): an edge adds
// it to a request it forwards to the owner, and a request that carries it
// is never forwarded to a peer again.
const loopToken = "edgekit-fleet-sim"

// tier is the shield tier's origin transport of one edge: a miss goes to
// the edge that owns the object (consistent hashing over the fleet, the
// same balancer.Jump placement for every edge), by calling its handler
// directly; the owner itself, and any request that already crossed the
// tier, goes to the origin. Safe for concurrent use.
//
// TEMPORARY: this stands in for edge.NewShield (being written on another
// branch), which does the same over real connections (a Peers transport,
// ejection of a shield that is down). Once it lands, the simulation uses
// edge.NewShield with a Peers RoundTripper that calls the owner's handler,
// and this file goes.
type tier struct {
	self int
	f    *fleet
}

func (t *tier) RoundTrip(r *http.Request) (*http.Response, error) {
	owner, err := t.f.owner(r.URL.Path)
	if err != nil {
		return nil, err
	}
	if owner == t.self || crossedTier(r.Header) {
		return t.f.origin.RoundTrip(r)
	}
	t.f.peers.Add(1)
	pr := r.Clone(r.Context())
	pr.Header.Add("CDN-Loop", loopToken)
	pr.RequestURI = r.URL.RequestURI()
	pr.RemoteAddr = "198.51.100." + strconv.Itoa(t.self) + ":1" // the peer's address
	w := &recorder{keep: true}
	t.f.nodes[owner].ServeHTTP(w, pr)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	resp := response(r, w.code, w.header, nil)
	resp.Body = io.NopCloser(bytes.NewReader(w.body.Bytes()))
	resp.ContentLength = int64(w.body.Len())
	if w.code == http.StatusNotModified {
		resp.ContentLength = 0
	}
	return resp, nil
}

// crossedTier reports whether h's CDN-Loop names this fleet.
func crossedTier(h http.Header) bool {
	for _, v := range h.Values("CDN-Loop") {
		for id := range strings.SplitSeq(v, ",") {
			id, _, _ = strings.Cut(id, ";")
			if strings.TrimSpace(id) == loopToken {
				return true
			}
		}
	}
	return false
}
