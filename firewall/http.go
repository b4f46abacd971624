package firewall

import (
	"cmp"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/reqmatch"
	"go.uber.org/zap"
)

// HTTPConfig configures the HTTP filter. Every zero value is a documented
// default. NewHTTPFilter reads it once (and copies Rules); changing it
// afterwards has no effect; a plain value, safe for concurrent use
// while no goroutine changes it.
type HTTPConfig struct {
	// Filter judges the client address (a *Firewall, a *RuleSet or your
	// own). Nil means addresses are not judged.
	Filter Filter
	// Limiter rate-limits clients. Nil means no rate limit.
	Limiter *Limiter
	// RealIP names the trusted proxies in front of this server and the
	// header each maintains; only that header is read, walked from the
	// right (see RealIP). Nil means the proxies the Filter names through
	// a method RealIP() *RealIP: for a *Firewall those of its rule set in
	// force (the rule file's "trust" statements, so a reload changes them
	// with the rules, read from the same rule set that judges the
	// request). With none there either, no proxy is trusted: the client
	// is the peer and no forwarding header is read.
	RealIP *RealIP
	// Rules are request rules, first match decides; no match allows.
	// The filter keeps a copy of the slice.
	Rules []HTTPRule
	// MaxHeaderBytes bounds the request's header fields. Zero means 32 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the request body. Zero means no limit.
	MaxBodyBytes int64
	// DisableBuiltin turns off the built-in checks (path traversal, NUL
	// bytes, Content-Length with Transfer-Encoding).
	DisableBuiltin bool
	// DenyStatus is the status of denied requests. Zero means 403.
	DenyStatus int
	// Logger receives denials (at most one per LogEvery). Nil means
	// zap.NewNop().
	Logger *zap.Logger
	// LogEvery samples denial logs. Zero means one per second.
	LogEvery time.Duration
	// Trace, if set, is called at verdicts and rate limits. Nil means
	// none.
	Trace *Trace
}

// HTTPRule matches requests; empty fields match anything. NewHTTPFilter
// copies the rules it is given, so a rule is safe for concurrent use
// while no goroutine changes the slices it holds (Methods).
type HTTPRule struct {
	Name   string
	Action Action
	// Methods lists methods (upper case).
	Methods []string
	// Host matches the request host (no port), case-insensitively.
	Host string
	// PathPrefix, PathRegexp match the URL path.
	PathPrefix string
	PathRegexp *regexp.Regexp
	// Header and HeaderValue match a header (value "" means present).
	Header, HeaderValue string
	// QueryParam matches the presence of a query parameter.
	QueryParam string
}

func (hr *HTTPRule) matches(r *http.Request) bool {
	if len(hr.Methods) > 0 && !slices.Contains(hr.Methods, r.Method) {
		return false
	}
	m := reqmatch.Match{Host: hr.Host, PathPrefix: hr.PathPrefix, Header: hr.Header, Value: hr.HeaderValue}
	if !m.Matches(r) {
		return false
	}
	if hr.PathRegexp != nil && !hr.PathRegexp.MatchString(r.URL.Path) {
		return false
	}
	return hr.QueryParam == "" || r.URL.Query().Has(hr.QueryParam)
}

// HTTPStats counts the HTTP filter's decisions: a snapshot, a plain value
// safe for concurrent use while no goroutine changes it.
type HTTPStats struct {
	Allowed, Denied, Limited, Oversized, Builtin uint64
	// Unidentified counts requests from a trusted proxy whose forwarding
	// chain could not be read to an untrusted hop; each was judged as
	// coming from the last hop identified.
	Unidentified uint64
}

// HTTPFilter is the application-layer filter, the package's HTTP
// middleware: Wrap is a func(http.Handler) http.Handler. It judges the
// client address (behind trusted proxies, see RealIP) with the Filter,
// rate-limits it, applies request rules, size limits and built-in checks
// against path traversal, NUL bytes and request smuggling signals. It is
// safe for concurrent use by multiple goroutines and starts none.
type HTTPFilter struct {
	cfg     HTTPConfig
	fw      *Firewall // cfg.Filter when it is one: rules and proxies from one snapshot
	proxies interface{ RealIP() *RealIP }
	log     *zap.Logger
	lastLog atomic.Int64
	st      struct{ allowed, denied, limited, oversized, builtin, unidentified atomic.Uint64 }
}

// NewHTTPFilter validates cfg and returns an HTTPFilter.
func NewHTTPFilter(cfg HTTPConfig) (*HTTPFilter, error) {
	switch {
	case cfg.MaxHeaderBytes < 0, cfg.MaxBodyBytes < 0, cfg.LogEvery < 0:
		return nil, fmt.Errorf("%w: negative MaxHeaderBytes, MaxBodyBytes or LogEvery", ErrInvalidConfig)
	case cfg.DenyStatus != 0 && (cfg.DenyStatus < 400 || cfg.DenyStatus > 599):
		return nil, fmt.Errorf("%w: DenyStatus %d is not a 4xx or 5xx status", ErrInvalidConfig, cfg.DenyStatus)
	}
	if err := checkFilter(cfg.Filter); err != nil {
		return nil, err
	}
	for i, r := range cfg.Rules {
		if r.Action != Allow && r.Action != Deny {
			return nil, fmt.Errorf("%w: HTTP rule %d (%s): action %d", ErrInvalidConfig, i, r.Name, r.Action)
		}
	}
	cfg.MaxHeaderBytes = cmp.Or(cfg.MaxHeaderBytes, 32<<10)
	cfg.DenyStatus = cmp.Or(cfg.DenyStatus, http.StatusForbidden)
	cfg.LogEvery = cmp.Or(cfg.LogEvery, time.Second)
	cfg.Rules = slices.Clone(cfg.Rules)
	for i := range cfg.Rules {
		cfg.Rules[i].Methods = slices.Clone(cfg.Rules[i].Methods) // read per request: the caller's slice may change
	}
	h := &HTTPFilter{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.fw, _ = cfg.Filter.(*Firewall)
	h.proxies, _ = cfg.Filter.(interface{ RealIP() *RealIP })
	return h, nil
}

// Wrap returns next behind the filter.
func (h *HTTPFilter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, why := h.check(r); code != 0 {
			h.deny(w, r, code, why)
			return
		}
		if h.cfg.MaxBodyBytes > 0 {
			if r.ContentLength > h.cfg.MaxBodyBytes {
				h.st.oversized.Add(1)
				h.deny(w, r, http.StatusRequestEntityTooLarge, "body too large")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
		}
		h.st.allowed.Add(1)
		next.ServeHTTP(w, r)
	})
}

