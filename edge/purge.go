package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
}

// Purge implements EdgeNode. Purges by URL and key also reach every node
// sharing the node's Bus.
func (n *Node) Purge(ctx context.Context, p PurgeRequest) (PurgeResult, error) {
	if n.purger == nil {
		return PurgeResult{}, ErrPurgeUnsupported
	}
	res := PurgeResult{Mode: p.Mode.String()}
	if !p.All && len(p.URLs) == 0 && len(p.Keys) == 0 {
		return res, fmt.Errorf("%w: nothing named", ErrBadPurge)
	}
	if p.All {
		r, err := n.purger.PurgeAll(ctx)
		res.Objects, res.All = r.Objects, true
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
	res.Objects, res.Keys, res.URLs = r.Objects, len(p.Keys), len(p.URLs)
	return res, err
}

// PurgeConfig guards the purge API. The zero value allows loopback clients
// only.
type PurgeConfig struct {
	// Token, if set, must be sent as "Authorization: Bearer <token>" or
	// "X-Purge-Token: <token>".
	Token string
	// Allow lists client networks allowed to purge. Nil with an empty
	// Token means loopback only; nil with a Token means any network.
	Allow []netip.Prefix
}

// PurgeHandler returns the purge API as an http.Handler to mount where
// users like (examples/edge mounts it at /.edge/purge). It accepts POST or
// PURGE with query parameters:
//
//	url=http://host/path   purge that URL (repeatable)
//	key=sports              purge by surrogate key (repeatable; space-separated lists too)
//	all=1                   purge everything
//	mode=soft               mark stale instead of removing
//
// A PURGE request without parameters purges its own URL (as in Varnish).
// It answers JSON: {"purged": N, "mode": "hard", ...}.
func (n *Node) PurgeHandler(cfg PurgeConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != "PURGE" {
			w.Header().Set("Allow", "POST, PURGE")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST or PURGE"})
			return
		}
		if !authorized(r, cfg) {
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
	})
}

func authorized(r *http.Request, cfg PurgeConfig) bool {
	if cfg.Token != "" {
		got := r.Header.Get("X-Purge-Token")
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			got = strings.TrimPrefix(a, "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(cfg.Token)) != 1 {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	if cfg.Allow == nil {
		return cfg.Token != "" || addr.IsLoopback()
	}
	for _, p := range cfg.Allow {
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
