package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Objects larger than MaxObjectBytes (issue 14 §6): the edge must not
// buffer them, must not pretend to collapse them, must stream them as
// they arrive, and must truncate (never complete) a response whose origin
// fails mid-body.

// window is the engine's streaming window (cache/fill.go).
const window = 32 << 10

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// pattern is the generated body: byte i is i mod 251, so any byte out of
// place shows.
var pattern = func() []byte {
	p := make([]byte, 251+window*4)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}()

// fill p with the body bytes at offset off.
func generate(p []byte, off int64) {
	for len(p) > 0 {
		k := copy(p, pattern[off%251:])
		p, off = p[k:], off+int64(k)
	}
}

// matches reports whether p is the body at offset off.
func matches(p []byte, off int64) bool {
	for len(p) > 0 {
		q := pattern[off%251:]
		k := min(len(p), len(q))
		if !bytes.Equal(p[:k], q[:k]) {
			return false
		}
		p, off = p[k:], off+int64(k)
	}
	return true
}

var errOriginDied = errors.New("origin died")

// genBody is an origin body generated as it is read, never held whole.
// before, if set, runs before the bytes at off are produced (it may
// block); failAt > 0 makes the origin fail there.
type genBody struct {
	ctx     context.Context
	size    int64
	off     int64
	failAt  int64
	stallAt int64 // > 0: stop sending there until the request ends
	before  func(off int64)
	closed  atomic.Bool
}

func (g *genBody) Read(p []byte) (int, error) {
	if g.closed.Load() {
		return 0, errors.New("read after close")
	}
	if err := g.ctx.Err(); err != nil {
		return 0, err // as the transport does when the request ends
	}
	if g.stallAt > 0 && g.off >= g.stallAt {
		<-g.ctx.Done()
		return 0, g.ctx.Err()
	}
	if g.failAt > 0 && g.off >= g.failAt {
		return 0, errOriginDied
	}
	if g.off >= g.size {
		return 0, io.EOF
	}
	if g.before != nil {
		g.before(g.off)
	}
	end := g.size
	for _, at := range []int64{g.failAt, g.stallAt} {
		if at > 0 {
			end = min(end, at)
		}
	}
	k := int(min(int64(len(p)), end-g.off))
	generate(p[:k], g.off)
	g.off += int64(k)
	return k, nil
}

func (g *genBody) Close() error { g.closed.Store(true); return nil }

// genOrigin answers every request with a generated body; knownLength
// sends Content-Length, otherwise the length is unknown (chunked).
type genOrigin struct {
	fetches     atomic.Int32
	size        int64
	knownLength bool
	failAt      int64
	stallAt     int64
	header      func() // runs before the head is returned (may block)
	before      func(off int64)
	mu          sync.Mutex
	bodies      []*genBody
}

func (o *genOrigin) RoundTrip(req *http.Request) (*http.Response, error) {
	o.fetches.Add(1)
	if o.header != nil {
		o.header()
	}
	b := &genBody{ctx: req.Context(), size: o.size, failAt: o.failAt, stallAt: o.stallAt, before: o.before}
	o.mu.Lock()
	o.bodies = append(o.bodies, b)
	o.mu.Unlock()
	resp := &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
		Header: http.Header{"Cache-Control": {"max-age=60"}, "Content-Type": {"application/octet-stream"}}, Body: b, ContentLength: -1}
	if o.knownLength {
		resp.ContentLength = o.size
		resp.Header.Set("Content-Length", strconv.FormatInt(o.size, 10))
	}
	return resp, nil
}

func (o *genOrigin) allClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range o.bodies {
		if !b.closed.Load() {
			return false
		}
	}
	return true
}

// sink is a client that checks the body and keeps none of it. gone, if
// set, is closed once the client has read goneAfter bytes: the client
// then disconnects.
type sink struct {
	h         http.Header
	status    int
	n         int64
	bad       bool
	got       chan struct{} // closed at the first body byte
	goneAfter int64
	gone      context.CancelFunc
	aborted   bool
}

func newSink() *sink { return &sink{h: http.Header{}, got: make(chan struct{})} }

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *sink) Flush() {}
func (s *sink) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	if s.gone != nil && s.n >= s.goneAfter {
		s.gone()
		return 0, errors.New("client gone")
	}
	if !matches(p, s.n) {
		s.bad = true
	}
	if s.n == 0 && len(p) > 0 {
		close(s.got)
	}
	s.n += int64(len(p))
	return len(p), nil
}

