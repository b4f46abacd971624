package cache

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/testorigin"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// origin is a loopback origin whose Date follows the fake clock.
type origin = testorigin.Server

func newOrigin(t *testing.T, fc *clock.Fake, h http.HandlerFunc) *origin {
	return testorigin.New(t, fc.Now, h)
}

type harness struct {
	t      *testing.T
	fc     *clock.Fake
	cache  *HTTPCache
	tr     *Transport
	client *http.Client
}

func newHarness(t *testing.T, cfg Config) *harness {
	fc := clock.NewFake(time.Time{})
	cfg.Now = fc.Now
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransport(TransportConfig{Cache: c, Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &harness{t: t, fc: fc, cache: c, tr: tr, client: &http.Client{Transport: tr}}
}

type result struct {
	status int
	xcache string
	age    string
	body   string
	header http.Header
}

func (h *harness) get(url string, hdr ...string) result {
	h.t.Helper()
	return h.do(http.MethodGet, url, hdr...)
}

func (h *harness) do(method, url string, hdr ...string) result {
	h.t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header.Get(XCache), resp.Header.Get("Age"), string(b), resp.Header}
}

func counter(headers ...string) func(w http.ResponseWriter, r *http.Request) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Add(headers[i], headers[i+1])
		}
		io.WriteString(w, "body "+strconv.Itoa(int(n.Add(1))))
	}
}

func TestRFC9111_4_2_FreshResponseIsReused(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=60"))
	if r := h.get(o.URL); r.xcache != "MISS" || r.body != "body 1" {
		t.Fatalf("first: %+v", r)
	}
	h.fc.Advance(30 * time.Second)
	r := h.get(o.URL)
	if r.xcache != "HIT" || r.body != "body 1" || r.age != "30" {
		t.Fatalf("second: %+v", r)
	}
	h.fc.Advance(31 * time.Second)
	if r := h.get(o.URL); r.body != "body 2" {
		t.Fatalf("after expiry (no validator): %+v", r)
	}
	if o.Hits.Load() != 2 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
}

func TestRFC9111_4_2_1_FreshnessPrecedence(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	date := fc.Now().UTC().Format(http.TimeFormat)
	expires := fc.Now().Add(100 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		shared bool
		h      http.Header
		want   time.Duration
	}{
		{"s-maxage wins in a shared cache", true, http.Header{"Cache-Control": {"max-age=10, s-maxage=20"}}, 20 * time.Second},
		{"s-maxage ignored by a private cache", false, http.Header{"Cache-Control": {"max-age=10, s-maxage=20"}}, 10 * time.Second},
		{"max-age beats Expires", false, http.Header{"Cache-Control": {"max-age=10"}, "Date": {date}, "Expires": {expires}}, 10 * time.Second},
		{"Expires minus Date", false, http.Header{"Date": {date}, "Expires": {expires}}, 100 * time.Second},
		{"§5.3 invalid Expires is already expired", false, http.Header{"Date": {date}, "Expires": {"0"}}, 0},
		{"duplicate Expires is stale", false, http.Header{"Date": {date}, "Expires": {expires, expires}}, 0},
		{"§4.2.2 heuristic: 10% of Last-Modified age", false, http.Header{"Date": {date}, "Last-Modified": {fc.Now().Add(-1000 * time.Second).UTC().Format(http.TimeFormat)}}, 100 * time.Second},
		{"invalid max-age means stale, Expires unused", false, http.Header{"Cache-Control": {"max-age=x"}, "Date": {date}, "Expires": {expires}}, 0},
	}
	for _, c := range cases {
		cache, _ := New(Config{Shared: c.shared, Now: fc.Now})
		got, _ := cache.lifetime(200, c.h, cache.directives(c.h), fc.Now())
		if got != c.want {
			t.Errorf("%s: lifetime %v, want %v", c.name, got, c.want)
		}
	}
	cache, _ := New(Config{Now: fc.Now})
	lm := http.Header{"Date": {date}, "Last-Modified": {fc.Now().Add(-1000 * time.Second).UTC().Format(http.TimeFormat)}}
	if got, _ := cache.lifetime(302, lm, cache.directives(lm), fc.Now()); got != 0 {
		t.Errorf("302 is not heuristically cacheable, got %v", got)
	}
	long := http.Header{"Date": {date}, "Last-Modified": {fc.Now().Add(-10000 * time.Hour).UTC().Format(http.TimeFormat)}}
	if got, h := cache.lifetime(200, long, cache.directives(long), fc.Now()); got != 24*time.Hour || !h {
		t.Errorf("heuristic not capped: %v", got)
	}
}