// check returns a status and reason to deny r, or 0.
func (h *HTTPFilter) check(r *http.Request) (int, string) {
	if headerBytes(r) > h.cfg.MaxHeaderBytes {
		h.st.oversized.Add(1)
		return http.StatusRequestHeaderFieldsTooLarge, "headers too large"
	}
	if !h.cfg.DisableBuiltin {
		if why := builtin(r); why != "" {
			h.st.builtin.Add(1)
			return http.StatusBadRequest, why
		}
	}
	// The client is the address the checks below are made on, every one
	// of them: when the forwarding chain cannot be read it is the last
	// hop identified (a trusted proxy at worst), never an anonymous
	// address that would get the default policy and no rate limit. Only
	// a peer that is no IP address at all (a Unix socket) leaves it
	// invalid: then the default policy decides and all such peers share
	// one rate-limit bucket.
	ri, rs := h.cfg.RealIP, (*RuleSet)(nil)
	if h.fw != nil {
		rs = h.fw.Rules() // one snapshot: the proxies and the rules that judge
		if ri == nil {
			ri = rs.realIP
		}
	} else if ri == nil && h.proxies != nil {
		ri = h.proxies.RealIP()
	}
	client, complete := ri.ClientAddr(r)
	if !complete {
		h.st.unidentified.Add(1)
	}
	if h.cfg.Filter != nil {
		var v Verdict
		fl := Flow{Src: netip.AddrPortFrom(client, 0), Proto: TCP}
		if rs != nil {
			v = h.fw.decide(rs, fl)
		} else {
			v = h.cfg.Filter.Decide(fl)
		}
		h.cfg.Trace.verdict(PointHTTP, client, v)
		if v.Action != Allow {
			return h.cfg.DenyStatus, "address denied by " + v.Rule
		}
	}
	if h.cfg.Limiter != nil && !h.cfg.Limiter.Allow(client) {
		h.st.limited.Add(1)
		h.cfg.Trace.limited(PointHTTP, client)
		return http.StatusTooManyRequests, "rate limited"
	}
	for i := range h.cfg.Rules {
		if h.cfg.Rules[i].matches(r) {
			if h.cfg.Rules[i].Action == Deny {
				return h.cfg.DenyStatus, "rule " + h.cfg.Rules[i].Name
			}
			break
		}
	}
	return 0, ""
}

func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// builtin catches the obvious attacks.
func builtin(r *http.Request) string {
	raw := r.URL.RawPath
	if raw == "" {
		raw = r.URL.Path
	}
	lower := strings.ToLower(r.RequestURI + raw)
	if strings.Contains(lower, "%00") || strings.ContainsRune(r.URL.Path, 0) || strings.ContainsRune(r.URL.RawQuery, 0) {
		return "NUL byte in request"
	}
	for _, dots := range []string{"%2e%2e", "%2e.", ".%2e", "..%2f", "..%5c", "%252e"} {
		if strings.Contains(lower, dots) {
			return "encoded path traversal"
		}
	}
	p := r.URL.Path
	if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.HasPrefix(p, "../") || strings.Contains(p, `\..`) {
		return "path traversal"
	}
	if len(r.TransferEncoding) > 0 && len(r.Header.Values("Content-Length")) > 0 {
		return "both Content-Length and Transfer-Encoding (request smuggling)"
	}
	if len(r.Header.Values("Content-Length")) > 1 {
		return "repeated Content-Length"
	}
	for _, vs := range r.Header {
		for _, v := range vs {
			if strings.ContainsRune(v, 0) {
				return "NUL byte in a header"
			}
		}
	}
	return ""
}

func (h *HTTPFilter) deny(w http.ResponseWriter, r *http.Request, code int, why string) {
	h.st.denied.Add(1)
	now := time.Now().UnixNano()
	if last := h.lastLog.Load(); now-last >= int64(h.cfg.LogEvery) && h.lastLog.CompareAndSwap(last, now) {
		h.log.Info("firewall: denied", zap.String("reason", why), zap.Int("status", code),
			zap.String("peer", r.RemoteAddr), zap.String("method", r.Method), zap.String("path", redact(r.URL.Path)),
			zap.Bool("credentials", r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != ""))
	}
	http.Error(w, "firewall: "+http.StatusText(code), code)
}

// redact hides the query string, where tokens travel, and caps length.
func redact(p string) string {
	if len(p) > 200 {
		p = p[:200] + "..."
	}
	return p
}

// Stats returns the filter's counters.
func (h *HTTPFilter) Stats() HTTPStats {
	return HTTPStats{Allowed: h.st.allowed.Load(), Denied: h.st.denied.Load(), Limited: h.st.limited.Load(), Oversized: h.st.oversized.Load(), Builtin: h.st.builtin.Load(), Unidentified: h.st.unidentified.Load()}
}
