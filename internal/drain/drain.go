// Package drain reads what is left of a response body, within a limit,
// and closes it: an HTTP/1.1 client reuses the connection only when the
// body was read to its end, and a short remainder costs less to read
// than a new connection does; a long one is cut by the close.
package drain

import "io"

// Limit is how much of a body Close reads before closing it.
const Limit = 64 << 10

// Close reads up to Limit bytes of rc and closes it.
func Close(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, Limit))
	rc.Close()
}
