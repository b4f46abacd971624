package balancer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// poolEvents records a Trace's pool events.
type poolEvents struct {
	mu        sync.Mutex
	picks     []PickEvent
	ejected   []EjectEvent
	readmit   []Backend
	health    []HealthEvent
	lockHeldN int // events fired while the pool's lock was held
}

func (pe *poolEvents) trace(p **Pool) *Trace {
	held := func() {
		// Callbacks run outside the pool's lock: taking it must work.
		if *p != nil && !(*p).mu.TryLock() {
			pe.lockHeldN++
		} else if *p != nil {
			(*p).mu.Unlock()
		}
	}
	return &Trace{
		Pick: func(e PickEvent) { pe.mu.Lock(); pe.picks = append(pe.picks, e); pe.mu.Unlock() },
		BackendEjected: func(e EjectEvent) {
			pe.mu.Lock()
			defer pe.mu.Unlock()
			held()
			pe.ejected = append(pe.ejected, e)
		},
		BackendReadmitted: func(b Backend) {
			pe.mu.Lock()
			defer pe.mu.Unlock()
			held()
			pe.readmit = append(pe.readmit, b)
		},
		HealthTransition: func(e HealthEvent) { pe.mu.Lock(); pe.health = append(pe.health, e); pe.mu.Unlock() },
	}
}

// TestTracePoolEjectionAndReadmission: two failures in a row eject a
// backend (Envoy's consecutive-5xx detection, here 2), which the trace
// reports with its ejection length; when the ejection ends the next pick
// re-admits it and the trace says so; picks report the backend chosen,
// sticky and retry picks included, and a pick that finds nothing its
// error. No event fires under the pool's lock.
func TestTracePoolEjectionAndReadmission(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	pe := &poolEvents{}
	var p *Pool
	p = newPool(t, Config{Now: fc.Now, Outlier: OutlierDetection{Consecutive: 2, BaseEjection: 10 * time.Second}, Trace: pe.trace(&p)},
		backends(3)...)
	for range 2 {
		pk, ok := p.PickByIDHash(HashID("b000"))
		if !ok {
			t.Fatal("sticky pick failed")
		}
		pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
	}
	pe.mu.Lock()
	if len(pe.ejected) != 1 || pe.ejected[0].Backend.ID != "b000" || pe.ejected[0].For != 10*time.Second || pe.ejected[0].Ejections != 1 {
		t.Errorf("ejections %+v", pe.ejected)
	}
	if len(pe.picks) != 2 || !pe.picks[0].Sticky || pe.picks[0].Backend.ID != "b000" {
		t.Errorf("picks %+v", pe.picks)
	}
	pe.picks = nil
	pe.mu.Unlock()

	pk, err := p.Pick(PickInfo{Exclude: []string{"b001", "b002"}})
	if err == nil {
		t.Fatalf("picked %v with the others excluded and b000 ejected", pk.Backend())
	}
	fc.Advance(10 * time.Second)
	pk, err = p.Pick(PickInfo{})
	if err != nil {
		t.Fatal(err)
	}
	pk.Done(DoneInfo{})
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if len(pe.readmit) != 1 || pe.readmit[0].ID != "b000" {
		t.Errorf("re-admissions %+v", pe.readmit)
	}
	if len(pe.picks) != 2 || !errors.Is(pe.picks[0].Err, ErrNoBackend) || !pe.picks[0].Retry || pe.picks[1].Err != nil || pe.picks[1].Backend.ID == "" {
		t.Errorf("picks %+v", pe.picks)
	}
	if pe.lockHeldN != 0 {
		t.Errorf("%d events fired under the pool's lock", pe.lockHeldN)
	}
}

// TestTraceHealthTransition: Fall failed checks mark a backend unhealthy
// and Rise passed ones healthy again; each transition is reported once.
func TestTraceHealthTransition(t *testing.T) {
	var up atomic.Bool
	pe := &poolEvents{}
	var p *Pool
	p = newPool(t, Config{Health: HealthCheck{Rise: 1, Fall: 2,
		Probe: func(ctx context.Context, b Backend) bool { return b.ID != "b000" || up.Load() }}, Trace: pe.trace(&p)}, backends(2)...)
	ctx := context.Background()
	p.CheckNow(ctx)
	p.CheckNow(ctx)
	p.CheckNow(ctx)
	up.Store(true)
	p.CheckNow(ctx)
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if len(pe.health) != 2 || pe.health[0] != (HealthEvent{Backend: Backend{ID: "b000", Addr: "10.0.0.0:80", Weight: 1}}) ||
		pe.health[1].Backend.ID != "b000" || !pe.health[1].Healthy {
		t.Errorf("health transitions %+v", pe.health)
	}
}

// deadFirst picks dead first and alive on a retry.
type deadFirst struct{ dead, alive Backend }

func (d deadFirst) Pick(info PickInfo) (Pick, error) {
	if len(info.Exclude) == 0 {
		return NewPick(d.dead, nil), nil
	}
	return NewPick(d.alive, nil), nil
}

