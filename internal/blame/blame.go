// Package blame tells a backend's failures from its client's, so that
// passive outlier detection (package balancer's Pool, package origin's
// Pool) ejects a backend only for faults of its own, as Envoy's outlier
// detection counts connect failures, resets, timeouts and 5xx of the
// upstream and nothing a downstream client did.
//
// A failed exchange is the client's fault when the client went away or
// cancelled (its context ended), when reading the request body it sent
// failed (a body shorter than its Content-Length, a client that
// disconnected mid-upload), or when the request could not be sent at all
// (a header field or Host that a transport refuses). Everything else that
// fails while the backend owns the exchange is the backend's.
package blame

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// Body wraps a request body and records whether reading it failed before
// it was closed. It is safe for concurrent use (a transport reads it on
// one goroutine while the caller looks at it from another).
type Body struct {
	rc     io.ReadCloser
	failed atomic.Bool
	closed atomic.Bool
}

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && !b.closed.Load() {
		b.failed.Store(true)
	}
	return n, err
}

// Close implements io.Closer. Reads failing after Close (a transport
// closing the body because the backend failed) are not the client's.
func (b *Body) Close() error {
	b.closed.Store(true)
	return b.rc.Close()
}

// Failed reports whether reading the client's body failed. A nil Body
// never failed.
func (b *Body) Failed() bool { return b != nil && b.failed.Load() }

// WrapBody returns req with its body wrapped in a Body, as a shallow copy
// (req is not modified), and the Body. A request without a body (nil or
// http.NoBody) is returned as it is, with a nil Body: transports treat
// those specially, and the bodyless path stays free of allocations.
func WrapBody(req *http.Request) (*http.Request, *Body) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	b := &Body{rc: req.Body}
	r2 := *req
	r2.Body = b
	return &r2, b
}

// Backend reports whether err, returned by a transport for sent, counts
// as a failure of the backend. client is the context of the client's
// request (not one the caller added for its own timeouts); body is what
// WrapBody returned for sent (nil when it had none).
func Backend(client context.Context, sent *http.Request, body *Body, err error) bool {
	switch {
	case err == nil:
		return false
	case body.Failed():
		return false // the client sent less than it announced, or left mid-upload
	case client.Err() != nil:
		return false // the client went away, cancelled, or its own deadline passed
	case Sendable(sent) != nil:
		return false // refused before a byte reached the backend
	}
	return true
}

// ClientError is a failed exchange whose fault is the client's (see
// Backend): callers answer it with a 4xx, or not at all, never with a
// 502, and do not retry it on another backend.
type ClientError struct{ Err error }

func (e *ClientError) Error() string { return "client fault: " + e.Err.Error() }
func (e *ClientError) Unwrap() error { return e.Err }

// Sendable reports what a transport would refuse in req before sending it
// (what http.Transport and internal/h1 check): a method that is not a
// token, a header field name or value that is not valid HTTP, an invalid
// Host.
func Sendable(req *http.Request) error {
	if req.Method != "" && !httpguts.ValidHeaderFieldName(req.Method) { // a method is a token, as a field name
		return fmt.Errorf("blame: invalid method %q", req.Method)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("blame: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("blame: invalid header field value for %q", k)
			}
		}
	}
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return fmt.Errorf("blame: invalid Host %q", host)
	}
	return nil
}
