package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
)

// hopFields is what a hostile origin adds to every response: the
// hop-by-hop fields of RFC 9110 §7.6.1 and a field named in Connection.
var hopFields = [][2]string{
	{"Connection", "X-Secret, close"},
	{"X-Secret", "for the next hop only"},
	{"Keep-Alive", "timeout=5"},
	{"Upgrade", "h2c"},
	{"Trailer", "X-Checksum"},
	{"Proxy-Connection", "keep-alive"},
	{"Proxy-Authenticate", `Basic realm="origin"`},
	{"Te", "trailers"},
	{"Transfer-Encoding", "chunked"},
}

// leakedHopFields names the hop-by-hop fields present in h.
func leakedHopFields(h http.Header) []string {
	var out []string
	for _, f := range hopFields {
		if _, ok := h[f[0]]; ok {
			out = append(out, f[0])
		}
	}
	return out
}

// hopKind is one kind of response, with the requests that reach it.
type hopKind struct {
	name     string
	requests []string // "METHOD /path [Header: value]"
	// answer is the origin's response to its n-th request (from 1).
	answer func(n int, r *http.Request) (status int, cc []string, body string)
}

var hopKinds = []hopKind{
	{"stored then hit", []string{"GET /stored", "GET /stored"}, func(int, *http.Request) (int, []string, string) {
		return 200, []string{"Cache-Control", "max-age=60"}, "ok"
	}},
	{"no-store", []string{"GET /no-store"}, func(int, *http.Request) (int, []string, string) {
		return 200, []string{"Cache-Control", "no-store"}, "ok"
	}},
	{"private", []string{"GET /private"}, func(int, *http.Request) (int, []string, string) {
		return 200, []string{"Cache-Control", "private, max-age=60"}, "ok"
	}},
	{"set-cookie", []string{"GET /cookie"}, func(int, *http.Request) (int, []string, string) {
		return 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "s=1"}, "ok"
	}},
	{"206", []string{"GET /partial"}, func(int, *http.Request) (int, []string, string) {
		return 206, []string{"Content-Range", "bytes 0-1/10"}, "ok"
	}},
	{"streamed (too large to store)", []string{"GET /large"}, func(int, *http.Request) (int, []string, string) {
		return 200, []string{"Cache-Control", "max-age=60"}, strings.Repeat("x", 2048)
	}},
	{"validated (304 merged)", []string{"GET /validated", "GET /validated"}, func(_ int, r *http.Request) (int, []string, string) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			return 304, []string{"Etag", `"v1"`, "Cache-Control", "no-cache"}, ""
		}
		return 200, []string{"Etag", `"v1"`, "Cache-Control", "no-cache"}, "ok"
	}},
	{"stale on error", []string{"GET /sie", "GET /sie"}, func(n int, _ *http.Request) (int, []string, string) {
		if n > 1 {
			return 500, nil, "down"
		}
		return 200, []string{"Cache-Control", "max-age=0, stale-if-error=600"}, "ok"
	}},
	{"5xx passed through", []string{"GET /error"}, func(int, *http.Request) (int, []string, string) {
		return 502, nil, "bad gateway"
	}},
	{"range bypass", []string{"GET /range Range: bytes=0-1"}, func(int, *http.Request) (int, []string, string) {
		return 206, []string{"Content-Range", "bytes 0-1/10"}, "ok"
	}},
	{"unsafe method", []string{"POST /form"}, func(int, *http.Request) (int, []string, string) {
		return 200, nil, "ok"
	}},
}

// hostileOrigin answers as the kinds say, adding every hop-by-hop field.
type hostileOrigin struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *hostileOrigin) answer(r *http.Request) (int, http.Header, string) {
	o.mu.Lock()
	o.n[r.URL.Path]++
	n := o.n[r.URL.Path]
	o.mu.Unlock()
	for _, k := range hopKinds {
		if strings.HasSuffix(k.requests[0], " "+r.URL.Path) || strings.Contains(k.requests[0], " "+r.URL.Path+" ") {
			status, fields, body := k.answer(n, r)
			h := http.Header{}
			for i := 0; i+1 < len(fields); i += 2 {
				h.Set(fields[i], fields[i+1])
			}
			for _, f := range hopFields {
				h.Set(f[0], f[1])
			}
			return status, h, body
		}
	}
	return 404, http.Header{}, ""
}

