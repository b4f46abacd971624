package h1

import (
	"io"
	"net/http"
)

// RequestBodyError is the error RoundTrip returns when reading the
// request's own body failed: its reader returned an error, or it ended
// before its Content-Length (Err is then io.ErrUnexpectedEOF). That is
// the fault of the client that sent the body (it went away mid-upload, or
// lied about the length), not of the backend: a caller that counts
// backend failures should not count it. Match it with errors.As.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string { return "h1: reading the request body: " + e.Err.Error() }
func (e *RequestBodyError) Unwrap() error { return e.Err }

// blameBody returns req with its body's read errors reported as
// *RequestBodyError, or req itself when it has no body. http.Transport
// returns an error of the request body's reader as it is, ahead of what
// the connection did after it.
func blameBody(req *http.Request) *http.Request {
	if req.Body == nil || req.Body == http.NoBody {
		return req
	}
	r := *req // shallow: RoundTrip must not modify the caller's request
	r.Body = &blamedBody{rc: req.Body, remain: req.ContentLength}
	if get := req.GetBody; get != nil {
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &blamedBody{rc: b, remain: req.ContentLength}, nil
		}
	}
	return &r
}

// blamedBody wraps a request body's read errors. It is read by one
// goroutine at a time (http.Transport's writer) and closed once.
type blamedBody struct {
	rc     io.ReadCloser
	remain int64 // bytes still promised by ContentLength; <= 0: unknown or done
}

func (b *blamedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.remain > 0 {
		b.remain -= int64(n)
		if err == io.EOF && b.remain > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil && err != io.EOF {
		err = &RequestBodyError{Err: err}
	}
	return n, err
}

func (b *blamedBody) Close() error { return b.rc.Close() }