func TestRFC9111_4_2_3_AgeCalculation(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return base.Add(d).Format(http.TimeFormat) }
	cases := []struct {
		name             string
		h                http.Header
		reqT, respT, now time.Duration
		want             time.Duration
	}{
		{"resident time only", http.Header{"Date": {date(0)}}, 0, 0, 10 * time.Second, 10 * time.Second},
		{"apparent age from Date", http.Header{"Date": {date(-5 * time.Second)}}, 0, 0, 0, 5 * time.Second},
		{"Age plus response delay", http.Header{"Date": {date(2 * time.Second)}, "Age": {"7"}}, 0, 2 * time.Second, 2 * time.Second, 9 * time.Second},
		{"larger of apparent and corrected", http.Header{"Date": {date(-20 * time.Second)}, "Age": {"3"}}, 0, 0, 0, 20 * time.Second},
		{"§5.1 first member of a list", http.Header{"Date": {date(0)}, "Age": {"4, 50"}}, 0, 0, 0, 4 * time.Second},
		{"§5.1 invalid Age ignored", http.Header{"Date": {date(0)}, "Age": {"-3"}}, 0, 0, 0, 0},
		{"§5.1 float Age ignored", http.Header{"Date": {date(0)}, "Age": {"7200.0"}}, 0, 0, 0, 0},
		{"§5.1 first of two lines", http.Header{"Date": {date(0)}, "Age": {"0", "7200"}}, 0, 0, 0, 0},
		{"parameter does not hide the value", http.Header{"Date": {date(0)}, "Age": {"30;foo=bar"}}, 0, 0, 0, 30 * time.Second},
		{"Date in the future", http.Header{"Date": {date(time.Hour)}}, 0, 0, 0, 0},
		{"missing Date", http.Header{}, 0, 0, 3 * time.Second, 3 * time.Second},
	}
	for _, c := range cases {
		got := currentAge(c.h, base.Add(c.reqT), base.Add(c.respT), base.Add(c.now))
		if got != c.want {
			t.Errorf("%s: age %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRFC9111_3_Storability(t *testing.T) {
	cases := []struct {
		name   string
		shared bool
		method string
		status int
		req    http.Header
		resp   http.Header
		want   NotStored
	}{
		{"plain max-age", true, "GET", 200, nil, http.Header{"Cache-Control": {"max-age=5"}}, Stored},
		{"POST is not stored", true, "POST", 200, nil, http.Header{"Cache-Control": {"max-age=5"}}, NotStoredMethod},
		{"response no-store", true, "GET", 200, nil, http.Header{"Cache-Control": {"no-store, max-age=5"}}, NotStoredNoStore},
		{"request no-store", true, "GET", 200, http.Header{"Cache-Control": {"no-store"}}, http.Header{"Cache-Control": {"max-age=5"}}, NotStoredNoStore},
		{"§5.2.2.3 must-understand overrides no-store for a known status", true, "GET", 200, nil, http.Header{"Cache-Control": {"no-store, must-understand, max-age=5"}}, Stored},
		{"must-understand with an unknown status", true, "GET", 299, nil, http.Header{"Cache-Control": {"no-store, must-understand, max-age=5"}}, NotStoredStatus},
		{"private in a shared cache", true, "GET", 200, nil, http.Header{"Cache-Control": {"private, max-age=5"}}, NotStoredPrivate},
		{"private in a private cache", false, "GET", 200, nil, http.Header{"Cache-Control": {"private, max-age=5"}}, Stored},
		{"§3.5 Authorization in a shared cache", true, "GET", 200, http.Header{"Authorization": {"Basic x"}}, http.Header{"Cache-Control": {"max-age=5"}}, NotStoredAuthorization},
		{"§3.5 Authorization with public", true, "GET", 200, http.Header{"Authorization": {"Basic x"}}, http.Header{"Cache-Control": {"public, max-age=5"}}, Stored},
		{"§3.5 Authorization with s-maxage", true, "GET", 200, http.Header{"Authorization": {"Basic x"}}, http.Header{"Cache-Control": {"s-maxage=5"}}, Stored},
		{"§4.1 Vary: * never matches", true, "GET", 200, nil, http.Header{"Cache-Control": {"max-age=5"}, "Vary": {"*"}}, NotStoredVaryStar},
		{"206 is not stored", true, "GET", 206, nil, http.Header{"Cache-Control": {"max-age=5"}}, NotStoredStatus},
		{"302 without freshness", true, "GET", 302, nil, http.Header{}, NotStoredNoFreshness},
		{"302 with max-age", true, "GET", 302, nil, http.Header{"Cache-Control": {"max-age=5"}}, Stored},
		{"404 heuristically cacheable", true, "GET", 404, nil, http.Header{}, Stored},
		{"Set-Cookie in a shared cache", true, "GET", 200, nil, http.Header{"Cache-Control": {"max-age=5"}, "Set-Cookie": {"a=b"}}, NotStoredSetCookie},
	}
	for _, c := range cases {
		cache, _ := New(Config{Shared: c.shared})
		req := httptest.NewRequest(c.method, "http://example.com/x", nil)
		for k, v := range c.req {
			req.Header[k] = v
		}
		resp := &http.Response{StatusCode: c.status, Header: c.resp}
		if c.resp == nil {
			resp.Header = http.Header{}
		}
		res := cache.Store(Exchange{Request: req, Response: resp, Body: []byte("x")})
		if res.Reason != c.want || res.Stored != (c.want == Stored) {
			t.Errorf("%s: got %v (stored %v), want %v", c.name, res.Reason, res.Stored, c.want)
		}
	}
}

func TestRFC9111_3_1_HopByHopFieldsAreNotStored(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=60", "Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "X-Kept", "yes"))
	h.get(o.URL)
	r := h.get(o.URL)
	if r.xcache != "HIT" || r.header.Get("X-Hop") != "" || r.header.Get("Keep-Alive") != "" || r.header.Get("X-Kept") != "yes" {
		t.Fatalf("%+v", r)
	}
}