// serve runs one request against n, as net/http would, recovering the
// panic that aborts a response.
func (s *sink) serve(n *Node, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if s.gone == nil && s.goneAfter > 0 {
		s.gone = cancel
	}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			s.aborted = true
		}
	}()
	n.ServeHTTP(s, httptest.NewRequest("GET", "http://site"+path, nil).WithContext(ctx))
}

func newTestNode(t *testing.T, cfg Config) *Node {
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// heapBytes is the heap in use by objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestBigObjectHerdBoundedMemory: 30 concurrent requests for one 50 MiB
// object (above MaxObjectBytes, with and without a Content-Length). Every
// client gets the whole body, the edge's heap stays far below what
// buffering would take (30 × 8 MiB and more), and the Collapsed counter
// counts only requests answered from another's fetch.
func TestBigObjectHerdBoundedMemory(t *testing.T) {
	for _, known := range []bool{true, false} {
		name := "chunked"
		if known {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testBigObjectHerd(t, known) })
		})
	}
}

func testBigObjectHerd(t *testing.T, knownLength bool) {
	const size, clients = 50 << 20, 30
	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	release := make(chan struct{})
	o := &genOrigin{size: size, knownLength: knownLength,
		header: func() { <-release },
		before: func(off int64) {
			if off%(1<<20) < window { // sample about once a MiB per fetch
				for h := heapBytes(); ; {
					p := peak.Load()
					if h <= p || peak.CompareAndSwap(p, h) {
						break
					}
				}
			}
		}}
	n := newTestNode(t, Config{Origin: o})
	sinks := make([]*sink, clients)
	var wg sync.WaitGroup
	for i := range sinks {
		sinks[i] = newSink()
		wg.Go(func() { sinks[i].serve(n, "/big") })
	}
	synctest.Wait() // one request at the origin, the others waiting for it
	close(release)
	wg.Wait()
	for i, s := range sinks {
		if s.status != 200 || s.n != size || s.bad || s.aborted {
			t.Fatalf("client %d: status %d, %d of %d bytes, corrupt %v, aborted %v", i, s.status, s.n, size, s.bad, s.aborted)
		}
	}
	fetches := uint64(o.fetches.Load())
	if st := n.Stats(); st.Collapsed != clients-fetches {
		t.Errorf("%d origin fetches for %d clients, but Collapsed = %d (must count only requests served from another's fetch)", fetches, clients, st.Collapsed)
	}
	if p := peak.Load(); p > base && p-base > 64<<20 {
		t.Errorf("heap grew by %d MiB serving %d clients a %d MiB object (bound 64 MiB)", (p-base)>>20, clients, size>>20)
	}
	t.Logf("%d origin fetches, peak heap +%d MiB", fetches, (peak.Load()-min(base, peak.Load()))>>20)
	if !o.allClosed() {
		t.Error("an origin body was left open")
	}
}

// TestBigObjectStreamsBeforeOriginFinishes: the origin sends the first
// 64 KiB of a large object and then waits until the client has received
// some of it. An edge that buffered before streaming would wait forever.
// Then the client leaves: the pass-through fetch is canceled and its body
// closed (nobody else is reading it).
func TestBigObjectStreamsBeforeOriginFinishes(t *testing.T) {
	for _, known := range []bool{true, false} {
		name := "chunked"
		if known {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const size = 4 << 20
				gate := make(chan struct{})
				o := &genOrigin{size: size, knownLength: known, before: func(off int64) {
					if off == 64<<10 {
						<-gate
					}
				}}
				n := newTestNode(t, Config{Origin: o, MaxObjectBytes: 1 << 20})
				s := newSink()
				s.goneAfter = 2 << 20
				done := make(chan struct{})
				go func() { defer close(done); s.serve(n, "/big") }()
				synctest.Wait()
				select {
				case <-s.got:
				default:
					t.Error("no byte reached the client while the origin waited for it: the edge buffers")
				}
				close(gate)
				<-done
				n.waitIdle()
				if s.status != 200 || s.bad || s.n < 64<<10 || s.n > s.goneAfter {
					t.Fatalf("client: status %d, %d bytes, corrupt %v", s.status, s.n, s.bad)
				}
				if !o.allClosed() || o.bodies[0].off >= size {
					t.Fatalf("the fetch outlived its only client: read %d of %d bytes, closed %v", o.bodies[0].off, size, o.allClosed())
				}
			})
		})
	}
}

