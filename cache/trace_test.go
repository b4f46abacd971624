package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestTraceCollapseWait: a request that waits for another's fetch of the
// same object reports the wait (and that the response was shared); the
// leader does not.
func TestTraceCollapseWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(Config{Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		fetched := make(chan struct{}, 2)
		var mu sync.Mutex
		var waits []CollapseInfo
		e, err := NewEngine(EngineConfig{Cache: c,
			Upstream: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				fetched <- struct{}{}
				<-release
				return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=60"}},
					Body: io.NopCloser(strings.NewReader("shared")), Request: r}, nil
			}),
			Trace: &Trace{CollapseWait: func(ctx context.Context, ci CollapseInfo) {
				mu.Lock()
				waits = append(waits, ci)
				mu.Unlock()
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		var wg sync.WaitGroup
		get := func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/x", nil))
			if w.Body.String() != "shared" {
				t.Errorf("body %q", w.Body.String())
			}
		}
		wg.Add(1)
		go get()
		<-fetched
		wg.Add(1)
		go get()
		synctest.Wait() // the second waits for the first's fetch
		time.Sleep(3 * time.Second)
		close(release)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 1 || waits[0].Wait != 3*time.Second || !waits[0].Shared || waits[0].Key == "" {
			t.Fatalf("CollapseWait %+v", waits)
		}
		if len(fetched) != 0 {
			t.Fatal("the waiter fetched too")
		}
	})
}

// TestTraceUnsetEngineAllocs: a hit through an Engine with no Trace
// allocates no more than one with a Trace whose fields are all nil does
// less the trace's own recorder: the nil check is all it costs.
func TestTraceUnsetEngineAllocs(t *testing.T) {
	c, _ := New(Config{Shared: true})
	up := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=600"}},
			Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})
	measure := func(tr *Trace) float64 {
		e, _ := NewEngine(EngineConfig{Cache: c, Upstream: up, Trace: tr})
		defer e.Close()
		req := httptest.NewRequest("GET", "http://example.com/a", nil)
		h := nopWriter{http.Header{}}
		e.ServeHTTP(h, req)
		return testing.AllocsPerRun(100, func() {
			clear(h.h)
			e.ServeHTTP(h, req)
		})
	}
	unset, set := measure(nil), measure(&Trace{})
	if unset != set-1 { // the traceWriter
		t.Fatalf("allocs per hit: %v without a Trace, %v with an empty one (want one less)", unset, set)
	}
}

type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}