func TestRFC9111_4_1_VaryVariantsLiveSideBySide(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	if r := h.get(o.URL, "Accept-Language", "en"); r.body != "lang=en" || r.xcache != "MISS" {
		t.Fatalf("%+v", r)
	}
	if r := h.get(o.URL, "Accept-Language", "fr"); r.body != "lang=fr" || r.xcache != "MISS" {
		t.Fatalf("%+v", r)
	}
	if r := h.get(o.URL, "Accept-Language", "en"); r.body != "lang=en" || r.xcache != "HIT" {
		t.Fatalf("en again: %+v", r)
	}
	// Normalisation: white space differences still match.
	if r := h.get(o.URL, "Accept-Language", "fr"); r.body != "lang=fr" || r.xcache != "HIT" {
		t.Fatalf("fr again: %+v", r)
	}
	if r := h.get(o.URL); r.xcache != "MISS" {
		t.Fatalf("absent field must not match a present one: %+v", r)
	}
	if o.Hits.Load() != 3 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
}

func TestRFC9111_4_1_VaryNormalisesWhitespace(t *testing.T) {
	a, b := http.Header{}, http.Header{}
	a.Add("Accept-Encoding", "gzip,  br")
	b.Add("Accept-Encoding", "gzip")
	b.Add("Accept-Encoding", "br")
	if normalizedField(a, "Accept-Encoding") != normalizedField(b, "Accept-Encoding") {
		t.Fatalf("%q != %q", normalizedField(a, "Accept-Encoding"), normalizedField(b, "Accept-Encoding"))
	}
	c, d := http.Header{"Accept-Language": {"en, de"}}, http.Header{"Accept-Language": {"eN,  De"}}
	if normalizedField(c, "Accept-Language") != normalizedField(d, "Accept-Language") {
		t.Fatal("language tags must match case-insensitively")
	}
	e := http.Header{"Accept-Language": {"de, en"}}
	if normalizedField(c, "Accept-Language") == normalizedField(e, "Accept-Language") {
		t.Fatal("order may express preference and must be kept")
	}
	f, g := http.Header{"X-Custom": {"A"}}, http.Header{"X-Custom": {"a"}}
	if normalizedField(f, "X-Custom") == normalizedField(g, "X-Custom") {
		t.Fatal("unknown fields must compare exactly")
	}
}

