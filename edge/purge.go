package edge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/edgekit/edgekit/surrogate"
)

// PurgeRequest names what to purge. Exactly one of URLs, Keys or All
// should be set (several are allowed and all apply).
type PurgeRequest struct {
	// URLs are absolute URLs (http://host/path?query) purged with every
	// variant.
	URLs []string
	// Keys are surrogate keys.
	Keys []string
	// All purges everything.
	All bool
	// Mode is Hard (remove) or Soft (mark stale, revalidate on next use).
	Mode surrogate.Mode
}

// PurgeResult reports what a purge did on this node.
type PurgeResult struct {
	// Objects is how many cached objects were purged here.
	Objects int    `json:"purged"`
	Mode    string `json:"mode"`
	Keys    int    `json:"keys,omitempty"`
	URLs    int    `json:"urls,omitempty"`
	All     bool   `json:"all,omitempty"`
	// Fleet is the fleet's acknowledgement when the Bus acknowledges
	// (surrogate.AckBus, such as redisbus): per live node, applied,
	// lagging or unreachable. Nil otherwise.
	Fleet *surrogate.Ack `json:"fleet,omitempty"`
}

// Purge implements EdgeNode. Purges by URL and key also reach every node
// sharing the node's Bus; with an acknowledging Bus (surrogate.AckBus)
// Purge returns when every live node applied the purge, or at the Bus's
// deadline, and PurgeResult.Fleet says which did.
func (n *Node) Purge(ctx context.Context, p PurgeRequest) (PurgeResult, error) {
	if n.purger == nil {
		return PurgeResult{}, ErrPurgeUnsupported
	}
	res := PurgeResult{Mode: p.Mode.String()}
	if !p.All && len(p.URLs) == 0 && len(p.Keys) == 0 {
		return res, fmt.Errorf("%w: nothing named", ErrBadPurge)
	}
	if p.All {
		r, err := n.purger.PurgeAll(ctx, p.Mode)
		res.Objects, res.All, res.Fleet = r.Objects, true, r.Ack
		return res, err
	}
	keys := append([]string(nil), p.Keys...)
	for _, raw := range p.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return res, fmt.Errorf("%w: URL %q must be absolute http(s)", ErrBadPurge, raw)
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
		keys = append(keys, surrogate.URLKey(n.keyOf(r)))
	}
	r, err := n.purger.Purge(ctx, p.Mode, keys...)
	res.Objects, res.Keys, res.URLs, res.Fleet = r.Objects, len(p.Keys), len(p.URLs), r.Ack
	return res, err
}

// PurgeConfig guards the purge API. There is no trust by peer address: a
// proxy on the same host (a load balancer in front of the node) connects
// from loopback on behalf of anyone, so a loopback peer proves nothing.
// Either a Token is required, or the handler is declared to be served only
// on an admin listener the public cannot reach.
type PurgeConfig struct {
	// Token, if set, must be sent as "Authorization: Bearer <token>" or
	// "X-Purge-Token: <token>" on every purge, on any listener. It is
	// compared in constant time.
	Token string
	// AdminListener declares that the handler is mounted only on a
	// listener of its own that the public cannot reach (loopback, a
	// management network), never on the listener serving traffic: purges
	// there need no token when Token is empty. examples/edge serves it on
	// -admin (127.0.0.1 by default).
	AdminListener bool
	// Allow, if set, further restricts the peers that may purge (its
	// addresses, after the token check); it never grants access by itself.
	Allow []netip.Prefix
}

// PurgeHandler returns the purge API as an http.Handler to mount where
// users like (examples/edge mounts it at /.edge/purge on its admin
// listener, and on the public listener only with a token). It accepts
// POST or PURGE with query parameters:
//
//	url=http://host/path   purge that URL (repeatable)
//	key=sports              purge by surrogate key (repeatable; space-separated lists too)
//	all=1                   purge everything
//	mode=soft               mark stale instead of removing
//
// A PURGE request without parameters purges its own URL (as in Varnish).
// It answers JSON: {"purged": N, "mode": "hard", ...}; 401 without a valid
// token, 403 from a peer outside Allow.
//
// cfg needs a Token, or AdminListener set: a handler that anyone reaching
// the public listener could call anonymously is an error (ErrInvalidConfig).
func (n *Node) PurgeHandler(cfg PurgeConfig) (http.Handler, error) {
	if cfg.Token == "" && !cfg.AdminListener {
		return nil, fmt.Errorf("%w: PurgeConfig needs a Token, or AdminListener for a handler served only on an admin listener", ErrInvalidConfig)
	}
	var want [sha256.Size]byte
	if cfg.Token != "" {
		want = sha256.Sum256([]byte(cfg.Token))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != "PURGE" {
			w.Header().Set("Allow", "POST, PURGE")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST or PURGE"})
			return
		}
		if cfg.Token != "" && !tokenValid(r, &want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge purge"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "purge needs a valid token"})
			return
		}
		if cfg.Allow != nil && !peerAllowed(r, cfg.Allow) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "purge not allowed from here"})
			return
		}
		q := r.URL.Query()
		p := PurgeRequest{URLs: q["url"], All: q.Get("all") == "1" || q.Get("all") == "true"}
		for _, k := range q["key"] {
			p.Keys = append(p.Keys, strings.Fields(k)...)
		}
		switch q.Get("mode") {
		case "", "hard":
		case "soft":
			p.Mode = surrogate.Soft
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mode must be hard or soft"})
			return
		}
		if r.Method == "PURGE" && len(q) == 0 {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			p.URLs = []string{scheme + "://" + r.Host + r.URL.RequestURI()}
		}
		res, err := n.Purge(r.Context(), p)
		if err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, ErrBadPurge) {
				code = http.StatusBadRequest
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}), nil
}

// tokenValid compares the request's token with want (a SHA-256, so the
// comparison takes the same time whatever the lengths).
func tokenValid(r *http.Request, want *[sha256.Size]byte) bool {
	got := r.Header.Get("X-Purge-Token")
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		got = a[7:]
	}
	if got == "" {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

func peerAllowed(r *http.Request, allow []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap().WithZone("")
	for _, p := range allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
