package origin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type server struct {
	*httptest.Server
	hits   atomic.Int32
	status atomic.Int32
}

func newServer(t *testing.T, name string) *server {
	s := &server{}
	s.status.Store(200)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.status.Load()))
		io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func newPool(t *testing.T, cfg Config) *Pool {
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func get(t *testing.T, p *Pool, path string) (string, *http.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://site.example"+path, nil)
	req.RequestURI = ""
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp
}

func TestPriorityAndFailover(t *testing.T) {
	primary, alternate := newServer(t, "primary"), newServer(t, "alternate")
	p := newPool(t, Config{Origins: []Origin{{Name: "p", URL: primary.URL}, {Name: "a", URL: alternate.URL, Priority: 1}}})
	if body, resp := get(t, p, "/x"); body != "primary /x" || p.ServedBy(resp) != "p" {
		t.Fatalf("primary: %q served by %q", body, p.ServedBy(resp))
	}
	primary.Close()
	if body, resp := get(t, p, "/x"); body != "alternate /x" || p.ServedBy(resp) != "a" {
		t.Fatalf("failover: %q", body)
	}
	st := p.Stats()
	if st[0].Errors != 1 || st[1].Failovers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFailoverOn503AndLastResponseKept(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	a.status.Store(503)
	p := newPool(t, Config{Origins: []Origin{{URL: a.URL}, {URL: b.URL, Priority: 1}}})
	if body, _ := get(t, p, "/"); body != "b /" {
		t.Fatalf("got %q", body)
	}
	b.status.Store(502)
	_, resp := get(t, p, "/")
	if resp.StatusCode != 502 {
		t.Fatalf("all 5xx: status %d, want the last response", resp.StatusCode)
	}
}

func TestAllDownIsErrAllFailed(t *testing.T) {
	a := newServer(t, "a")
	a.Close()
	p := newPool(t, Config{Origins: []Origin{{URL: a.URL}}})
	req := httptest.NewRequest(http.MethodGet, "http://site/", nil)
	req.RequestURI = ""
	if _, err := p.RoundTrip(req); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}
}

func TestPOSTIsNotRetried(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	a.status.Store(503)
	p := newPool(t, Config{Origins: []Origin{{URL: a.URL}, {URL: b.URL, Priority: 1}}})
	req := httptest.NewRequest(http.MethodPost, "http://site/form", strings.NewReader("x=1"))
	req.RequestURI = ""
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || b.hits.Load() != 0 {
		t.Fatalf("POST retried: status %d, b hits %d", resp.StatusCode, b.hits.Load())
	}
}

func TestEjectionBacksOffAndRecovers(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	a, b := newServer(t, "a"), newServer(t, "b")
	p := newPool(t, Config{Origins: []Origin{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL, Priority: 1}}, EjectAfter: 2, EjectBase: 10 * time.Second, Now: fc.Now})
	a.status.Store(503)
	get(t, p, "/")
	get(t, p, "/")
	if p.Stats()[0].State != Ejected {
		t.Fatalf("not ejected: %+v", p.Stats()[0])
	}
	a.status.Store(200)
	before := a.hits.Load()
	if body, _ := get(t, p, "/"); body != "b /" || a.hits.Load() != before {
		t.Fatalf("ejected origin still tried first: %q", body)
	}
	fc.Advance(11 * time.Second)
	if body, _ := get(t, p, "/"); body != "a /" {
		t.Fatalf("not back after the ejection period: %q", body)
	}
}

// An ejected origin is still tried, as a last resort, when the origins in
// rotation have failed: a request is not lost while an origin that may
// have recovered sits out its ejection.
func TestEjectedOriginTriedAsLastResort(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	a, b := newServer(t, "a"), newServer(t, "b")
	p := newPool(t, Config{Origins: []Origin{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL, Priority: 1}}, EjectAfter: 2, EjectBase: time.Hour, Now: fc.Now})
	a.status.Store(503)
	get(t, p, "/") // a fails, b answers
	get(t, p, "/") // a fails again (ejected), b answers
	if p.Stats()[0].State != Ejected {
		t.Fatalf("not ejected: %+v", p.Stats()[0])
	}
	a.status.Store(200)
	b.Close() // one failure: b stays in rotation, and a is all that is left
	if body, _ := get(t, p, "/"); body != "a /" {
		t.Fatalf("got %q, want the ejected origin as the last resort", body)
	}
}