func TestRFC9111_4_3_ValidationWithETagAnd304Freshening(t *testing.T) {
	h := newHarness(t, Config{})
	var conditional atomic.Value
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		conditional.Store(r.Header.Get("If-None-Match") + "|" + r.Header.Get("If-Modified-Since"))
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 01 Dec 2025 00:00:00 GMT")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("X-Updated", "yes")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "the body")
	})
	h.get(o.URL)
	h.fc.Advance(20 * time.Second)
	r := h.get(o.URL)
	if r.xcache != "REVALIDATED" || r.body != "the body" || r.header.Get("X-Updated") != "yes" {
		t.Fatalf("revalidation: %+v", r)
	}
	if got := conditional.Load().(string); got != `"v1"|Mon, 01 Dec 2025 00:00:00 GMT` {
		t.Fatalf("conditional headers sent: %q", got)
	}
	// §4.3.4: the 304 freshened the stored response.
	if r := h.get(o.URL); r.xcache != "HIT" || r.header.Get("X-Updated") != "yes" || r.age != "0" {
		t.Fatalf("after 304: %+v", r)
	}
	if o.Hits.Load() != 2 {
		t.Fatalf("origin hits %d", o.Hits.Load())
	}
}

// TestRFC9111_5_2_2_4_QualifiedFieldsFrom304NotStored: a 304 that names
// fields in a qualified no-cache (and, to a shared cache, a qualified
// private) and sends them too must not get them into the stored response,
// as they would not have been stored from a 200 either.
func TestRFC9111_5_2_2_4_QualifiedFieldsFrom304NotStored(t *testing.T) {
	for _, shared := range []bool{false, true} {
		h := newHarness(t, Config{Shared: shared})
		o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.Header().Set("Cache-Control", `max-age=10, no-cache="X-Token", private="X-User"`)
				w.Header().Set("X-Token", "secret")
				w.Header().Set("X-User", "alice")
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Cache-Control", "max-age=10")
			io.WriteString(w, "the body")
		})
		h.get(o.URL)
		h.fc.Advance(20 * time.Second)
		if r := h.get(o.URL); r.xcache != "REVALIDATED" || r.body != "the body" {
			t.Fatalf("shared=%v: revalidation: %+v", shared, r)
		}
		r := h.get(o.URL)
		if r.xcache != "HIT" {
			t.Fatalf("shared=%v: after 304: %+v", shared, r)
		}
		if r.header.Get("X-Token") != "" {
			t.Fatalf("shared=%v: the no-cache-named field was stored: %v", shared, r.header)
		}
		if user := r.header.Get("X-User"); shared && user != "" || !shared && user != "alice" {
			t.Fatalf("shared=%v: private-named field: %q", shared, user)
		}
	}
}

func TestRFC9111_3_2_304DoesNotUpdateContentLength(t *testing.T) {
	stored := http.Header{"Content-Length": {"8"}, "Content-Type": {"text/plain"}, "X-A": {"old"}, "Content-Md5": {"a"}}
	updateHeaders(stored, http.Header{"Content-Length": {"0"}, "X-A": {"new"}, "Connection": {"close"}, "Content-Type": {"text/html"}, "Content-Md5": {"b"}})
	if stored.Get("Content-Length") != "8" || stored.Get("X-A") != "new" || stored.Get("Connection") != "" ||
		stored.Get("Content-Type") != "text/html" || stored.Get("Content-Md5") != "a" {
		t.Fatalf("%v", stored)
	}
}

