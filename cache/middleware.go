package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"

	"github.com/edgekit/edgekit/internal/hop"
)

// MiddlewareConfig configures a Middleware. Cache nil means a new shared
// HTTPCache with default settings.
type MiddlewareConfig struct {
	Cache Cache
	// MaxBodyBytes is the largest response body buffered to store. Zero
	// means 8 MiB. A larger body streams to the client as the handler
	// writes it, unstored, through a goroutine that runs the handler and
	// ends with it.
	MaxBodyBytes int64
	// Trace, if set, is called at the events of every request a wrapped
	// handler serves, as for an Engine's ServeHTTP and a Transport's
	// RoundTrip (see Trace): RequestStart first (the context it returns
	// becomes the request's: the handler's fetches run under it),
	// RequestDone once the response is over, and the engine's origin
	// fetches (each a run of the wrapped handler), revalidations and
	// collapsed waits. Nil (the zero value) calls nothing and costs a
	// request one pointer check, no allocation.
	Trace *Trace
}

// Middleware puts a shared cache (RFC 9111, the Engine's flow) in front of
// http.Handlers: Wrap(next) answers from the cache when it may, and
// otherwise runs next as the engine's upstream, buffering its response to
// store it. Responses leave without hop-by-hop fields (RFC 9110 §7.6.1),
// stored or not, as from any cache in front of a server; a request to
// switch protocols (Upgrade) goes to next directly. It is safe for
// concurrent use. Background revalidations and fetches being stored run
// in goroutines the Middleware owns; Close cancels and waits for them.
type Middleware struct {
	cfg     MiddlewareConfig
	mu      sync.Mutex
	engines []*Engine
}

// NewMiddleware returns a Middleware configured by cfg.
func NewMiddleware(cfg MiddlewareConfig) (*Middleware, error) {
	if cfg.MaxBodyBytes < 0 {
		return nil, ErrInvalidConfig
	}
	if cfg.Cache == nil {
		c, err := New(Config{Shared: true})
		if err != nil {
			return nil, err
		}
		cfg.Cache = c
	}
	return &Middleware{cfg: cfg}, nil
}

// Wrap returns next behind the cache: an Engine whose upstream runs next.
// Responses carry X-Cache. Wrap fails only on a config NewMiddleware
// already accepted, so it returns next behind nothing but a 500 then.
//
// With MiddlewareConfig.Trace set, RequestDone is called once per
// request, when the response is over: written in full, cut short (the
// client left, or next failed or panicked mid-body: the panic goes on to
// the server), or never begun. RequestInfo carries the engine's own cache
// status (never an X-Cache that next wrote; OutcomePass for a protocol
// switch, which goes to next directly), the status and body bytes
// written to the client, TTFB (to the status being written) and
// Duration.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	maxBody := m.cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxObjectBytes
	}
	e, err := NewEngine(EngineConfig{Cache: m.cfg.Cache, Upstream: handlerTransport{next, maxBody}, MaxObjectBytes: maxBody,
		Trace: m.cfg.Trace})
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})
	}
	m.mu.Lock()
	m.engines = append(m.engines, e)
	m.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hop.Upgrade(r.Header) != "" {
			// A protocol switch: nothing to cache or buffer.
			if e.trace != nil {
				serveTraced(e.trace, e.now, w, r, passTo{next}.serve)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		e.ServeHTTP(w, r)
	})
}

// passTo serves through h what the cache does not handle.
type passTo struct{ h http.Handler }

func (p passTo) serve(w http.ResponseWriter, r *http.Request) Outcome {
	p.h.ServeHTTP(w, r)
	return OutcomePass
}

// Close stops the background work of every wrapped handler and waits for
// it. It is idempotent.
func (m *Middleware) Close() error {
	m.mu.Lock()
	engines := m.engines
	m.mu.Unlock()
	for _, e := range engines {
		e.Close()
	}
	return nil
}

// handlerTransport runs a handler as if it were a server across a network.
// A response body up to max bytes is buffered whole; above that, the
// handler runs on in a goroutine of its own that writes into the returned
// body as the caller reads it (and ends when the body is closed: its
// writes then fail). 1xx responses the handler writes go to the
// request's Got1xxResponse hook, as http.Transport delivers an origin's.
type handlerTransport struct {
	h   http.Handler
	max int64
}

// errHandlerPanic reports a handler that panicked before or while its
// response was read.
var errHandlerPanic = errors.New("cache: handler panicked")

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	rec := &recorder{header: http.Header{}, max: t.max, pw: pw, ready: make(chan struct{}),
		trace: httptrace.ContextClientTrace(req.Context())}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				rec.fail(fmt.Errorf("%w: %v", errHandlerPanic, p))
			}
		}()
		t.h.ServeHTTP(rec, in)
		rec.finish()
	}()
	<-rec.ready
	if rec.err != nil {
		pr.Close()
		return nil, rec.err
	}
	resp := &http.Response{
		Status:     statusLine(rec.status),
		StatusCode: rec.status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     rec.final,
		Request:    req,
	}
	if rec.streaming {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(rec.body.Bytes()), pr), pr}
		resp.ContentLength = -1
		return resp, nil
	}
	pr.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rec.body.Bytes()))
	resp.ContentLength = int64(rec.body.Len())
	return resp, nil
}

// recorder is the handler's ResponseWriter. Until ready is closed only
// the handler's goroutine touches it; then RoundTrip reads status, final,
// body and err, which no longer change.
type recorder struct {
	header      http.Header
	final       http.Header // header as of the final WriteHeader
	status      int
	wroteHeader bool
	body        bytes.Buffer
	max         int64
	streaming   bool // body beyond max: later writes go to pw
	pw          *io.PipeWriter
	ready       chan struct{}
	err         error
	trace       *httptrace.ClientTrace
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An interim response (RFC 9110 §15.2): passed on, never the
		// final status; as with net/http, its fields stay in the header
		// map unless the handler removes them.
		if r.trace != nil && r.trace.Got1xxResponse != nil {
			r.trace.Got1xxResponse(code, textproto.MIMEHeader(r.header.Clone()))
		}
		return
	}
	r.status, r.wroteHeader = code, true
	r.final = r.header.Clone()
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.streaming {
		return r.pw.Write(b)
	}
	r.body.Write(b)
	if int64(r.body.Len()) > r.max {
		r.streaming = true
		close(r.ready)
	}
	return len(b), nil
}

// Flush starts streaming: a handler that flushes wants its bytes sent.
func (r *recorder) Flush() {
	r.WriteHeader(http.StatusOK)
	if !r.streaming {
		r.streaming = true
		close(r.ready)
	}
}

// finish runs when the handler returns.
func (r *recorder) finish() {
	r.WriteHeader(http.StatusOK)
	if r.streaming {
		r.pw.Close()
		return
	}
	close(r.ready)
}

// fail ends the exchange after a handler panic.
func (r *recorder) fail(err error) {
	if r.streaming {
		r.pw.CloseWithError(err)
		return
	}
	r.err = err
	close(r.ready)
}
