package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/collapse"
)

// window is the most of a body a request holds beyond the copy being
// stored: the copy buffer of a pass-through, the chunk a fill hands its
// reader once storing is abandoned, and the start of a body of unknown
// length held back until it ends (so a small chunked object is answered
// complete, with its Cache-Status and the client's ranges).
const window = 32 << 10

// # Fetching big objects
//
// The head decides. A Content-Length above MaxObjectBytes is passed
// through (passThrough): waiters of a collapsed fetch are released at once
// to fetch on their own and are not counted as collapsed, the key is
// marked hit-for-pass, and the body is copied to the client through one
// window-sized buffer. Anything else is filled (runFill) on a goroutine
// the Engine owns, reading at the origin's pace into the copy to store,
// while the request that started the fetch reads the fill as it grows
// (fromFill). A body that outgrows MaxObjectBytes (an unknown length)
// stops being stored: waiters are released as above, the copy is dropped
// once the reader has caught up with it, and the fill then hands the
// reader one window at a time, waiting for it. Only complete, stored
// responses are shared with waiters, so an uncacheable (private) response
// never reaches another client; a waiter is counted as collapsed only when
// it is answered from another's fetch.
//
// A fetch that may still be stored outlives the client that started it,
// bounded by FetchTimeout, so waiters and the cache still get it; once it
// is a pass-through it follows that client: no FetchTimeout, canceled when
// the client leaves. Close cancels every fetch. An origin that fails
// mid-body after the head was sent aborts the client's response
// (http.ErrAbortHandler): the connection closes and a chunked body is not
// terminated, so the client sees a truncated response; nothing is stored.

// window returns a window-sized buffer; putWindow gives it back.
func (e *Engine) window() *[]byte {
	if b, ok := e.windows.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, window)
	return &b
}

func (e *Engine) putWindow(b *[]byte) { e.windows.Put(b) }

// fetchCtx is the context of one origin fetch and what ends it.
type fetchCtx struct {
	ctx        context.Context
	cancel     context.CancelCauseFunc
	timer      *time.Timer
	stopClose  func() bool
	stopClient func() bool
}

// newFetch starts the context of a fetch under parent (a request's
// values without its cancellation, or a background job's context): it
// ends after FetchTimeout and when the node closes.
func (e *Engine) newFetch(parent context.Context) *fetchCtx {
	ctx, cancel := context.WithCancelCause(parent)
	fx := &fetchCtx{ctx: ctx, cancel: cancel}
	fx.timer = time.AfterFunc(e.fetchTimeout, func() { cancel(context.DeadlineExceeded) })
	fx.stopClose = context.AfterFunc(e.ctx, func() { cancel(context.Canceled) })
	return fx
}

// clientFetch is the context of a fetch for r's client alone, after the
// engine closed: canceled when the client goes, with no FetchTimeout.
func clientFetch(r *http.Request) *fetchCtx {
	ctx, cancel := context.WithCancelCause(r.Context())
	return &fetchCtx{ctx: ctx, cancel: cancel, stopClose: func() bool { return false }}
}

// followClient makes the fetch serve r's client alone from now on: no
// FetchTimeout, canceled when the client goes.
func (fx *fetchCtx) followClient(r *http.Request) {
	fx.stopTimer()
	fx.stopClient = context.AfterFunc(r.Context(), func() { fx.cancel(context.Canceled) })
}

// release ends the fetch and its timers.
func (fx *fetchCtx) release() {
	fx.stopTimer()
	fx.stopClose()
	if fx.stopClient != nil {
		fx.stopClient()
	}
	fx.cancel(context.Canceled)
}

func (fx *fetchCtx) stopTimer() {
	if fx.timer != nil {
		fx.timer.Stop()
	}
}

// err explains a failed read: the fetch's own deadline when it ran out.
func (fx *fetchCtx) err(err error) error {
	if cause := context.Cause(fx.ctx); cause != nil && cause != context.Canceled {
		return cause
	}
	return err
}