func hopRequest(s string) *http.Request {
	method, rest, _ := strings.Cut(s, " ")
	path, hdr, _ := strings.Cut(rest, " ")
	r := httptest.NewRequest(method, "http://example.test"+path, nil)
	if name, v, ok := strings.Cut(hdr, ": "); ok {
		r.Header.Set(name, v)
	}
	return r
}

// TestRFC9110_7_6_1_TransportStripsHopByHopOnEveryPath: whatever the
// response kind (stored, passed through, validated, streamed, served on
// error), Transport returns no hop-by-hop field.
func TestRFC9110_7_6_1_TransportStripsHopByHopOnEveryPath(t *testing.T) {
	for _, k := range hopKinds {
		t.Run(k.name, func(t *testing.T) {
			fc := clock.NewFake(time.Time{})
			c, err := New(Config{Shared: true, Now: fc.Now})
			if err != nil {
				t.Fatal(err)
			}
			o := &hostileOrigin{n: map[string]int{}}
			base := roundTripper(func(r *http.Request) (*http.Response, error) {
				status, h, body := o.answer(r)
				h.Set("Date", fc.Now().UTC().Format(http.TimeFormat))
				return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)),
					ContentLength: int64(len(body)), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
			})
			tr, err := NewTransport(TransportConfig{Cache: c, Base: base, MaxBodyBytes: 1024, Now: fc.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, rq := range k.requests {
				resp, err := tr.RoundTrip(hopRequest(rq))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if l := leakedHopFields(resp.Header); len(l) > 0 {
					t.Errorf("%s (%s): hop-by-hop fields reached the client: %v", rq, resp.Header.Get(XCache), l)
				}
				fc.Advance(time.Second)
			}
		})
	}
}

// TestRFC9110_7_6_1_MiddlewareStripsHopByHopOnEveryPath is the same
// table through Middleware, in front of a handler sending the fields.
func TestRFC9110_7_6_1_MiddlewareStripsHopByHopOnEveryPath(t *testing.T) {
	for _, k := range hopKinds {
		t.Run(k.name, func(t *testing.T) {
			fc := clock.NewFake(time.Time{})
			c, err := New(Config{Shared: true, Now: fc.Now})
			if err != nil {
				t.Fatal(err)
			}
			o := &hostileOrigin{n: map[string]int{}}
			mw, err := NewMiddleware(MiddlewareConfig{Cache: c, MaxBodyBytes: 1024})
			if err != nil {
				t.Fatal(err)
			}
			defer mw.Close()
			h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status, hdr, body := o.answer(r)
				for name, v := range hdr {
					w.Header()[name] = v
				}
				w.Header().Set("Date", fc.Now().UTC().Format(http.TimeFormat))
				w.WriteHeader(status)
				io.WriteString(w, body)
			}))
			for _, rq := range k.requests {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, hopRequest(rq))
				if l := leakedHopFields(rec.Header()); len(l) > 0 {
					t.Errorf("%s (%s): hop-by-hop fields reached the client: %v", rq, rec.Header().Get(XCache), l)
				}
				fc.Advance(time.Second)
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRFC9110_7_8_UpgradePassesThrough: a request to switch protocols is
// neither looked up nor stored, and its 101 keeps Connection and Upgrade.
func TestRFC9110_7_8_UpgradePassesThrough(t *testing.T) {
	var calls int
	base := roundTripper(func(r *http.Request) (*http.Response, error) {
		calls++
		if r.Header.Get("Upgrade") != "websocket" {
			t.Errorf("Upgrade not forwarded: %v", r.Header)
		}
		return &http.Response{StatusCode: 101, Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	tr, err := NewTransport(TransportConfig{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for range 2 {
		r := httptest.NewRequest("GET", "http://example.test/ws", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		resp, err := tr.RoundTrip(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
			t.Fatalf("101 altered: %d %v", resp.StatusCode, resp.Header)
		}
	}
	if calls != 2 {
		t.Fatalf("%d calls to the origin, want 2 (never from the cache)", calls)
	}
}
