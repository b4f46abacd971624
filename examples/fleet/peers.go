package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/surrogate"
)

// peerSuffix makes a member's address: "edge-3" is reached at
// "edge-3.sim:80", which only peers understands.
const peerSuffix = ".sim:80"

// shieldSecret is the simulated fleet's shared shield secret.
const shieldSecret = "fleet-simulation"

// members is the fleet's static live set for the shields.
func (f *fleet) members() surrogate.StaticMembers {
	var m surrogate.StaticMembers
	for i := range f.nodes {
		m = append(m, surrogate.Member{ID: nodeID(i), Addr: nodeID(i) + peerSuffix})
	}
	return m
}

// newShield returns edge i's shield tier: edge.Shield over the fleet's
// members, whose Peers transport is peers (no sockets).
func (f *fleet) newShield(i int, members surrogate.Members) (*edge.Shield, error) {
	return edge.NewShield(edge.ShieldConfig{Self: nodeID(i), Members: members, Origin: f.origin,
		Peers: peers{f}, Secret: shieldSecret, Now: f.clock.Now})
}

// peers is the shields' Peers transport: a request to a member's address
// is served by calling that node's handler directly, with an in-memory
// ResponseWriter. Safe for concurrent use.
type peers struct{ f *fleet }

func (p peers) RoundTrip(r *http.Request) (*http.Response, error) {
	id, ok := strings.CutSuffix(r.URL.Host, peerSuffix)
	n, err := strconv.Atoi(strings.TrimPrefix(id, "edge-"))
	if !ok || err != nil || n < 0 || n >= len(p.f.nodes) {
		return nil, fmt.Errorf("fleet: no peer at %q", r.URL.Host)
	}
	p.f.peers.Add(1)
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "198.51.100.1:1" // a peer
	w := &recorder{keep: true}
	p.f.nodes[n].ServeHTTP(w, in)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	resp := response(r, w.code, w.header, nil)
	resp.Body = io.NopCloser(bytes.NewReader(w.body.Bytes()))
	resp.ContentLength = int64(w.body.Len())
	return resp, nil
}
