package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgekit/edgekit/cache"
	"github.com/edgekit/edgekit/internal/collapse"
	"go.uber.org/zap"
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
// through (servePass): waiters of a collapsed fetch are released at once
// to fetch on their own and are not counted as collapsed, the key is
// marked hit-for-pass, and the body is copied to the client through one
// window-sized buffer. Anything else is filled (runFill) on a goroutine
// the Node owns, reading at the origin's pace into the copy to store,
// while the request that started the fetch reads the fill as it grows
// (serveFill). A body that outgrows MaxObjectBytes (an unknown length)
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
func (n *Node) window() *[]byte {
	if b, ok := n.windows.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, window)
	return &b
}

func (n *Node) putWindow(b *[]byte) { n.windows.Put(b) }

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
func (n *Node) newFetch(parent context.Context) *fetchCtx {
	ctx, cancel := context.WithCancelCause(parent)
	fx := &fetchCtx{ctx: ctx, cancel: cancel}
	fx.timer = time.AfterFunc(n.fetchTimeout, func() { cancel(context.DeadlineExceeded) })
	fx.stopClose = context.AfterFunc(n.ctx, func() { cancel(context.Canceled) })
	return fx
}

// followClient makes the fetch serve r's client alone from now on: no
// FetchTimeout, canceled when the client goes.
func (fx *fetchCtx) followClient(r *http.Request) {
	fx.timer.Stop()
	fx.stopClient = context.AfterFunc(r.Context(), func() { fx.cancel(context.Canceled) })
}

