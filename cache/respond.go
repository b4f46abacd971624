package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/edgekit/edgekit/internal/blame"
	"go.uber.org/zap"
)

// Writing what the engine serves: to a ResponseWriter (ServeHTTP), or as
// an *http.Response (RoundTrip).

// write sends an answer to w.
func (e *Engine) write(w http.ResponseWriter, r *http.Request, a *answer) {
	switch {
	case a.gone:
		return
	case a.err != nil:
		e.writeError(w, r, a.err)
	case a.stream != nil:
		e.writeStream(w, r, a)
	default:
		e.writeComplete(w, r, a.status, a.header, a.body, a.age, a.fromCache, Decoration{Outcome: a.outcome, detail: a.detail, ttl: a.ttl})
	}
}

// writeComplete sends a complete response, answering the client's own
// conditional and range requests from it (RFC 9111 §4.3.2, RFC 9110 §14).
func (e *Engine) writeComplete(w http.ResponseWriter, r *http.Request, status int, stored http.Header, body []byte, age time.Duration, withAge bool, d Decoration) {
	h := w.Header()
	e.copyHeader(h, stored, r)
	if withAge {
		h["Age"] = []string{formatAge(age)}
	}
	d.Header, d.Request = h, r
	e.decorate(d)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // do not sniff a type the origin did not send
	}
	rh := r.Header
	if status == http.StatusOK && (has(rh, "Range") || has(rh, "If-None-Match") ||
		has(rh, "If-Modified-Since") || has(rh, "If-Match") || has(rh, "If-Unmodified-Since")) &&
		writeConditional(w, r, h, stored, body, e.now()) {
		return
	}
	if status == http.StatusOK {
		// RFC 9110 §14.3: ranges of a complete 200 are served from it
		// (writeConditional), whatever the origin supports.
		h["Accept-Ranges"] = acceptBytes
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead && status != http.StatusNotModified && status != http.StatusNoContent {
		w.Write(body)
	}
}

// acceptBytes is the Accept-Ranges value, shared read-only by responses.
var acceptBytes = []string{"bytes"}

// copyHeader copies a stored or fetched header into a response to r,
// sharing the value slices (they are never modified), minus
// Content-Length and the hidden fields (unless r is revealed to).
func (e *Engine) copyHeader(dst, src http.Header, r *http.Request) {
	hide := len(e.hide) > 0 && (e.reveal == nil || !e.reveal(r))
	for k, v := range src {
		if k == "Content-Length" || hide && e.hidden(k) {
			continue
		}
		dst[k] = v
	}
}

func (e *Engine) hidden(k string) bool {
	for _, f := range e.hide {
		if f == k {
			return true
		}
	}
	return false
}

// writeStream sends the head of a response whose body follows as it
// arrives, then the body through one window-sized buffer, flushing each
// piece when the length is unknown. It ends when the body does or the
// client leaves; an origin failure mid-body aborts the response, so the
// client never sees an end.
func (e *Engine) writeStream(w http.ResponseWriter, r *http.Request, a *answer) {
	defer a.stream.Close()
	h := w.Header()
	e.copyHeader(h, a.header, r)
	if a.length >= 0 && bodyAllowed(a.status) {
		h["Content-Length"] = []string{strconv.FormatInt(a.length, 10)}
	}
	e.decorate(Decoration{Header: h, Request: r, Outcome: a.outcome, detail: a.detail})
	w.WriteHeader(a.status)
	if r.Method == http.MethodHead {
		return
	}
	bp := e.window()
	defer e.putWindow(bp)
	buf := *bp
	flush := a.length < 0
	for {
		nr, err := a.stream.Read(buf)
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
			e.log.Debug("cache: origin failed mid-body", zap.String("url", r.URL.String()), zap.Error(err))
			a.stream.Close()
			panic(http.ErrAbortHandler) // truncate: the client must not see an end
		}
	}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeError answers when no origin could be reached: 504 for timeouts,
// 400 for the client's own fault, 502 otherwise, with a plain body saying
// so.
func (e *Engine) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e.writeErrorAs(w, r, err, Decoration{Outcome: OutcomeMiss, detail: "fwd=uri-miss; detail=origin-unreachable"})
}

// writeErrorAs is writeError with the decoration (outcome and RFC 9211
// parameters) of the path that failed: a pass is not a miss.
func (e *Engine) writeErrorAs(w http.ResponseWriter, r *http.Request, err error, d Decoration) {
	code := http.StatusBadGateway
	var ne net.Error
	var client *blame.ClientError
	switch {
	case errors.As(err, &client):
		code = http.StatusBadRequest // the client's fault (origin.Pool says so), not the origin's
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		code = http.StatusGatewayTimeout
	}
	e.log.Debug("cache: origin failed", zap.String("url", r.URL.String()), zap.Error(err))
	d.Header, d.Request = w.Header(), r
	e.decorate(d)
	http.Error(w, fmt.Sprintf("cache: no origin could serve %s (%s)", r.URL.Path, http.StatusText(code)), code)
}

// response turns an answer into the *http.Response RoundTrip returns.
func (e *Engine) response(r *http.Request, a *answer) *http.Response {
	// The caller owns the response: a deep copy, not the stored slices.
	h := a.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	delete(h, "Content-Length")
	if e.reveal == nil || !e.reveal(r) {
		for _, f := range e.hide {
			delete(h, f)
		}
	}
	if a.fromCache {
		h["Age"] = []string{formatAge(a.age)}
	}
	e.decorate(Decoration{Header: h, Request: r, Outcome: a.outcome, detail: a.detail, ttl: a.ttl})
	resp := &http.Response{
		Status: statusLine(a.status), StatusCode: a.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Request: r,
	}
	switch {
	case a.stream != nil && r.Method == http.MethodHead:
		a.stream.Close()
		resp.Body, resp.ContentLength = http.NoBody, a.length
	case a.stream != nil:
		resp.Body, resp.ContentLength = a.stream, a.length
	default:
		body := a.body
		if r.Method == http.MethodHead || !bodyAllowed(a.status) {
			body = nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(a.body))
	}
	return resp
}