// TestChunkedObjectStoredCopyDroppedPastLimit: a chunked object that
// outgrows MaxObjectBytes is streamed to its client in full and not
// stored; the key is marked hit-for-pass, so the next request streams it
// without keeping a copy.
func TestChunkedObjectStoredCopyDroppedPastLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 3 << 20
		o := &genOrigin{size: size}
		n := newTestNode(t, Config{Origin: o, MaxObjectBytes: 1 << 20, XCache: true})
		for i := range 2 {
			s := newSink()
			s.serve(n, "/chunked")
			if s.status != 200 || s.n != size || s.bad || s.aborted || s.h.Get("X-Cache") != "MISS" {
				t.Fatalf("request %d: status %d, %d bytes, corrupt %v, X-Cache %q", i, s.status, s.n, s.bad, s.h.Get("X-Cache"))
			}
		}
		n.waitIdle()
		if o.fetches.Load() != 2 || n.Stats().Collapsed != 0 {
			t.Fatalf("fetches %d, collapsed %d", o.fetches.Load(), n.Stats().Collapsed)
		}
		// Marked hit-for-pass: two concurrent requests each fetch on
		// their own at once, neither waiting for the other.
		a, b := newSink(), newSink()
		done := make(chan struct{}, 2)
		go func() { a.serve(n, "/chunked"); done <- struct{}{} }()
		go func() { b.serve(n, "/chunked"); done <- struct{}{} }()
		<-done
		<-done
		if o.fetches.Load() != 4 || n.Stats().Collapsed != 0 || a.n != size || b.n != size {
			t.Fatalf("hit-for-pass: fetches %d, collapsed %d, bodies %d and %d", o.fetches.Load(), n.Stats().Collapsed, a.n, b.n)
		}
	})
}

// TestSmallChunkedObjectStoredAndShared: a chunked body within
// MaxObjectBytes but longer than the window is streamed to the leader as
// it arrives, stored, and given whole to a waiter (counted collapsed).
func TestSmallChunkedObjectStoredAndShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 512 << 10
		gate := make(chan struct{})
		o := &genOrigin{size: size, before: func(off int64) {
			if off == 256<<10 {
				<-gate
			}
		}}
		n := newTestNode(t, Config{Origin: o, MaxObjectBytes: 1 << 20, XCache: true})
		leader, waiter := newSink(), newSink()
		var wg sync.WaitGroup
		wg.Go(func() { leader.serve(n, "/s") })
		synctest.Wait()
		wg.Go(func() { waiter.serve(n, "/s") })
		synctest.Wait()
		select {
		case <-leader.got:
		default:
			t.Error("the leader got nothing while the origin paused")
		}
		close(gate)
		wg.Wait()
		for _, s := range []*sink{leader, waiter} {
			if s.status != 200 || s.n != size || s.bad {
				t.Fatalf("status %d, %d bytes, corrupt %v", s.status, s.n, s.bad)
			}
		}
		if o.fetches.Load() != 1 || n.Stats().Collapsed != 1 {
			t.Fatalf("fetches %d, collapsed %d", o.fetches.Load(), n.Stats().Collapsed)
		}
		hit := newSink()
		hit.serve(n, "/s")
		if hit.h.Get("X-Cache") != "HIT" || hit.n != size || hit.bad {
			t.Fatalf("not stored: X-Cache %q, %d bytes", hit.h.Get("X-Cache"), hit.n)
		}
	})
}

// TestOriginDiesMidBody: the origin fails after sending part of the body.
// A client that already has the head must see a truncated response (RFC
// 9112 §6.3: an incomplete message; a chunked body is not terminated, a
// Content-Length is not reached), never a complete-looking one; one that
// has not is answered 502; nothing partial is stored.
func TestOriginDiesMidBody(t *testing.T) {
	cases := []struct {
		name         string
		size, failAt int64
		known        bool
		want502      bool
	}{
		{"big content-length", 4 << 20, 1 << 20, true, false},
		{"big chunked", 4 << 20, 2 << 20, false, false},
		{"small chunked past the window", 512 << 10, 100 << 10, false, false},
		{"small content-length", 512 << 10, 100 << 10, true, true},
		{"small chunked within the window", 512 << 10, 10 << 10, false, true},
	}
	// The origin pauses at 64 KiB until the client has the head, so the
	// failure comes after it whenever the edge streams.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gate chan struct{}
			o := &genOrigin{size: tc.size, knownLength: tc.known, failAt: tc.failAt, before: func(off int64) {
				if off == 64<<10 && !tc.want502 {
					// An edge that buffers never sends the head; give
					// up waiting then, so the test fails instead of
					// hanging (not a synchronisation: the gate is).
					select {
					case <-gate:
					case <-time.After(10 * time.Second):
					}
				}
			}}
			n := newTestNode(t, Config{Origin: o, MaxObjectBytes: 1 << 20, XCache: true})
			srv := httptest.NewServer(n)
			defer srv.Close()
			for i := range 2 {
				gate = make(chan struct{})
				resp, err := http.Get(srv.URL + "/x")
				close(gate)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.want502 {
					if resp.StatusCode != http.StatusBadGateway {
						t.Fatalf("request %d: status %d, want 502", i, resp.StatusCode)
					}
				} else if resp.StatusCode != 200 || err == nil || int64(len(b)) >= tc.size || !matches(b, 0) {
					t.Fatalf("request %d: status %d, %d bytes, read error %v: want a truncated 200", i, resp.StatusCode, len(b), err)
				}
				if resp.Header.Get("X-Cache") == "HIT" {
					t.Fatalf("request %d: a partial body was stored", i)
				}
			}
			n.waitIdle()
			if o.fetches.Load() != 2 {
				t.Fatalf("origin fetches %d, want 2 (nothing stored)", o.fetches.Load())
			}
		})
	}
}