func TestRFC9111_4_3_4_StrongValidatorSelectsVariants(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	c, _ := New(Config{Now: fc.Now})
	req := httptest.NewRequest("GET", "http://example.com/a", nil)
	c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=1"}, "Etag": {`"a"`}}}, Body: []byte("x")})
	fc.Advance(5 * time.Second)
	if res := c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 304, Header: http.Header{"Etag": {`"other"`}}}}); res.Stored {
		t.Fatal("a 304 with a different strong validator must not update")
	}
	res := c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 304, Header: http.Header{"Etag": {`"a"`}, "Cache-Control": {"max-age=100"}}}})
	if !res.Stored || res.Updated.Decision != Fresh || string(res.Updated.Body) != "x" {
		t.Fatalf("%+v", res)
	}
}

func TestRFC9111_4_4_UnsafeMethodInvalidates(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Location", "/other")
			w.Header().Set("Content-Location", "http://elsewhere.example/x")
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, r.URL.Path+" at "+h.fc.Now().Format(time.RFC3339Nano))
	})
	h.get(o.URL + "/thing")
	h.get(o.URL + "/other")
	if r := h.get(o.URL + "/other"); r.xcache != "HIT" {
		t.Fatal("setup: not cached")
	}
	if r := h.do(http.MethodPost, o.URL+"/thing"); r.status != http.StatusCreated {
		t.Fatalf("POST: %+v", r)
	}
	if r := h.get(o.URL + "/thing"); r.xcache != "MISS" {
		t.Fatalf("target URI not invalidated: %+v", r)
	}
	if r := h.get(o.URL + "/other"); r.xcache != "MISS" {
		t.Fatalf("same-origin Location not invalidated: %+v", r)
	}
	if h.cache.Stats().Invalidations != 2 {
		t.Fatalf("invalidations %d", h.cache.Stats().Invalidations)
	}
	// An error response invalidates nothing.
	o.Set(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "x")
	})
	h.get(o.URL + "/kept")
	h.do(http.MethodDelete, o.URL+"/kept")
	if r := h.get(o.URL + "/kept"); r.xcache != "HIT" {
		t.Fatalf("error response invalidated: %+v", r)
	}
}

func TestRFC9111_5_2_1_RequestDirectives(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=100"))
	h.get(o.URL)
	h.fc.Advance(50 * time.Second)
	if r := h.get(o.URL, "Cache-Control", "max-age=10"); r.xcache == "HIT" {
		t.Fatalf("§5.2.1.1 max-age=10 accepted a 50 s old response: %+v", r)
	}
	h.fc.Advance(60 * time.Second) // the stored response is now 60 s old, 100 s lifetime
	if r := h.get(o.URL, "Cache-Control", "min-fresh=50"); r.xcache == "HIT" {
		t.Fatalf("§5.2.1.3 min-fresh=50 accepted 40 s of freshness: %+v", r)
	}
	h.fc.Advance(110 * time.Second) // 110 s old, stale by 10 s
	if r := h.get(o.URL, "Cache-Control", "max-stale=30"); r.xcache != "STALE" {
		t.Fatalf("§5.2.1.2 max-stale=30: %+v", r)
	}
	if r := h.get(o.URL, "Cache-Control", "max-stale=5"); r.xcache == "STALE" || r.xcache == "HIT" {
		t.Fatalf("§5.2.1.2 max-stale=5 served 10 s stale: %+v", r)
	}
	if r := h.get(o.URL, "Cache-Control", "no-cache"); r.xcache != "MISS" {
		t.Fatalf("§5.2.1.4 no-cache: %+v", r)
	}
	if r := h.get(o.URL, "Pragma", "no-cache"); r.xcache != "MISS" {
		t.Fatalf("§5.4 Pragma: no-cache without Cache-Control: %+v", r)
	}
	if r := h.get(o.URL, "Pragma", "no-cache", "Cache-Control", "max-stale"); r.xcache == "MISS" {
		t.Fatalf("§5.4 Pragma ignored when Cache-Control is present: %+v", r)
	}
}