// release ends the fetch and its timers.
func (fx *fetchCtx) release() {
	fx.timer.Stop()
	fx.stopClose()
	if fx.stopClient != nil {
		fx.stopClient()
	}
	fx.cancel(context.Canceled)
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

// head is an origin response whose body has not been read.
type head struct {
	req               *http.Request // the request as the client sent it
	resp              *http.Response
	reqTime, respTime time.Time
	fwd               string            // Cache-Status fwd: uri-miss or stale
	control           *cache.Directives // the node's own say on storing it (see control)
}

// runFill reads h's body into f, stores it when it is complete and small
// enough, and tells fl (if any) whether waiters may share it. key, when
// set, is marked hit-for-pass for a response that cannot be stored.
func (n *Node) runFill(fx *fetchCtx, f *fill, h *head, key string, fl *collapse.Flight[*fetchResult]) {
	defer fx.release()
	defer h.resp.Body.Close()
	finish := func(fr *fetchResult, shared bool) {
		if fl != nil {
			fl.Finish(fr, shared)
		}
	}
	cb := n.window()
	defer n.putWindow(cb)
	chunk := *cb
	for {
		nr, err := h.resp.Body.Read(chunk)
		if nr > 0 {
			n.st.bytesFromOrigin.Add(uint64(nr))
			abandoned, ok := f.put(fx.ctx, chunk[:nr], n.maxObject)
			if abandoned {
				// Too large to store: from now on this is the reader's
				// pass-through alone.
				fx.timer.Stop() // the reader's own fetch now: it ends when the reader leaves
				if key != "" {
					n.markPass(key, true)
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
			n.st.originErrors.Add(1)
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
	fr := n.storeFetched(h, body)
	if !fr.stored && key != "" {
		n.markPass(key, false)
	}
	// The flight ends before the reader is answered: a request that
	// follows this one's response finds the object stored, not a flight.
	finish(fr, fr.stored)
	f.finish(fr, nil)
}

// serveOrigin fetches r from the origin and answers w. fl, if set, is the
// collapsed group r leads: it is told (once, by whichever goroutine
// decides) whether its waiters may share the response. Without store,
// the response is passed through without keeping a copy (the key was
// marked hit-for-pass as too large).
func (n *Node) serveOrigin(w http.ResponseWriter, r *http.Request, key string, l *cache.Lookup, fl *collapse.Flight[*fetchResult], store bool) {
	handed := false // fl is finished, or runFill will finish it
	if fl != nil {
		defer func() {
			if !handed { // a panic before: never leave the key busy
				fl.Finish(nil, false)
			}
		}()
	}
	fx := n.newFetch(context.WithoutCancel(r.Context()))
	fr, h := n.fetchHead(fx.ctx, r, l)
	if fr != nil {
		fx.release()
		if fl != nil {
			fl.Finish(fr, true) // an error, a stale or a freshened stored response
		}
		handed = true
		n.serveFetch(w, r, fr, false)
		return
	}
	if tooBig := h.resp.ContentLength > n.maxObject; tooBig || !store {
		if tooBig {
			n.markPass(key, true)
		}
		if fl != nil {
			fl.Finish(nil, false) // waiters fetch on their own, at once
		}
		handed = true
		n.servePass(w, r, fx, h)
		return
	}
	f := newFill(h.resp.ContentLength, n.maxObject, true)
	handed = true
	if !n.goFill(func() { n.runFill(fx, f, h, key, fl) }) {
		h.resp.Body.Close()
		fx.release()
		if fl != nil {
			fl.Finish(nil, false)
		}
		n.writeError(w, r, ErrClosed)
		return
	}
	n.serveFill(w, r, f, h)
}

// goFill runs fn on a goroutine that Close waits for, and reports false,
// running nothing, once Close has begun. The check and the WaitGroup's Add
// are one step under fillMu, so an Add never races Close's Wait (a
// WaitGroup must not gain work while Wait may be returning).
func (n *Node) goFill(fn func()) bool {
	n.fillMu.Lock()
	defer n.fillMu.Unlock()
	if n.closed.Load() {
		return false
	}
	n.bgWG.Add(1)
	go func() {
		defer n.bgWG.Done()
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

// servePass copies h's body to w through one window-sized buffer; the
// fetch follows the client from now on.
func (n *Node) servePass(w http.ResponseWriter, r *http.Request, fx *fetchCtx, h *head) {
	fx.followClient(r)
	defer fx.release()
	defer h.resp.Body.Close()
	n.writeStreamHead(w, h, fmt.Sprintf("fwd=%s; fwd-status=%d; detail=too-large", h.fwd, h.resp.StatusCode))
	if r.Method == http.MethodHead {
		return
	}
	n.streamBody(w, r, h, func(buf []byte) (int, error) {
		nr, err := h.resp.Body.Read(buf)
		n.st.bytesFromOrigin.Add(uint64(nr))
		if err != nil && err != io.EOF && r.Context().Err() == nil {
			n.st.originErrors.Add(1) // not the client's leaving
		}
		return nr, err
	})
}

// serveFill answers w from a fill: complete when the body ends soon
// enough (a known length, or an unknown one within a window), streamed as
// it arrives otherwise.
func (n *Node) serveFill(w http.ResponseWriter, r *http.Request, f *fill, h *head) {
	defer f.detach()
	ctx := r.Context()
	hold := int64(window)
	if h.resp.ContentLength >= 0 {
		hold = n.maxObject // the whole object, which is being stored anyway
	}
	if ct, _, _ := strings.Cut(h.resp.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "text/event-stream") {
		hold = 0
	}
	fr, err := f.await(ctx, hold)
	if err != nil {
		if ctx.Err() == nil {
			n.writeError(w, r, err)
		}
		return
	}
	if fr != nil {
		n.serveFetch(w, r, fr, false)
		return
	}
	n.writeStreamHead(w, h, fmt.Sprintf("fwd=%s; fwd-status=%d", h.fwd, h.resp.StatusCode))
	if r.Method == http.MethodHead {
		return
	}
	n.streamBody(w, r, h, func(buf []byte) (int, error) { return f.read(ctx, buf) })
}

// streamBody copies a body to w through one window-sized buffer, with
// read as its source, flushing each piece when the length is unknown. It
// ends when the body does or the client leaves; an origin failure
// mid-body aborts the response, so the client never sees an end.
func (n *Node) streamBody(w http.ResponseWriter, r *http.Request, h *head, read func([]byte) (int, error)) {
	bp := n.window()
	defer n.putWindow(bp)
	buf := *bp
	flush := h.resp.ContentLength < 0
	for {
		nr, err := read(buf)
		if nr > 0 {
			if _, werr := w.Write(buf[:nr]); werr != nil {
				return // the client left
			}
			if flush {
				http.NewResponseController(w).Flush()
			}
		}
		if err == io.EOF || r.Context().Err() != nil {
			return
		}
		if err != nil {
			n.log.Debug("edge: origin failed mid-body", zap.String("url", r.URL.String()), zap.Error(err))
			panic(http.ErrAbortHandler) // truncate: the client must not see an end
		}
	}
}

// writeStreamHead sends the head of a response whose body follows as it
// arrives from the origin.
func (n *Node) writeStreamHead(w http.ResponseWriter, h *head, cacheStatus string) {
	hdr := w.Header()
	from := h.resp.Header.Clone()
	cache.StripHopByHop(from) // RFC 9110 §7.6.1
	copyHeader(hdr, from, n.keepSurrogate)
	if cl := h.resp.ContentLength; cl >= 0 && bodyAllowed(h.resp.StatusCode) {
		hdr["Content-Length"] = []string{strconv.FormatInt(cl, 10)}
	}
	n.decorate(hdr, cacheStatus, "MISS")
	w.WriteHeader(h.resp.StatusCode)
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