func TestLatencySteeringMovesTrafficOffASlowOrigin(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	slow, fast := newServer(t, "slow"), newServer(t, "fast")
	// The fake clock measures latency: each request to "slow" takes 200 ms.
	tr := &clockedTransport{base: http.DefaultTransport, fc: fc, slowHost: strings.TrimPrefix(slow.URL, "http://")}
	p := newPool(t, Config{Origins: []Origin{{Name: "slow", URL: slow.URL}, {Name: "fast", URL: fast.URL}}, Steering: Latency, Transport: tr, Now: fc.Now})
	for i := 0; i < 20; i++ {
		get(t, p, "/")
	}
	if slow.hits.Load() > 2 || fast.hits.Load() < 18 {
		t.Fatalf("slow %d, fast %d", slow.hits.Load(), fast.hits.Load())
	}
	if p.Stats()[0].State != Healthy {
		t.Fatal("a slow origin must not be declared dead")
	}
}

type clockedTransport struct {
	base     http.RoundTripper
	fc       *clock.Fake
	slowHost string
}

func (c *clockedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == c.slowHost {
		c.fc.Advance(200 * time.Millisecond)
	} else {
		c.fc.Advance(10 * time.Millisecond)
	}
	return c.base.RoundTrip(r)
}

func TestGeographyPrefersNearest(t *testing.T) {
	eu, us := newServer(t, "eu"), newServer(t, "us")
	p := newPool(t, Config{
		Origins:  []Origin{{Name: "us", URL: us.URL, Lat: 40.7, Lon: -74.0}, {Name: "eu", URL: eu.URL, Lat: 50.1, Lon: 8.7}},
		Steering: Geography, Lat: 48.9, Lon: 2.35, // Paris
	})
	if body, _ := get(t, p, "/"); body != "eu /" {
		t.Fatalf("got %q", body)
	}
	p2 := newPool(t, Config{Origins: []Origin{{URL: us.URL, Region: "us-east"}, {URL: eu.URL, Region: "eu-west"}}, Steering: Geography, Region: "eu-west"})
	if body, _ := get(t, p2, "/"); body != "eu /" {
		t.Fatalf("region: got %q", body)
	}
}

func TestActiveHealthChecksRiseAndFall(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	p := newPool(t, Config{Origins: []Origin{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL, Priority: 1}}, Health: HealthCheck{Rise: 2, Fall: 2}})
	ctx := context.Background()
	a.status.Store(500)
	p.CheckNow(ctx)
	if p.Stats()[0].State != Healthy {
		t.Fatal("one failure must not reach Fall=2")
	}
	p.CheckNow(ctx)
	if p.Stats()[0].State != Unhealthy {
		t.Fatal("two failures must mark unhealthy")
	}
	a.status.Store(200)
	p.CheckNow(ctx)
	if p.Stats()[0].State != Unhealthy {
		t.Fatal("one success must not reach Rise=2")
	}
	p.CheckNow(ctx)
	if p.Stats()[0].State != Healthy {
		t.Fatal("two successes must mark healthy")
	}
}

func TestContextCancellation(t *testing.T) {
	block := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer s.Close()
	defer close(block)
	p := newPool(t, Config{Origins: []Origin{{URL: s.URL}}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "http://site/", nil).WithContext(ctx)
	req.RequestURI = ""
	if _, err := p.RoundTrip(req); err == nil || !IsTimeout(err) {
		t.Fatalf("err %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Origins: []Origin{{URL: "ftp://x"}}}, {Origins: []Origin{{URL: "http://a"}, {URL: "http://a"}}}, {Origins: []Origin{{URL: "http://a"}}, Timeout: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// A cache stores what the origin sent: the default transport asks for no
// encoding the client did not ask for, and decompresses nothing, so a
// representation's ETag and Content-Encoding stay with its bytes
// (RFC 9110 §8.4, §8.8.3).
func TestDefaultTransportPassesEncodingThrough(t *testing.T) {
	var ae atomic.Value
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae.Store(r.Header.Get("Accept-Encoding"))
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("ETag", `"gz"`)
			w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
			return
		}
		w.Header().Set("ETag", `"id"`)
		io.WriteString(w, "identity")
	}))
	defer s.Close()
	p := newPool(t, Config{Origins: []Origin{{Name: "o", URL: s.URL}}})
	if body, resp := get(t, p, "/"); body != "identity" || resp.Header.Get("ETag") != `"id"` || ae.Load() != "" {
		t.Fatalf("no Accept-Encoding from the client: origin saw %q, got %q %s", ae.Load(), body, resp.Header.Get("ETag"))
	}
	req := httptest.NewRequest(http.MethodGet, "http://site.example/", nil)
	req.RequestURI = ""
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") != `"gz"` || len(b) != 20 {
		t.Fatalf("gzip representation altered: %v %d bytes", resp.Header, len(b))
	}
}