func TestRFC9111_5_2_1_7_OnlyIfCached(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=10"))
	if r := h.get(o.URL, "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("%+v", r)
	}
	h.get(o.URL)
	if r := h.get(o.URL, "Cache-Control", "only-if-cached"); r.status != 200 || r.xcache != "HIT" {
		t.Fatalf("%+v", r)
	}
	h.fc.Advance(time.Minute)
	if r := h.get(o.URL, "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("stale under only-if-cached: %+v", r)
	}
	if o.Hits.Load() != 1 {
		t.Fatalf("only-if-cached reached the origin: %d", o.Hits.Load())
	}
}

func TestRFC5861_3_StaleWhileRevalidate(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=10, stale-while-revalidate=30"))
	h.get(o.URL)
	h.fc.Advance(20 * time.Second)
	if r := h.get(o.URL); r.xcache != "STALE" || r.body != "body 1" {
		t.Fatalf("%+v", r)
	}
	h.tr.waitIdle()
	if o.Hits.Load() != 2 {
		t.Fatalf("background revalidation did not run: %d", o.Hits.Load())
	}
	if r := h.get(o.URL); r.xcache != "HIT" || r.body != "body 2" {
		t.Fatalf("after revalidation: %+v", r)
	}
	h.fc.Advance(50 * time.Second) // beyond the window
	if r := h.get(o.URL); r.xcache != "MISS" {
		t.Fatalf("outside the window: %+v", r)
	}
}

func TestRFC5861_4_StaleIfError(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=10, stale-if-error=60"))
	h.get(o.URL)
	o.Set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	h.fc.Advance(30 * time.Second)
	if r := h.get(o.URL); r.xcache != "STALE" || r.status != 200 || r.body != "body 1" {
		t.Fatalf("within window: %+v", r)
	}
	h.fc.Advance(60 * time.Second)
	if r := h.get(o.URL); r.status != http.StatusServiceUnavailable {
		t.Fatalf("outside window: %+v", r)
	}
	// An unreachable origin counts as an error too.
	h2 := newHarness(t, Config{})
	o2 := newOrigin(t, h2.fc, counter("Cache-Control", "max-age=1", "ETag", `"x"`))
	h2.get(o2.URL)
	o2.Close()
	h2.fc.Advance(10 * time.Second)
	req, _ := http.NewRequest("GET", o2.URL, nil)
	req.Header.Set("Cache-Control", "stale-if-error=60") // request directive
	resp, err := h2.client.Do(req)
	if err != nil {
		t.Fatalf("request stale-if-error with the origin down: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get(XCache) != "STALE" {
		t.Fatalf("X-Cache %q", resp.Header.Get(XCache))
	}
}

func TestRFC9111_5_2_2_2_MustRevalidateForbidsStale(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=10, must-revalidate, stale-while-revalidate=60, stale-if-error=60"))
	h.get(o.URL)
	o.Set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	h.fc.Advance(20 * time.Second)
	if r := h.get(o.URL); r.status != http.StatusBadGateway {
		t.Fatalf("stale served despite must-revalidate: %+v", r)
	}
	if r := h.get(o.URL, "Cache-Control", "max-stale=100"); r.status != http.StatusBadGateway {
		t.Fatalf("max-stale overrode must-revalidate: %+v", r)
	}
}

func TestRFC9111_5_2_2_4_ResponseNoCacheAlwaysValidates(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600, no-cache")
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "x")
	})
	h.get(o.URL)
	if r := h.get(o.URL); r.xcache != "REVALIDATED" {
		t.Fatalf("%+v", r)
	}
}

