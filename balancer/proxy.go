package balancer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/h1"
	"github.com/edgekit/edgekit/internal/reqid"
	"github.com/edgekit/edgekit/internal/reqmatch"
	"github.com/edgekit/edgekit/internal/retry"
	"go.uber.org/zap"
)

// Route sends matching requests to a pool. Empty fields match anything.
// A plain value, safe for concurrent use while no goroutine changes it.
type Route struct {
	// Host matches the request's host (without port), case-insensitively.
	Host string
	// PathPrefix matches the start of the URL path.
	PathPrefix string
	// Header and Value match a request header (Value "" means present).
	Header, Value string
	// Pool is the Balancer (a *Pool or any other) for matching requests.
	Pool Balancer
}

func (rt *Route) matches(r *http.Request) bool {
	m := reqmatch.Match{Host: rt.Host, PathPrefix: rt.PathPrefix, Header: rt.Header, Value: rt.Value}
	return m.Matches(r)
}

// StickyCookie configures cookie-based session affinity.
// A plain value, safe for concurrent use while no goroutine changes it.
type StickyCookie struct {
	// Name of the cookie. Empty disables sticky sessions.
	Name string
	// MaxAge of the cookie; zero means a session cookie.
	MaxAge time.Duration
}

// ProxyConfig configures an L7 Proxy. Pool (or Routes) is required.
// A plain value, safe for concurrent use while no goroutine changes it.
// NewProxy copies it.
type ProxyConfig struct {
	// Pool is the Balancer (a *Pool or any other) for requests no Route
	// matches.
	Pool Balancer
	// Routes are tried in order.
	Routes []Route
	// Key computes PickInfo.Key for balancers that read it (a Pool with
	// Maglev, RingHash, Rendezvous, BoundedLoad, Jump or a Policy that
	// does not say, see KeyReader); others never call it. Nil means the
	// request's host and path.
	Key func(*http.Request) string
	// Sticky pins a client to a backend with a cookie while it is
	// healthy, and re-pins it when it is not. It needs a balancer that
	// implements StickyBalancer (Pool does); others ignore the cookie.
	Sticky StickyCookie
	// Retries bounds extra attempts of idempotent requests on other
	// backends after a failed connection or a backend that closed it
	// without answering. Zero means 2; negative none.
	Retries int
	// Transport sends requests to backends. Nil means the proxy's own
	// HTTP/1.1 transport: up to 512 idle keep-alive connections per
	// backend, request and response handled on the request's goroutine
	// for body-less idempotent requests, http.Transport for the rest.
	Transport http.RoundTripper
	// BackendTLS, if set, reaches backends over TLS (https) with this
	// configuration: the authorities trusted to sign their certificates
	// (RootCAs; nil means the system's), a client certificate for
	// backends that require one (mTLS), the name verified (ServerName;
	// empty means the backend's host). Certificates are verified unless
	// InsecureSkipVerify. It needs the default Transport (a Transport of
	// your own carries its own TLS settings). NewProxy copies it. Nil
	// means plain HTTP. package tlsfront's ClientTLS builds one from files.
	BackendTLS *tls.Config
	// ServerTimeout bounds each wait for a backend: for its response
	// head, then between reads of its body (HAProxy's "timeout server").
	// A backend that stalls past it fails the attempt (504 if the client
	// has had nothing yet, a cut-off body otherwise) and the failure
	// counts toward its ejection. Zero means DefaultServerTimeout;
	// negative means no limit.
	ServerTimeout time.Duration
	// TrustForwarded keeps incoming X-Forwarded-For/Forwarded and
	// appends to them; false replaces them (the safe default at an edge).
	TrustForwarded bool
	// Logger receives proxy errors at debug level. Nil means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called at request events: request start and
	// end, each backend attempt, retries (see Trace). Nil means none.
	Trace *Trace
	// AccessLog, if set, receives one line per request at info level
	// (see package doc, # Access log). Nil means no access log.
	AccessLog *zap.Logger
}

// Proxy is an L7 load balancer: an http.Handler on httputil.ReverseProxy
// that picks a backend per request. It is safe for concurrent use.
type Proxy struct {
	cfg     ProxyConfig
	timeout time.Duration // ServerTimeout resolved; 0 for none
	rp      *httputil.ReverseProxy
	tr      http.RoundTripper
	log     *zap.Logger
	retry   int
	trace   *Trace           // ProxyConfig.Trace; an empty one with only AccessLog
	access  *zap.Logger      // ProxyConfig.AccessLog
	ids     *reqid.Generator // request IDs, with access
}

