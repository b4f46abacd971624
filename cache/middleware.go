package cache

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/edgekit/edgekit/internal/hop"
)

// MiddlewareConfig configures a Middleware. Cache nil means a new shared
// HTTPCache with default settings.
type MiddlewareConfig struct {
	Cache Cache
	// MaxBodyBytes is the largest response body buffered to store. Zero
	// means 8 MiB.
	MaxBodyBytes int64
}

// Middleware puts a shared cache (RFC 9111, as Transport applies it) in
// front of http.Handlers: Wrap(next) answers from the cache when it may,
// and otherwise runs next, buffering its response to store it. Responses
// leave without hop-by-hop fields (RFC 9110 §7.6.1), stored or not, as
// from any cache in front of a server; a request to switch protocols
// (Upgrade) goes to next directly. It is safe
// for concurrent use. Background revalidations run in goroutines the
// Middleware owns; Close cancels and waits for them.
type Middleware struct {
	cfg MiddlewareConfig
	mu  sync.Mutex
	trs []*Transport
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

// Wrap returns next behind the cache. Responses carry X-Cache.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	tr := newTransport(TransportConfig{Cache: m.cfg.Cache, Base: handlerTransport{next}, MaxBodyBytes: m.cfg.MaxBodyBytes})
	m.mu.Lock()
	m.trs = append(m.trs, tr)
	m.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hop.Upgrade(r.Header) != "" {
			next.ServeHTTP(w, r) // a protocol switch: nothing to cache or buffer
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		if out.URL.Host == "" {
			out.URL.Host = r.Host
		}
		if out.URL.Scheme == "" {
			out.URL.Scheme = "http"
			if r.TLS != nil {
				out.URL.Scheme = "https"
			}
		}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, "cache: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		if resp.ContentLength >= 0 {
			h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		w.WriteHeader(resp.StatusCode)
		if r.Method != http.MethodHead {
			io.Copy(w, resp.Body)
		}
	})
}

// Close stops the background revalidations of every wrapped handler. It is
// idempotent.
func (m *Middleware) Close() error {
	m.mu.Lock()
	trs := m.trs
	m.mu.Unlock()
	for _, t := range trs {
		t.Close()
	}
	return nil
}

// handlerTransport runs a handler as if it were a server across a network.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, in)
	return &http.Response{
		Status:        strconv.Itoa(rec.status) + " " + http.StatusText(rec.status),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