func TestRFC9111_5_2_2_QualifiedNoCacheStripsFields(t *testing.T) {
	h := newHarness(t, Config{Shared: true})
	o := newOrigin(t, h.fc, counter("Cache-Control", `max-age=60, no-cache="X-Secret"`, "X-Secret", "s", "X-Public", "p"))
	h.get(o.URL)
	r := h.get(o.URL)
	if r.xcache != "HIT" || r.header.Get("X-Secret") != "" || r.header.Get("X-Public") != "p" {
		t.Fatalf("%+v", r)
	}
}

func TestRFC9213_TargetedFieldTakesPrecedence(t *testing.T) {
	h := newHarness(t, Config{Shared: true, TargetedFields: []string{"CDN-Cache-Control"}})
	o := newOrigin(t, h.fc, counter("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"))
	h.get(o.URL)
	if r := h.get(o.URL); r.xcache != "HIT" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%+v", r)
	}
	// Without opting in, Cache-Control rules.
	h2 := newHarness(t, Config{Shared: true})
	o2 := newOrigin(t, h2.fc, counter("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"))
	h2.get(o2.URL)
	if r := h2.get(o2.URL); r.xcache != "MISS" {
		t.Fatalf("%+v", r)
	}
	// An invalid targeted field is ignored (RFC 9213 §2.1).
	h3 := newHarness(t, Config{Shared: true, TargetedFields: []string{"CDN-Cache-Control"}})
	o3 := newOrigin(t, h3.fc, counter("Cache-Control", "max-age=60", "CDN-Cache-Control", "Max-Age=bogus"))
	h3.get(o3.URL)
	if r := h3.get(o3.URL); r.xcache != "HIT" {
		t.Fatalf("%+v", r)
	}
}

// RFC 9111 §5.2.2.3 through RFC 9213 §2.1: "no-store, must-understand" in
// the targeted field lets a cache that understands the status store it,
// as the same pair in Cache-Control does.
func TestRFC9111_5_2_2_3_MustUnderstandInTargetedField(t *testing.T) {
	h := newHarness(t, Config{Shared: true, TargetedFields: []string{"CDN-Cache-Control"}})
	o := newOrigin(t, h.fc, counter("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60, no-store, must-understand"))
	h.get(o.URL)
	if r := h.get(o.URL); r.xcache != "HIT" {
		t.Fatalf("no-store, must-understand in CDN-Cache-Control not stored for a 200: %+v", r)
	}
}

func TestHEADIsServedFromStoredGET(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, counter("Cache-Control", "max-age=60"))
	h.get(o.URL)
	r := h.do(http.MethodHead, o.URL)
	if r.xcache != "HIT" || r.body != "" || r.status != 200 {
		t.Fatalf("%+v", r)
	}
}