var (
	_ http.Handler      = (*Proxy)(nil)
	_ http.RoundTripper = retryTransport{}
)

// NewProxy returns a Proxy configured by cfg.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.Pool == nil && len(cfg.Routes) == 0 {
		return nil, fmt.Errorf("%w: ProxyConfig needs a Pool or Routes", ErrInvalidConfig)
	}
	cfg.Routes = slices.Clone(cfg.Routes) // read per request: the caller's slice may change
	p := &Proxy{cfg: cfg, tr: cfg.Transport, log: cfg.Logger, retry: cfg.Retries}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	p.retry = cmp.Or(p.retry, 2)
	p.trace, p.access = cfg.Trace, cfg.AccessLog
	if p.access != nil {
		p.ids = reqid.New()
		if p.trace == nil {
			p.trace = &Trace{}
		}
	}
	switch {
	case cfg.ServerTimeout > 0:
		p.timeout = cfg.ServerTimeout
	case cfg.ServerTimeout == 0:
		p.timeout = DefaultServerTimeout
	}
	scheme := "http"
	if cfg.BackendTLS != nil {
		if cfg.Transport != nil {
			return nil, fmt.Errorf("%w: BackendTLS needs the default Transport", ErrInvalidConfig)
		}
		scheme = "https"
	}
	if p.tr == nil {
		tr := h1.New(3*time.Second, false)
		tr.Logger = p.log.Named("h1")
		tr.Fallback.TLSClientConfig = cfg.BackendTLS.Clone() // https goes to the fallback
		p.tr = tr
	}
	p.rp = &httputil.ReverseProxy{
		BufferPool: &bufferPool{},
		// ReverseProxy's own complaints (a body copy cut off) go to the
		// injected logger at debug level, not the standard log.
		ErrorLog: debugLog(p.log),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pk := &pickFrom(pr.In.Context()).pk
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = pk.Backend().Addr
			pr.Out.Host = pr.In.Host
			setForwarding(pr.Out, pr.In, cfg.TrustForwarded)
		},
		Transport: retryTransport{p},
		ModifyResponse: func(resp *http.Response) error {
			if pc := pickFrom(resp.Request.Context()); pc != nil && pc.pk.valid() && p.cfg.Sticky.Name != "" {
				c, err := resp.Request.Cookie(p.cfg.Sticky.Name)
				if h, ok := parseSticky(cookieValue(c, err)); !ok || h != pc.pk.idHash() {
					ck := &http.Cookie{Name: p.cfg.Sticky.Name, Value: stickyValue(pc.pk.idHash()), Path: "/", HttpOnly: true}
					if p.cfg.Sticky.MaxAge > 0 {
						ck.MaxAge = int(p.cfg.Sticky.MaxAge / time.Second)
					}
					resp.Header.Add("Set-Cookie", ck.String())
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Debug("balancer: proxy error", zap.Error(err))
			code := http.StatusBadGateway
			var client *blame.ClientError
			switch {
			case errors.As(err, &client):
				code = http.StatusBadRequest // the client's fault, not a gateway's
			case errors.Is(err, context.DeadlineExceeded):
				code = http.StatusGatewayTimeout
			}
			http.Error(w, "balancer: no backend could serve the request", code)
		},
	}
	return p, nil
}

// bufferPool recycles one proxy's copy buffers (ReverseProxy would
// allocate 32 KiB per request). Buffers travel in boxes (*[]byte), and
// emptied boxes are kept too, so neither Get nor Put allocates once warm.
type bufferPool struct{ bufs, boxes sync.Pool }

func (b *bufferPool) Get() []byte {
	if box, ok := b.bufs.Get().(*[]byte); ok {
		buf := *box
		*box = nil
		b.boxes.Put(box)
		return buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	box, ok := b.boxes.Get().(*[]byte)
	if !ok {
		box = new([]byte)
	}
	*box = buf
	b.bufs.Put(box)
}

// setForwarding sets the forwarding fields of a request leaving this hop:
// X-Forwarded-For (the client address, after the incoming list when
// trusted), X-Forwarded-Host, X-Forwarded-Proto, as ReverseProxy's
// SetXForwarded does, and an RFC 7239 Forwarded element (after the
// incoming ones when trusted). The four values share one backing array.
func setForwarding(out, in *http.Request, trust bool) {
	vals := make([]string, 4)
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := in.Header["X-Forwarded-For"]; trust && len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		vals[0] = ip
		out.Header["X-Forwarded-For"] = vals[0:1:1]
	} else {
		delete(out.Header, "X-Forwarded-For")
	}
	vals[1] = in.Host
	out.Header["X-Forwarded-Host"] = vals[1:2:2]
	vals[2] = "http"
	if in.TLS != nil {
		vals[2] = "https"
	}
	out.Header["X-Forwarded-Proto"] = vals[2:3:3]
	vals[3] = forwardedElement(in, vals[2])
	if prior := in.Header.Values("Forwarded"); trust && len(prior) > 0 {
		vals[3] = strings.Join(prior, ", ") + ", " + vals[3]
	}
	out.Header["Forwarded"] = vals[3:4:4]
}

