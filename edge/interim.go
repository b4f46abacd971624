package edge

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"

	"github.com/edgekit/edgekit/cache"
)

// Interim responses (RFC 9110 §15.2): a proxy forwards the 1xx responses
// an origin sends before its final one (102 Processing, 103 Early Hints),
// never stores them, and keeps their fields out of the final response.
// Uncacheable requests go through httputil.ReverseProxy, which forwards
// them itself; the node's own fetches do it here, through the
// Got1xxResponse hook of the outgoing request (http.Transport calls it
// while RoundTrip runs).

type interimKey struct{}

// interim forwards 1xx responses to one client until its fetch returns.
type interim struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	done bool
}

// withInterim returns r with a context whose fetches forward 1xx
// responses to w. Fetches that outlive the client (collapsed, bounded by
// FetchTimeout) keep the context's values, so the leader's client still
// gets them; background revalidations have no client and forward nothing.
func withInterim(r *http.Request, w http.ResponseWriter) *http.Request {
	ir := &interim{w: w}
	ctx := context.WithValue(r.Context(), interimKey{}, ir)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: ir.forward})
	return r.WithContext(ctx)
}

// interimDone stops forwarding for ctx's client: its final response is
// next, and the handler owns the ResponseWriter again. A transport that
// calls Got1xxResponse late finds the door shut.
func interimDone(ctx context.Context) {
	if ir, ok := ctx.Value(interimKey{}).(*interim); ok {
		ir.mu.Lock()
		ir.done = true
		ir.mu.Unlock()
	}
}

func (ir *interim) forward(code int, fields textproto.MIMEHeader) error {
	if code == http.StatusContinue || code == http.StatusSwitchingProtocols || code < 100 || code > 199 {
		// 100 answers an Expect the node's fetch never sends; 101 ends
		// HTTP on the connection and is never forwarded this way.
		return nil
	}
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if ir.done {
		return nil
	}
	extra := http.Header(fields).Clone()
	cache.StripHopByHop(extra)
	h := ir.w.Header()
	saved := make(map[string][]string, len(extra))
	for k, v := range extra {
		if old, ok := h[k]; ok {
			saved[k] = old
		}
		h[k] = v
	}
	ir.w.WriteHeader(code)
	// The interim fields belong to the 1xx alone (RFC 9110 §15.2).
	for k := range extra {
		if old, ok := saved[k]; ok {
			h[k] = old
		} else {
			delete(h, k)
		}
	}
	return nil
}
