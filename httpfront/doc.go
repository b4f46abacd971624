// Package httpfront is a lean HTTP/1.1 server for the front of a proxy: a
// drop-in for net/http's Server where the handler is a reverse proxy (a
// balancer.Proxy, an edge.Node, an httputil.ReverseProxy) and most of what
// http.Server does per request is paid for without being used.
//
//	srv := &httpfront.Server{Handler: proxy}
//	err := srv.Serve(ctx, ln) // until ctx is done, then a graceful drain
//
// Requests are parsed by net/http's own http.ReadRequest, and any
// http.Handler works unchanged: it gets a *http.Request and an
// http.ResponseWriter that is also an http.Flusher and an http.Hijacker
// (http.NewResponseController works).
//
// # What it supports
//
// HTTP/1.1 and HTTP/1.0 over keep-alive connections, pipelining, request
// bodies (fixed and chunked; what a handler leaves unread is drained
// between requests up to 256 KiB, beyond that the connection closes),
// Expect: 100-continue (answered at once), informational (1xx) responses
// (sent to HTTP/1.1 clients only, RFC 9110 §15.2), HEAD, trailers, protocol
// switches by Hijack (WebSocket through a proxy), OPTIONS * (answered by
// the server, 200 with Content-Length: 0, as net/http's does before any
// handler, RFC 9110 §9.3.7), graceful shutdown, and
// recovery of a handler's panic (http.ErrAbortHandler silently) by closing
// that connection.
//
// A request's context is cancelled when its client goes away while the
// handler runs (as net/http's is: the connection is read in the background
// once the request has no body left to read, and what a pipelined next
// request sends is kept, not taken for a departure), and when the handler
// returns. A proxy behind it so stops backend work for departed clients.
// As with net/http, a handler that leaves the body unread is not told, and
// a client that half-closes its side counts as gone (a read EOF cannot
// tell the two apart); a handler decides what that means for its work
// (package edge's engine does not abort a forwarded request on it, and
// answers a half-closed client).
//
// # What it refuses
//
// What net/http's server refuses in a request head (400, 431, 501, 505,
// then the connection closes: malformed request lines and fields, several
// or invalid Host fields, an HTTP/1.1 request without Host, whitespace
// before a field's colon, control characters in values, unsupported
// transfer codings or Expect values, HTTP/2 prefaces). It is stricter
// where net/http is lax about framing (RFC 9112 §6.1): a request with both
// Transfer-Encoding and Content-Length, or an HTTP/1.0 request with
// Transfer-Encoding, closes its connection after the response. A request
// body that proves malformed (a bad chunk) or stalls (BodyIdleTimeout)
// closes the connection after the response, and if the handler answers it
// with a 5xx (a proxy whose upload failed) the client gets 400 or 408
// instead: the fault is the client's, not a backend's.
//
// # Timeouts
//
// ReadHeaderTimeout (default 10 s, HAProxy's "timeout http-request")
// bounds each whole request head and so also keep-alive idleness;
// BodyIdleTimeout (default 60 s, nginx's client_body_timeout) bounds each
// wait for request body bytes; ShutdownTimeout (default 5 s) bounds the
// drain of requests in flight once Serve's context is done. Writes have no
// deadline of their own (a proxy's handler bounds its backend, and a
// client that stops reading is cut by the kernel's send buffer and the
// connection's close on shutdown).
//
// # TLS
//
// Serve a listener of TLS connections (tls.NewListener, with a
// package tlsfront Front's config, say): each handshake completes on the
// connection's goroutine under ReadHeaderTimeout, requests carry its
// state in r.TLS, and a connection whose ALPN negotiated "h2" (RFC 9113
// §3.2) is served with HTTP/2 by golang.org/x/net/http2 with the same
// Handler (ReadHeaderTimeout is also its idle timeout; on shutdown it gets
// GOAWAY and the same drain as the rest).
//
// # How it differs from net/http
//
// It leaves out what a proxy front does not use: HTTP/2, TLS (wrap the
// listener), content sniffing (no Content-Type is invented) and automatic
// Content-Length (a response whose handler sets none is sent chunked to
// HTTP/1.1 clients, delimited by closing the connection for HTTP/1.0),
// ConnState and ErrorLog hooks, and the server context values
// (http.ServerContextKey, http.LocalAddrContextKey). Read deadlines are
// set once per request at most, and refreshed coarsely (within 1/8 of the
// timeout); a connection reuses its response writer, header map and
// buffers from request to request, and writes responses of pipelined
// requests together. Like net/http it writes header fields sorted by
// name, so that one response is the same bytes as the next (about 0.4 µs
// for a dozen fields, BenchmarkServerWriteHead). Request contexts carry the values of Serve's context
// but not its cancellation: Serve's end drains, it does not abort.
//
// # Concurrency
//
// A Server is safe for concurrent use: Serve may run for several listeners
// at once. Each connection is served by one goroutine, plus a short-lived
// one that watches for the client leaving while a handler runs (its read,
// into a 4 KiB buffer made once per connection, is then the first read of
// the next request); Serve waits for them (up to ShutdownTimeout, then
// closes the connections).
package httpfront