// forwardedElement is this hop's RFC 7239 Forwarded element.
func forwardedElement(in *http.Request, proto string) string {
	var arr [128]byte
	b := append(arr[:0], "for="...)
	if ap, err := netip.ParseAddrPort(in.RemoteAddr); err == nil {
		a := ap.Addr().Unmap()
		if a.Is6() {
			// An IPv6 node must be quoted (RFC 7239 §6).
			b = append(b, `"[`...)
			b = a.AppendTo(b)
			b = append(b, `]"`...)
		} else {
			b = a.AppendTo(b)
		}
	} else {
		b = append(b, "unknown"...)
	}
	b = append(b, ";proto="...)
	b = append(b, proto...)
	if in.Host != "" && !strings.ContainsAny(in.Host, "\";,\\") {
		b = append(b, `;host="`...)
		b = append(b, in.Host...)
		b = append(b, '"')
	}
	return string(b)
}

// stickyValue is the cookie value naming a backend: the hash of its ID in
// 16 hex digits (stable across restarts and processes: hashString is
// unseeded).
func stickyValue(h uint64) string {
	const hexd = "0123456789abcdef"
	var b [16]byte
	for i := range b {
		b[i] = hexd[(h>>(60-4*i))&0xf]
	}
	return string(b[:])
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil {
		return ""
	}
	return c.Value
}

// parseSticky reads a cookie value written by stickyValue.
func parseSticky(v string) (uint64, bool) {
	if len(v) != 16 {
		return 0, false
	}
	h, err := strconv.ParseUint(v, 16, 64)
	return h, err == nil
}

func (p *Proxy) poolFor(r *http.Request) Balancer {
	for i := range p.cfg.Routes {
		if p.cfg.Routes[i].matches(r) {
			return p.cfg.Routes[i].Pool
		}
	}
	return p.cfg.Pool
}

func (p *Proxy) key(r *http.Request) string {
	if p.cfg.Key != nil {
		return p.cfg.Key(r)
	}
	return r.Host + r.URL.Path
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.trace != nil {
		p.serveTraced(w, r)
		return
	}
	p.serve(w, r)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	pool := p.poolFor(r)
	if pool == nil {
		http.Error(w, "balancer: no route for this request", http.StatusNotFound)
		return
	}
	pk, err := p.pick(pool, r, nil)
	if err != nil {
		http.Error(w, "balancer: no backend available", http.StatusServiceUnavailable)
		return
	}
	pc := withPick(r.Context(), pk, pool)
	p.rp.ServeHTTP(w, r.WithContext(pc))
	// The request stays "in flight" until its response is served, so
	// least-request policies see streaming responses as load.
	pc.pk.Done(DoneInfo{Latency: pc.pk.lat})
}

