package cache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// outcomeKey marks the context of a traced RoundTrip's request with the
// *tracedRequest whose outcome its decoration fills in.
type outcomeKey struct{}

// decorateTraced is a traced Transport's decoration: X-Cache, as the
// default, and the outcome noted for RequestDone. Only the engine's own
// decision is noted, never an X-Cache the origin sent.
func decorateTraced(d Decoration) {
	setXCache(d)
	if d.Request == nil {
		return
	}
	if tq, ok := d.Request.Context().Value(outcomeKey{}).(*tracedRequest); ok {
		tq.info.CacheStatus = d.Outcome
	}
}

// tracedRequest is a traced RoundTrip in progress, and its response body
// once there is one (one allocation for both). The body counts the bytes
// read and reports RequestDone once, at the end of the body (io.EOF or
// another read error) or when it is closed, whichever comes first. Read
// and Close may run on different goroutines (a caller cancelling a
// read), as with any response body.
type tracedRequest struct {
	requestTrace
	ready  time.Time // when RoundTrip returned the response head
	status int
	rc     io.ReadCloser
	n      atomic.Int64
	once   sync.Once
}

// roundTripTraced is RoundTrip with t.trace set.
func (t *Transport) roundTripTraced(req *http.Request) (*http.Response, error) {
	tq := &tracedRequest{}
	tq.start(t.trace, t.now, req)
	sent := req.WithContext(context.WithValue(tq.ctx, outcomeKey{}, tq))
	resp, err := t.e.RoundTrip(sent)
	if resp != nil && resp.Request == sent {
		resp.Request = req // the caller's own, as without a Trace
	}
	if t.trace.RequestDone == nil {
		return resp, err
	}
	if err != nil {
		tq.finish() // Status 0: no response head
		return resp, err
	}
	tq.status, tq.ready = resp.StatusCode, t.now()
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		// A 101's body is the connection, an io.ReadWriteCloser the
		// caller asserts: it is not wrapped, and the exchange is over.
		tq.finish()
		return resp, nil
	}
	tq.rc = resp.Body
	resp.Body = tq
	return resp, nil
}

func (tq *tracedRequest) Read(p []byte) (int, error) {
	n, err := tq.rc.Read(p)
	tq.n.Add(int64(n))
	if err != nil {
		tq.finish()
	}
	return n, err
}

func (tq *tracedRequest) Close() error {
	err := tq.rc.Close()
	tq.finish()
	return err
}

// finish calls RequestDone, once.
func (tq *tracedRequest) finish() {
	tq.once.Do(func() { tq.done(tq.status, tq.ready, tq.n.Load()) })
}