type spanKey struct{}

// TestTraceProxyRetryAndAccessLog: a GET whose first backend refuses the
// connection is retried on another; the trace sees both attempts (the
// header its BackendStart added reaches the backend, each attempt's
// context derives from the request's), the retry and the request's end,
// and the access log line carries HAProxy's fields, the retry count and a
// request ID that also went to the backend.
func TestTraceProxyRetryAndAccessLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	var gotTP, gotID atomic.Value
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTP.Store(r.Header.Get("Traceparent"))
		gotID.Store(r.Header.Get("X-Request-Id"))
		io.WriteString(w, "hello")
	}))
	defer backend.Close()
	dead, alive := Backend{ID: "dead", Addr: deadAddr}, Backend{ID: "alive", Addr: strings.TrimPrefix(backend.URL, "http://")}

	var mu sync.Mutex
	var attempts []BackendAttempt
	var results []BackendResult
	var retries []RetryEvent
	bad := 0
	done := make(chan RequestInfo, 1)
	core, logs := observer.New(zapcore.InfoLevel)
	px, err := NewProxy(ProxyConfig{Pool: deadFirst{dead, alive}, AccessLog: zap.New(core), Trace: &Trace{
		RequestStart: func(ctx context.Context, r *http.Request) context.Context {
			return context.WithValue(ctx, spanKey{}, "request")
		},
		BackendStart: func(ctx context.Context, a BackendAttempt) context.Context {
			a.Request.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			mu.Lock()
			defer mu.Unlock()
			if ctx.Value(spanKey{}) != "request" {
				bad++
			}
			attempts = append(attempts, a)
			return context.WithValue(ctx, spanKey{}, a.Backend.ID)
		},
		BackendDone: func(ctx context.Context, r BackendResult) {
			mu.Lock()
			defer mu.Unlock()
			if ctx.Value(spanKey{}) != r.Backend.ID {
				bad++
			}
			results = append(results, r)
		},
		Retry: func(ctx context.Context, r RetryEvent) {
			mu.Lock()
			defer mu.Unlock()
			retries = append(retries, r)
		},
		RequestDone: func(ctx context.Context, info RequestInfo) {
			if ctx.Value(spanKey{}) != "request" {
				mu.Lock()
				bad++
				mu.Unlock()
			}
			done <- info
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.CloseIdleConnections()
	front := httptest.NewServer(px)
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/p?q=1", nil)
	req.Header.Set("User-Agent", "probe/1")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	info := <-done

	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 200 || info.Status != 200 || info.Bytes != 5 || info.Backend != alive || info.Attempts != 2 ||
		info.Method != "GET" || info.Path != "/p" || info.Duration < info.TTFB || info.TTFB <= 0 {
		t.Errorf("status %d, RequestDone %+v", resp.StatusCode, info)
	}
	if len(attempts) != 2 || attempts[0].Backend != dead || attempts[0].Attempt != 0 || attempts[1].Backend != alive || attempts[1].Attempt != 1 {
		t.Errorf("attempts %+v", attempts)
	}
	if len(results) != 2 || results[0].Err == nil || results[0].Status != 0 || results[1].Err != nil || results[1].Status != 200 || results[1].Latency <= 0 {
		t.Errorf("results %+v", results)
	}
	if len(retries) != 1 || retries[0].Failed != dead || retries[0].Attempt != 1 || retries[0].Err == nil {
		t.Errorf("retries %+v", retries)
	}
	if bad != 0 {
		t.Errorf("%d events got the wrong context", bad)
	}
	if gotTP.Load() != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("backend got traceparent %q", gotTP.Load())
	}
	entries := logs.TakeAll()
	if len(entries) != 1 {
		t.Fatalf("%d access log lines", len(entries))
	}
	f := entries[0].ContextMap()
	for k, want := range map[string]any{
		"client": "127.0.0.1", "method": "GET", "path": "/p", "query": "q=1", "proto": "HTTP/1.1", "status": int64(200),
		"bytes": int64(5), "backend": "alive", "server": alive.Addr, "retries": int64(1), "user_agent": "probe/1",
	} {
		if f[k] != want {
			t.Errorf("field %s = %#v, want %#v", k, f[k], want)
		}
	}
	if id, _ := f["request_id"].(string); id == "" || id != gotID.Load() {
		t.Errorf("request_id %q, backend got %q", f["request_id"], gotID.Load())
	}
}

// TestTraceUnsetPickAllocatesNothing: with no Trace a pick and its Done
// allocate nothing (the nil check is all the hooks cost).
func TestTraceUnsetPickAllocatesNothing(t *testing.T) {
	p := newPool(t, Config{}, backends(10)...)
	if n := testing.AllocsPerRun(1000, func() {
		pk, _ := p.Pick(PickInfo{})
		pk.Done(DoneInfo{Latency: 1})
	}); n != 0 {
		t.Fatalf("a pick allocates %v times", n)
	}
}
