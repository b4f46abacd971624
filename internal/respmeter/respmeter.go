// Package respmeter measures what a handler writes to an
// http.ResponseWriter: the final status, when it was written, and the
// body bytes. Packages that report requests served (access logs, trace
// hooks) wrap the writer with it only when something listens.
package respmeter

import (
	"net/http"
	"time"
)

// Writer wraps an http.ResponseWriter and records what goes through it.
// It is as safe for concurrent use as the writer it wraps (that is, not:
// one handler goroutine writes). Now must be set.
type Writer struct {
	http.ResponseWriter
	Now func() time.Time
	// Status is the final status written (a 1xx other than 101 is not
	// final); 0 until then. First is when it was written.
	Status int
	First  time.Time
	// Bytes counts the body bytes written.
	Bytes int64
}

// WriteHeader implements http.ResponseWriter.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.Status, w.First = code, w.Now()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status, w.First = http.StatusOK, w.Now()
	}
	n, err := w.ResponseWriter.Write(b)
	w.Bytes += int64(n)
	return n, err
}

// Flush keeps the writer an http.Flusher for callers that assert it.
func (w *Writer) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the writer underneath (Flush,
// Hijack, deadlines).
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
