// Package interim forwards 1xx interim responses (RFC 9110 §15.2) that a
// proxying component receives from the next hop to its own client, for
// edge's fetches and cache's Middleware.
//
// A Forwarder is installed on an outgoing request as an
// httptrace.ClientTrace (http.Transport calls Got1xxResponse while
// RoundTrip runs) and writes each 1xx to the client's ResponseWriter,
// with its fields, which it then removes again so that they never reach
// the final response. Done shuts it before the final response is written.
package interim

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
)

// Forwarder writes the 1xx responses of one exchange to one client. It is
// safe for concurrent use: a transport may call its hook from another
// goroutine.
type Forwarder struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	strip func(http.Header)
	done  bool
}

type key struct{}

// With returns ctx carrying a Forwarder that writes to w, as a client
// trace (composed with any trace ctx has) and as a value Done finds.
// strip, if set, removes hop-by-hop fields from each interim response
// before it is sent.
func With(ctx context.Context, w http.ResponseWriter, strip func(http.Header)) context.Context {
	f := &Forwarder{w: w, strip: strip}
	ctx = context.WithValue(ctx, key{}, f)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: f.forward})
}

// Done stops forwarding for the Forwarder in ctx (if any): the client's
// final response is next and its writer belongs to the handler again.
func Done(ctx context.Context) {
	if f, ok := ctx.Value(key{}).(*Forwarder); ok {
		f.mu.Lock()
		f.done = true
		f.mu.Unlock()
	}
}

func (f *Forwarder) forward(code int, fields textproto.MIMEHeader) error {
	if code == http.StatusContinue || code == http.StatusSwitchingProtocols || code < 100 || code > 199 {
		// 100 answers the hop's own Expect; 101 ends HTTP on the
		// connection and is never forwarded this way.
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	extra := http.Header(fields).Clone()
	if f.strip != nil {
		f.strip(extra)
	}
	h := f.w.Header()
	saved := make(map[string][]string, len(extra))
	for k, v := range extra {
		if old, ok := h[k]; ok {
			saved[k] = old
		}
		h[k] = v
	}
	f.w.WriteHeader(code)
	// The interim fields belong to the 1xx alone.
	for k := range extra {
		if old, ok := saved[k]; ok {
			h[k] = old
		} else {
			delete(h, k)
		}
	}
	return nil
}