// TestCollapsedFetchOutlivesLeaderClient: the leader's client leaves while
// its fetch is under way; the fetch goes on (bounded by FetchTimeout) for
// the waiter and the cache.
func TestCollapsedFetchOutlivesLeaderClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 512 << 10
		gate := make(chan struct{})
		o := &genOrigin{size: size, before: func(off int64) {
			if off == 128<<10 {
				<-gate
			}
		}}
		n := newTestNode(t, Config{Origin: o, MaxObjectBytes: 1 << 20, XCache: true})
		leader, waiter := newSink(), newSink()
		leader.goneAfter = 64 << 10
		var wg sync.WaitGroup
		wg.Go(func() { leader.serve(n, "/o") })
		synctest.Wait()
		wg.Go(func() { waiter.serve(n, "/o") })
		synctest.Wait()
		close(gate)
		wg.Wait()
		n.waitIdle()
		if waiter.status != 200 || waiter.n != size || waiter.bad || !leader.aborted && leader.n >= size {
			t.Fatalf("waiter: %d, %d bytes; leader %d bytes", waiter.status, waiter.n, leader.n)
		}
		if o.fetches.Load() != 1 || n.Stats().Collapsed != 1 {
			t.Fatalf("fetches %d, collapsed %d", o.fetches.Load(), n.Stats().Collapsed)
		}
	})
}

// TestFetchTimeoutBoundsOnlySharedFetches: a fetch that may be stored is
// cut at FetchTimeout even when its client has left; a pass-through of a
// big object is the client's alone and is not (a slow 100 s download
// completes).
func TestFetchTimeoutBoundsOnlySharedFetches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := &genOrigin{size: 512 << 10, knownLength: true, stallAt: 100 << 10}
		n := newTestNode(t, Config{Origin: stuck, FetchTimeout: 30 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.ServeHTTP(newSink(), httptest.NewRequest("GET", "http://site/stuck", nil).WithContext(ctx))
		}()
		synctest.Wait()
		// The client's context ends (it left, or half-closed: the
		// handler waits for the object being stored, which a
		// half-closed client still reads).
		cancel()
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if stuck.allClosed() {
			t.Fatal("the fetch ended with its client; waiters and the cache lose it")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !stuck.allClosed() {
			t.Fatal("the fetch outlived FetchTimeout")
		}
		<-done
		n.waitIdle()

		slow := &genOrigin{size: 10 * window, before: func(off int64) {
			time.Sleep(10 * time.Second) // one window every 10 s
		}}
		n2 := newTestNode(t, Config{Origin: slow, MaxObjectBytes: window, FetchTimeout: 30 * time.Second})
		s := newSink()
		s.serve(n2, "/slow")
		if s.status != 200 || s.n != 10*window || s.bad || s.aborted {
			t.Fatalf("slow big object: status %d, %d of %d bytes, aborted %v", s.status, s.n, 10*window, s.aborted)
		}
	})
}

// TestLeaderPanicReleasesWaiters: an origin transport that panics in the
// leader's fetch must not leave the key busy: the waiter fetches its own.
func TestLeaderPanicReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var calls atomic.Int32
		o := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				<-gate
				panic("transport bug")
			}
			return (&genOrigin{size: 10, knownLength: true}).RoundTrip(req)
		})
		n := newTestNode(t, Config{Origin: o})
		go func() {
			defer func() { recover() }()
			newSink().serve(n, "/p")
		}()
		synctest.Wait()
		waiter := newSink()
		done := make(chan struct{})
		go func() { defer close(done); waiter.serve(n, "/p") }()
		synctest.Wait()
		close(gate)
		<-done
		if waiter.status != 200 || waiter.n != 10 || calls.Load() != 2 {
			t.Fatalf("waiter: status %d, %d bytes, %d origin calls", waiter.status, waiter.n, calls.Load())
		}
	})
}