// fill is one origin body being read by runFill and by at most one
// reader. While storing, buf is the whole body so far (never more than
// MaxObjectBytes); after, it is the part the reader has not yet taken, at
// most one window once the reader has caught up. All fields are guarded
// by mu; wake is closed and replaced whenever one changes.
type fill struct {
	mu       sync.Mutex
	wake     chan struct{}
	buf      []byte
	base     int64 // body offset of buf[0]
	win      []byte
	storing  bool
	done     bool
	err      error
	res      *fetchResult // the complete response, when done storing
	rpos     int64        // the reader's offset
	detached bool         // no reader (left, or never had one)
}

func newFill(contentLength, limit int64, reader bool) *fill {
	f := &fill{wake: make(chan struct{}), storing: true, detached: !reader}
	if contentLength > 0 && contentLength <= limit {
		f.buf = make([]byte, 0, contentLength)
	}
	return f
}

func (f *fill) signal() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// put adds p to the body. It reports abandoned when this call stopped the
// storing, and ok false when the body need not be read any further (no
// reader and nothing to store) or ctx ended.
func (f *fill) put(ctx context.Context, p []byte, limit int64) (abandoned, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storing {
		if int64(len(f.buf))+int64(len(p)) <= limit {
			f.buf = appendCapped(f.buf, p, limit)
			f.signal()
			return false, true
		}
		f.storing, abandoned = false, true
		f.signal()
	}
	// Hand the reader one window at a time: wait until it has taken
	// everything buffered, then replace the buffer (dropping the copy
	// that was being stored).
	for !f.detached && f.rpos < f.base+int64(len(f.buf)) {
		if f.waitLocked(ctx) != nil {
			return abandoned, false
		}
	}
	if f.detached {
		f.buf = nil
		return abandoned, false
	}
	if f.win == nil {
		f.win = make([]byte, 0, window)
	}
	f.base += int64(len(f.buf))
	f.buf = append(f.win[:0], p...)
	f.signal()
	return abandoned, true
}

// appendCapped appends p to b, growing b by doubling but never beyond
// limit, which len(b)+len(p) must not exceed.
func appendCapped(b, p []byte, limit int64) []byte {
	if need := len(b) + len(p); need > cap(b) {
		c := int64(max(2*cap(b), need, 4096))
		nb := make([]byte, len(b), min(c, limit))
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}

// finish ends the body: res is the complete response when it was stored
// (or could have been), err a failure.
func (f *fill) finish(res *fetchResult, err error) {
	f.mu.Lock()
	f.done, f.res, f.err = true, res, err
	f.signal()
	f.mu.Unlock()
}

// body returns the complete body (done, storing).
func (f *fill) body() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf
}

// detach says the reader has left.
func (f *fill) detach() {
	f.mu.Lock()
	if !f.detached {
		f.detached = true
		if !f.storing {
			f.buf = nil
		}
		f.signal()
	}
	f.mu.Unlock()
}

// await waits until the body is complete, or more than hold bytes have
// arrived, or it is no longer stored. It returns the complete response,
// or nil when the reader must stream; err is a failure before then.
func (f *fill) await(ctx context.Context, hold int64) (*fetchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		switch {
		case f.done && f.err != nil:
			return nil, f.err // nothing was sent yet: answer the error
		case f.done && f.storing:
			return f.res, nil
		case f.done || !f.storing || f.base+int64(len(f.buf)) > hold:
			return nil, nil
		}
		if f.waitLocked(ctx) != nil {
			return nil, ctx.Err()
		}
	}
}

// read copies the next bytes of the body into p, waiting for them. It
// returns io.EOF at the end and the fill's error after a failure.
func (f *fill) read(ctx context.Context, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if end := f.base + int64(len(f.buf)); f.rpos < end {
			nr := copy(p, f.buf[f.rpos-f.base:])
			f.rpos += int64(nr)
			f.signal()
			return nr, nil
		}
		if f.done {
			if f.err != nil {
				return 0, f.err
			}
			return 0, io.EOF
		}
		if f.waitLocked(ctx) != nil {
			return 0, ctx.Err()
		}
	}
}