func TestDeleteMarkStaleClearAndOnEvict(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	var mu sync.Mutex
	var removed []string
	c, _ := New(Config{Shared: true, Now: fc.Now, OnEvict: func(r Removal) {
		mu.Lock()
		removed = append(removed, r.Key)
		mu.Unlock()
	}})
	store := func(path string) string {
		req := httptest.NewRequest("GET", "http://example.com"+path, nil)
		res := c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"1"`}}}, Body: []byte(path)})
		if !res.Stored {
			t.Fatalf("not stored: %v", res.Reason)
		}
		return res.Key
	}
	a, b := store("/a"), store("/b")
	store("/a") // replacement is not a removal
	if !c.MarkStale(a) {
		t.Fatal("MarkStale found nothing")
	}
	l := c.Lookup(httptest.NewRequest("GET", "http://example.com/a", nil))
	if l.Decision != StaleWhileRevalidate || !l.Stale {
		t.Fatalf("soft-purged: %v", l.Decision)
	}
	if !c.Delete(b) || c.Delete(b) {
		t.Fatal("Delete must report presence once")
	}
	c.Clear()
	mu.Lock()
	defer mu.Unlock()
	if len(removed) != 2 || removed[0] != b || removed[1] != a {
		t.Fatalf("removals %v", removed)
	}
	if k, err := URLKey("http://EXAMPLE.com/a"); err != nil || k != a {
		t.Fatalf("URLKey = %q, %v; want %q", k, err, a)
	}
	if _, err := URLKey("/relative"); !errors.Is(err, ErrInvalidURL) {
		t.Fatalf("URLKey relative: %v", err)
	}
}

// MarkAllStale soft-purges everything stored before it, in one step (a
// fleet node that lost track of purges): served stale while revalidated,
// as MarkStale; what is stored or validated afterwards is fresh again.
func TestMarkAllStale(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	c, _ := New(Config{Shared: true, Now: fc.Now})
	store := func(path string) {
		req := httptest.NewRequest("GET", "http://example.com"+path, nil)
		res := c.Store(Exchange{Request: req, Response: &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"1"`}}}, Body: []byte(path)})
		if !res.Stored {
			t.Fatalf("not stored: %v", res.Reason)
		}
	}
	lookup := func(path string) Lookup {
		return c.Lookup(httptest.NewRequest("GET", "http://example.com"+path, nil))
	}
	store("/a")
	store("/b")
	c.MarkAllStale()
	for _, p := range []string{"/a", "/b"} {
		if l := lookup(p); l.Decision != StaleWhileRevalidate || !l.Stale || l.Conditional.Get("If-None-Match") != `"1"` {
			t.Fatalf("%s after MarkAllStale: %v stale=%v", p, l.Decision, l.Stale)
		}
	}
	store("/a") // refetched after the mark
	if l := lookup("/a"); l.Decision != Fresh {
		t.Fatalf("/a stored after MarkAllStale: %v", l.Decision)
	}
	if l := lookup("/b"); l.Decision != StaleWhileRevalidate {
		t.Fatalf("/b: %v", l.Decision)
	}
}

// closeCounter counts response bodies closed by the Transport's user.
type closeCounter struct {
	base           http.RoundTripper
	opened, closed atomic.Int32
}

type countedBody struct {
	io.ReadCloser
	c    *closeCounter
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.c.closed.Add(1) })
	return b.ReadCloser.Close()
}

func (c *closeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

func TestTransportClosesEveryOriginBody(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	cc := &closeCounter{base: http.DefaultTransport}
	tr, _ := NewTransport(TransportConfig{Base: cc, Now: fc.Now, MaxBodyBytes: 64})
	client := &http.Client{Transport: tr}
	var etag atomic.Int32
	o := newOrigin(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=5, stale-while-revalidate=5, stale-if-error=100")
		w.Header().Set("ETag", `"1"`)
		switch {
		case r.URL.Path == "/err" && etag.Add(1) > 1:
			w.WriteHeader(500)
		case r.Header.Get("If-None-Match") == `"1"`:
			w.WriteHeader(304)
		case r.URL.Path == "/big":
			io.WriteString(w, strings.Repeat("x", 1000))
		default:
			io.WriteString(w, "small")
		}
	})
	paths := []string{"/a", "/a", "/big", "/big", "/err", "/a"}
	for round := 0; round < 4; round++ {
		for _, p := range paths {
			resp, err := client.Get(o.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		fc.Advance(7 * time.Second)
	}
	tr.Close()
	if cc.opened.Load() == 0 || cc.opened.Load() != cc.closed.Load() {
		t.Fatalf("opened %d origin bodies, closed %d", cc.opened.Load(), cc.closed.Load())
	}
}

func TestMiddlewareSharedCacheInFrontOfAHandler(t *testing.T) {
	var calls atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/private" {
			w.Header().Set("Cache-Control", "private, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "page "+r.URL.Path)
	})
	mw, err := NewMiddleware(MiddlewareConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	srv := httptest.NewServer(mw.Wrap(next))
	defer srv.Close()
	get := func(path string) (string, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get(XCache), string(b)
	}
	if x, b := get("/a"); x != "MISS" || b != "page /a" {
		t.Fatalf("%s %q", x, b)
	}
	if x, b := get("/a"); x != "HIT" || b != "page /a" {
		t.Fatalf("%s %q", x, b)
	}
	get("/private")
	if x, _ := get("/private"); x != "MISS" {
		t.Fatalf("a shared cache stored a private response: %s", x)
	}
	if calls.Load() != 3 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
}
