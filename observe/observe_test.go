package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgekit/edgekit/observe"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, h http.Handler, path, auth string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestAdminLoopbackOnly: an admin address off loopback needs a token; a
// bare port is put on loopback.
func TestAdminLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		err         error
	}{
		{"127.0.0.1:0", "", nil},
		{"[::1]:0", "", nil},
		{"localhost:0", "", nil},
		{":0", "", nil},
		{"0", "", nil},
		{"0.0.0.0:9100", "", observe.ErrNotLoopback},
		{"[::]:9100", "", observe.ErrNotLoopback},
		{"192.0.2.1:9100", "", observe.ErrNotLoopback},
		{"0.0.0.0:9100", "s3cret", nil},
		{"", "", observe.ErrInvalidConfig},
		{"a:b:c", "", observe.ErrInvalidConfig},
	} {
		s, err := observe.NewAdmin(observe.AdminConfig{Addr: c.addr, Token: c.token})
		if !errors.Is(err, c.err) {
			t.Errorf("%q token %q: %v, want %v", c.addr, c.token, err, c.err)
		}
		if err == nil && c.token == "" && !observe.IsLoopback(s.Addr()) {
			t.Errorf("%q listens on %s", c.addr, s.Addr())
		}
	}
	if err := (observe.Flags{Metrics: "0.0.0.0:9100"}).Check(); err == nil || !strings.Contains(err.Error(), "-metrics-token") {
		t.Errorf("Check says %v; it should name -metrics-token", err)
	}
	if err := (observe.Flags{Pprof: true}).Check(); err == nil {
		t.Error("-pprof without -metrics accepted")
	}
}

// TestAdminRoutes: health and readiness for probes, metrics behind the
// token, profiles only when asked.
func TestAdminRoutes(t *testing.T) {
	ready := errors.New("no backend healthy")
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "edgekit_up 1\n") })
	s, err := observe.NewAdmin(observe.AdminConfig{Addr: "127.0.0.1:0", Token: "t0k", Metrics: metrics, Ready: func() error { return ready }})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if code, _ := get(t, h, "/healthz", ""); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get(t, h, "/readyz", ""); code != 503 || !strings.Contains(body, "no backend healthy") {
		t.Errorf("/readyz %d %q", code, body)
	}
	ready = nil
	if code, _ := get(t, h, "/readyz", ""); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer t0k2", "t0k", "bearer t0k "} {
		if code, _ := get(t, h, "/metrics", auth); code != 401 {
			t.Errorf("/metrics with %q: %d, want 401", auth, code)
		}
	}
	if code, body := get(t, h, "/metrics", "Bearer t0k"); code != 200 || body != "edgekit_up 1\n" {
		t.Errorf("/metrics with the token: %d %q", code, body)
	}
	if code, _ := get(t, h, "/debug/pprof/", "Bearer t0k"); code != 404 {
		t.Errorf("/debug/pprof/ without Pprof: %d, want 404", code)
	}
	s, _ = observe.NewAdmin(observe.AdminConfig{Addr: "127.0.0.1:0", Pprof: true})
	if code, body := get(t, s.Handler(), "/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with Pprof: %d", code)
	}
}

// syncBuf is a bytes.Buffer for one writer goroutine and a reading test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestStartNoCollector: with -otlp pointing at a port nobody listens on,
// Start succeeds, the admin server serves, and the failed export is said
// once however many batches fail.
func TestStartNoCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nobody listens there now: connection refused
	var out syncBuf
	rt, err := observe.Start(context.Background(), observe.Flags{Metrics: "127.0.0.1:0", OTLP: dead}, observe.Options{Service: "test", Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	resp, err := http.Get("http://" + rt.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("/metrics: %d", resp.StatusCode)
	}
	tr := rt.Tracing.TracerProvider.Tracer("test")
	type flusher interface{ ForceFlush(context.Context) error }
	for range 3 {
		_, span := tr.Start(context.Background(), "work")
		span.End()
		if err := rt.Tracing.TracerProvider.(flusher).ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "failed"); n != 1 {
		t.Errorf("said %d times that export failed, want once:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "metrics: http://"+rt.AdminAddr) {
		t.Errorf("no admin address in %q", out.String())
	}
}

// TestAccessLogger writes one JSON object per line.
func TestAccessLogger(t *testing.T) {
	var b syncBuf
	l := observe.AccessLogger(&b)
	l.Info("request", zap.String("path", "/a"), zap.Int("status", 200))
	l.Debug("not at info")
	line := strings.TrimSpace(b.String())
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil || strings.Count(line, "\n") != 0 {
		t.Fatalf("%q: %v", line, err)
	}
	if v["path"] != "/a" || v["status"] != float64(200) || v["time"] == nil || v["msg"] != "request" {
		t.Errorf("fields %v", v)
	}
}