// runFill reads h's body into f, stores it when it is complete and small
// enough, and tells fl (if any) whether waiters may share it. key, when
// set, is marked hit-for-pass for a response that cannot be stored.
func (e *Engine) runFill(fx *fetchCtx, f *fill, h *head, key string, fl *collapse.Flight[*fetchResult]) {
	defer fx.release()
	defer h.resp.Body.Close()
	finish := func(fr *fetchResult, shared bool) {
		if fl != nil {
			fl.Finish(fr, shared)
		}
	}
	cb := e.window()
	defer e.putWindow(cb)
	chunk := *cb
	for {
		nr, err := h.resp.Body.Read(chunk)
		if nr > 0 {
			e.st.Add(sBytesFromOrigin, uint64(nr))
			abandoned, ok := f.put(fx.ctx, chunk[:nr], e.maxObject)
			if abandoned {
				// Too large to store: from now on this is the reader's
				// pass-through alone.
				fx.stopTimer() // the reader's own fetch now: it ends when the reader leaves
				if key != "" {
					e.markPass(key, true)
				}
				finish(nil, false)
				if !ok {
					f.finish(nil, nil)
					return
				}
			}
			if !ok {
				finish(&fetchResult{err: fx.err(context.Canceled)}, true)
				f.finish(nil, fx.err(context.Canceled))
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			err = fx.err(err)
			e.st.Add(sOriginErrors, 1)
			// Waiters never saw a head: they get the error, as they
			// would had the head failed.
			finish(&fetchResult{err: err}, true)
			f.finish(nil, err)
			return
		}
	}
	f.mu.Lock()
	storing := f.storing
	f.mu.Unlock()
	if !storing {
		f.finish(nil, nil)
		return
	}
	body := f.body()
	if cap(body)-len(body) > len(body)/8 {
		body = bytes.Clone(body) // do not keep the growth slack
	}
	fr := e.storeFetched(h, body)
	if fr.stored {
		e.filled.Add(1)
	} else if key != "" && !h.clientNoStore() {
		e.markPass(key, false)
	}
	// The flight ends before the reader is answered: a request that
	// follows this one's response finds the object stored, not a flight.
	finish(fr, fr.stored)
	f.finish(fr, nil)
}

// fromOrigin fetches r from the origin. fl, if set, is the collapsed
// group r leads: it is told (once, by whichever goroutine decides) whether
// its waiters may share the response. Without store, the response is
// passed through without keeping a copy (the key was marked hit-for-pass
// as too large). plain says r's Lookup found no no-cache or no-store in
// it (Lookup.Refresh false), so storing need not parse it again.
func (e *Engine) fromOrigin(r *http.Request, key string, l *Lookup, fl *collapse.Flight[*fetchResult], store, plain bool) answer {
	handed := false // fl is finished, or runFill will finish it
	if fl != nil {
		defer func() {
			if !handed { // a panic before: never leave the key busy
				fl.Finish(nil, false)
			}
		}()
	}
	closed := e.stopped.Load()
	var fx *fetchCtx
	if closed {
		fx = clientFetch(r) // nothing outlives its client after Close
	} else {
		fx = e.newFetch(context.WithoutCancel(r.Context()))
	}
	fr, h := e.fetchHead(fx.ctx, r, l, plain)
	if fr != nil {
		fx.release()
		if fl != nil {
			fl.Finish(fr, true) // an error, a stale or a freshened stored response
		}
		handed = true
		if fr.fromCache {
			e.st.Add(sBytesFromCache, uint64(len(fr.body)))
		}
		return fr.answer(false)
	}
	if tooBig := h.resp.ContentLength > e.maxObject; tooBig || !store || closed {
		reason := "too-large"
		if tooBig {
			e.markPass(key, true)
		} else if closed {
			reason = "closed"
		}
		if fl != nil {
			fl.Finish(nil, false) // waiters fetch on their own, at once
		}
		handed = true
		return e.passThrough(r, fx, h, reason)
	}
	f := newFill(h.resp.ContentLength, e.maxObject, true)
	handed = true
	if !e.goFill(func() { e.runFill(fx, f, h, key, fl) }) {
		// Close began after the fetch did: its context is canceled.
		h.resp.Body.Close()
		fx.release()
		if fl != nil {
			fl.Finish(nil, false)
		}
		return answer{err: ErrClosed}
	}
	return e.fromFill(r, f, h)
}

// goFill runs fn on a goroutine that Close waits for, and reports false,
// running nothing, once Close has begun.
func (e *Engine) goFill(fn func()) bool {
	e.fillMu.Lock()
	defer e.fillMu.Unlock()
	if e.closed {
		return false
	}
	e.fills++
	go func() {
		defer func() {
			e.fillMu.Lock()
			if e.fills--; e.fills == 0 {
				e.fillIdle.Broadcast()
			}
			e.fillMu.Unlock()
		}()
		fn()
	}()
	return true
}

// waitLocked waits, with f.mu held on entry and on return, until the fill
// changes (wake is closed) or ctx ends; it returns ctx's error in the
// second case.
func (f *fill) waitLocked(ctx context.Context) error {
	wake := f.wake
	f.mu.Unlock()
	defer f.mu.Lock()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// passThrough answers with h's body, read as the client reads it; the
// fetch follows the client from now on.
func (e *Engine) passThrough(r *http.Request, fx *fetchCtx, h *head, reason string) answer {
	fx.followClient(r)
	return answer{status: h.resp.StatusCode, header: h.resp.Header, outcome: OutcomeMiss, length: h.resp.ContentLength,
		detail: fmt.Sprintf("fwd=%s; fwd-status=%d; detail=%s", h.fwd, h.resp.StatusCode, reason),
		stream: &passBody{e: e, r: r, fx: fx, body: h.resp.Body}}
}

// passBody is the body of a response too large to store, counted as it
// is read; closing it ends the fetch.
type passBody struct {
	e    *Engine
	r    *http.Request
	fx   *fetchCtx
	body io.ReadCloser
	once sync.Once
}

func (p *passBody) Read(b []byte) (int, error) {
	nr, err := p.body.Read(b)
	p.e.st.Add(sBytesFromOrigin, uint64(nr))
	if err != nil && err != io.EOF && p.r.Context().Err() == nil {
		p.e.st.Add(sOriginErrors, 1) // not the client's leaving
	}
	return nr, err
}

func (p *passBody) Close() error {
	p.once.Do(func() {
		p.body.Close()
		p.fx.release()
	})
	return nil
}

// fromFill answers from a fill: complete when the body ends soon enough
// (a known length, or an unknown one within a window), streamed as it
// arrives otherwise.
func (e *Engine) fromFill(r *http.Request, f *fill, h *head) answer {
	ctx := r.Context()
	hold := int64(window)
	if h.resp.ContentLength >= 0 {
		hold = e.maxObject // the whole object, which is being stored anyway
	}
	if ct, _, _ := strings.Cut(h.resp.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "text/event-stream") {
		hold = 0
	}
	wait := ctx
	if hold == e.maxObject {
		// The whole object is being stored, bounded by FetchTimeout:
		// the answer waits for it even when the client's context ends
		// (a half-closed client still reads it; see fetch).
		wait = context.WithoutCancel(ctx)
	}
	fr, err := f.await(wait, hold)
	if err != nil {
		f.detach()
		return answer{err: err, gone: ctx.Err() != nil}
	}
	if fr != nil {
		f.detach()
		return fr.answer(false)
	}
	return answer{status: h.resp.StatusCode, header: h.resp.Header, outcome: OutcomeMiss, length: h.resp.ContentLength,
		detail: fmt.Sprintf("fwd=%s; fwd-status=%d", h.fwd, h.resp.StatusCode),
		stream: &fillBody{f: f, ctx: ctx}}
}

// fillBody reads a fill as it grows; closing it detaches the reader.
type fillBody struct {
	f   *fill
	ctx context.Context
}

func (b *fillBody) Read(p []byte) (int, error) { return b.f.read(b.ctx, p) }
func (b *fillBody) Close() error               { b.f.detach(); return nil }