// CloseIdleConnections closes idle keep-alive connections to backends
// when the transport supports it (the default one does).
func (p *Proxy) CloseIdleConnections() {
	if c, ok := p.tr.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// pick honours a sticky cookie naming a healthy backend, then the policy.
func (p *Proxy) pick(b Balancer, r *http.Request, exclude []string) (Pick, error) {
	if p.cfg.Sticky.Name != "" && len(exclude) == 0 {
		if sb, ok := b.(StickyBalancer); ok {
			c, err := r.Cookie(p.cfg.Sticky.Name)
			if h, ok := parseSticky(cookieValue(c, err)); ok {
				if pk, ok := sb.PickByIDHash(h); ok {
					return pk, nil
				}
			}
		}
	}
	info := PickInfo{Exclude: exclude}
	if k, ok := b.(KeyReader); !ok || k.ReadsKey() {
		info.Key = p.key(r)
	}
	return b.Pick(info)
}

// retryTransport retries idempotent requests on another backend when the
// connection to the chosen one fails before a response. Only failures of
// the backend count toward its ejection: one whose fault is the client's
// (internal/blame) is reported as aborted, not retried, and returned as a
// *blame.ClientError (answered 400).
type retryTransport struct{ p *Proxy }

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pc := pickFrom(req.Context())
	pk, pool := &pc.pk, pc.b // retries pick again from the same balancer
	req, body := blame.WrapBody(req)
	var tried []string
	traced, base := t.p.trace != nil, req.Context()
	for attempt := 0; ; attempt++ {
		var b Backend
		if traced {
			b = pk.Backend()
			req = t.p.attemptStart(base, req, b, attempt)
		}
		start := time.Now()
		sent, wd := t.p.watch(req)
		resp, err := t.p.tr.RoundTrip(sent)
		if traced {
			t.p.attemptDone(req.Context(), b, attempt, resp, time.Since(start), err)
		}
		if err == nil {
			pk.lat = time.Since(start) // time to first byte
			if wd != nil {
				if resp.StatusCode == http.StatusSwitchingProtocols {
					// The body is the upgraded connection, which
					// ReverseProxy writes to as well: a tunnel has no
					// response to wait for, so the watchdog stands down
					// (its context ends with the client's request).
					wd.timer.Stop()
				} else {
					wd.rc, resp.Body = resp.Body, wd
				}
			}
			return resp, nil
		}
		if wd != nil {
			err = wd.failed(err)
		}
		if !blame.Backend(req.Context(), req, body, err) {
			pk.Done(DoneInfo{Aborted: true})
			pk.m, pk.x = nil, nil // reported
			return nil, &blame.ClientError{Err: err}
		}
		failed := pk.Backend().ID
		pk.Done(DoneInfo{Err: err, Latency: time.Since(start)})
		pk.m, pk.x = nil, nil // reported
		if attempt >= t.p.retry || !retryable(req, err) || pool == nil || req.Context().Err() != nil {
			return nil, err
		}
		tried = append(tried, failed)
		next, perr := t.p.pick(pool, req, tried)
		if perr != nil {
			return nil, err
		}
		if traced && t.p.trace.Retry != nil {
			t.p.trace.Retry(req.Context(), RetryEvent{Failed: b, Attempt: attempt + 1, Err: err})
		}
		*pk = next
		req = req.Clone(req.Context())
		req.URL.Host = next.Backend().Addr
	}
}

// debugLog is a standard library logger writing to l at debug level.
func debugLog(l *zap.Logger) *log.Logger {
	std, err := zap.NewStdLogAt(l, zap.DebugLevel)
	if err != nil { // only for an invalid level
		return zap.NewStdLog(l)
	}
	return std
}

// DefaultServerTimeout is what a zero ProxyConfig.ServerTimeout means: the
// "timeout server" of HAProxy's packaged configuration.
const DefaultServerTimeout = 50 * time.Second

// errServerTimeout ends an attempt whose backend stalled past ServerTimeout.
var errServerTimeout = fmt.Errorf("balancer: backend stalled past ServerTimeout: %w", context.DeadlineExceeded)

// watchdog ends an attempt, through its context, when the backend stalls
// past the proxy's ServerTimeout: first while the response head is
// awaited, then between reads of the body it wraps.
type watchdog struct {
	d      time.Duration
	timer  *time.Timer
	ctx    context.Context
	cancel context.CancelCauseFunc
	rc     io.ReadCloser
}

// watch returns req under a watchdog (nil when there is no timeout).
func (p *Proxy) watch(req *http.Request) (*http.Request, *watchdog) {
	if p.timeout <= 0 {
		return req, nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{d: p.timeout, ctx: ctx, cancel: cancel}
	w.timer = time.AfterFunc(p.timeout, func() { cancel(errServerTimeout) })
	return req.WithContext(ctx), w
}

// failed ends a failed attempt's watchdog and names a stall as one.
func (w *watchdog) failed(err error) error {
	w.timer.Stop()
	w.cancel(nil)
	if context.Cause(w.ctx) == errServerTimeout && !errors.Is(err, errServerTimeout) {
		return fmt.Errorf("%w (%w)", errServerTimeout, err)
	}
	return err
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	if n > 0 {
		w.timer.Reset(w.d)
	}
	if err != nil && err != io.EOF && context.Cause(w.ctx) == errServerTimeout {
		err = errServerTimeout
	}
	return n, err
}

func (w *watchdog) Close() error {
	w.timer.Stop()
	err := w.rc.Close()
	w.cancel(nil)
	return err
}

func retryable(req *http.Request, err error) bool {
	if !retry.Replayable(req) {
		return false
	}
	// The connection failed, or the backend closed it before answering
	// (a backend killed with the request in flight).
	var op *net.OpError
	var none *h1.NoResponseError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &none)
}
