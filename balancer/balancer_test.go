package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newPool(t testing.TB, cfg Config, backends ...Backend) *Pool {
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, b := range backends {
		if err := p.Add(b); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func backends(n int) []Backend {
	out := make([]Backend, n)
	for i := range out {
		out[i] = Backend{ID: fmt.Sprintf("b%03d", i), Addr: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250)}
	}
	return out
}

func pickN(t testing.TB, p *Pool, n int, key func(i int) string) map[string]int {
	got := map[string]int{}
	for i := 0; i < n; i++ {
		k := ""
		if key != nil {
			k = key(i)
		}
		pk, err := p.Pick(PickInfo{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		got[pk.Backend().ID]++
		pk.Done(DoneInfo{})
	}
	return got
}

func TestRoundRobinIsEven(t *testing.T) {
	p := newPool(t, Config{}, backends(3)...)
	got := pickN(t, p, 300, nil)
	for id, n := range got {
		if n != 100 {
			t.Fatalf("%s got %d of 300", id, n)
		}
	}
}

func TestSmoothWeightedRoundRobin(t *testing.T) {
	p := newPool(t, Config{Policy: WeightedRoundRobin()},
		Backend{ID: "a", Addr: "a:1", Weight: 5}, Backend{ID: "b", Addr: "b:1", Weight: 1}, Backend{ID: "c", Addr: "c:1", Weight: 1})
	var seq []string
	for i := 0; i < 7; i++ {
		pk, _ := p.Pick(PickInfo{})
		seq = append(seq, pk.Backend().ID)
		pk.Done(DoneInfo{})
	}
	// nginx's smooth WRR for 5,1,1.
	if got := strings.Join(seq, ""); got != "aabacaa" {
		t.Fatalf("sequence %s, want aabacaa", got)
	}
	got := pickN(t, p, 700, nil)
	if got["a"] != 500 || got["b"] != 100 || got["c"] != 100 {
		t.Fatalf("shares over full cycles: %v", got)
	}
}

func TestLeastConnectionsAndP2CPreferIdleBackends(t *testing.T) {
	for name, pol := range map[string]Policy{"leastconn": LeastConnections(), "p2c": PowerOfTwo()} {
		p := newPool(t, Config{Policy: pol}, backends(2)...)
		// Hold 10 requests on whichever backend is picked first.
		first, _ := p.Pick(PickInfo{})
		var held []Pick
		for i := 0; i < 10; i++ {
			pk, _ := p.Pick(PickInfo{})
			if pk.Backend().ID == first.Backend().ID {
				held = append(held, pk)
			} else {
				pk.Done(DoneInfo{})
			}
		}
		other := 0
		for i := 0; i < 20; i++ {
			pk, _ := p.Pick(PickInfo{})
			if pk.Backend().ID != first.Backend().ID {
				other++
			}
			pk.Done(DoneInfo{})
		}
		if other < 19 {
			t.Fatalf("%s: only %d of 20 picks went to the idle backend", name, other)
		}
		first.Done(DoneInfo{})
		for _, h := range held {
			h.Done(DoneInfo{})
		}
	}
}

func TestRandomHonoursWeights(t *testing.T) {
	p := newPool(t, Config{Policy: Random()}, Backend{ID: "a", Addr: "a:1", Weight: 3}, Backend{ID: "b", Addr: "b:1", Weight: 1})
	got := pickN(t, p, 40000, nil)
	if r := float64(got["a"]) / 40000; r < 0.73 || r > 0.77 {
		t.Fatalf("weight 3 of 4 got share %.3f", r)
	}
}

func TestPeakEWMAAvoidsSlowBackend(t *testing.T) {
	p := newPool(t, Config{Policy: PeakEWMA()}, backends(2)...)
	for i := 0; i < 50; i++ {
		pk, _ := p.Pick(PickInfo{})
		lat := time.Millisecond
		if pk.Backend().ID == "b000" {
			lat = 100 * time.Millisecond
		}
		pk.Done(DoneInfo{Latency: lat})
	}
	got := pickN(t, p, 100, nil)
	if got["b000"] > 5 {
		t.Fatalf("slow backend still got %d of 100", got["b000"])
	}
}

func TestOutlierEjectionBackoffAndPanicMode(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	p := newPool(t, Config{Now: fc.Now, Outlier: OutlierDetection{Consecutive: 3, BaseEjection: 10 * time.Second, MaxEjectionPercent: 50}}, backends(2)...)
	fail := func(id string) {
		for i := 0; i < 50; i++ {
			pk, _ := p.Pick(PickInfo{})
			if pk.Backend().ID == id {
				pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
			} else {
				pk.Done(DoneInfo{})
			}
		}
	}
	fail("b000")
	if st := p.Stats(); st[0].State != Ejected {
		t.Fatalf("not ejected: %+v", st[0])
	}
	if got := pickN(t, p, 10, nil); got["b000"] != 0 {
		t.Fatalf("ejected backend picked: %v", got)
	}
	// 50% cap: the other backend cannot be ejected as well.
	for i := 0; i < 10; i++ {
		pk, _ := p.Pick(PickInfo{})
		pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
	}
	if st := p.Stats(); st[1].State == Ejected {
		t.Fatal("max ejection percent exceeded")
	}
	fc.Advance(11 * time.Second)
	p.Refresh()
	if got := pickN(t, p, 10, nil); got["b000"] == 0 {
		t.Fatal("not re-admitted after the ejection period")
	}
}

// An ejected backend comes back when the injected clock says its
// ejection ended, at the next pick: no Refresh, no waiting for the real
// timer that also re-admits it (Envoy re-admits on its own interval
// timer; here the pick notices). origin's failover relies on it.
func TestEjectionEndsOnInjectedClockAtNextPick(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	p := newPool(t, Config{Now: fc.Now, Outlier: OutlierDetection{Consecutive: 1, BaseEjection: time.Hour, MaxEjectionPercent: 50}}, backends(2)...)
	for {
		pk, _ := p.Pick(PickInfo{})
		if pk.Backend().ID == "b000" {
			pk.Done(DoneInfo{Err: io.ErrUnexpectedEOF})
			break
		}
		pk.Done(DoneInfo{})
	}
	if got := pickN(t, p, 10, nil); got["b000"] != 0 {
		t.Fatalf("ejected backend picked: %v", got)
	}
	fc.Advance(time.Hour)
	if got := pickN(t, p, 10, nil); got["b000"] == 0 {
		t.Fatalf("not re-admitted when the ejection ended: %v", got)
	}
}

func TestActiveHealthChecks(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "OK ready")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	p := newPool(t, Config{Health: HealthCheck{Path: "/health", Expect: "ready", Rise: 1, Fall: 2}}, Backend{ID: "s", Addr: addr}, Backend{ID: "t", Addr: addr})
	ctx := context.Background()
	healthy.Store(false)
	p.CheckNow(ctx)
	p.CheckNow(ctx)
	if p.Stats()[0].State != Unhealthy {
		t.Fatalf("%+v", p.Stats())
	}
	healthy.Store(true)
	p.CheckNow(ctx)
	if p.Stats()[0].State != Healthy {
		t.Fatalf("%+v", p.Stats())
	}
	if !(HealthCheck{}).Check(ctx, addr) {
		t.Fatal("TCP check failed against a listening server")
	}
}

func TestHashPoliciesAreStableAndDeterministic(t *testing.T) {
	for name, mk := range map[string]func() Policy{"maglev": func() Policy { return Maglev(0) }, "ring": func() Policy { return RingHash(0) },
		"rendezvous": Rendezvous, "bounded": func() Policy { return BoundedLoad(0) }, "jump": Jump} {
		pol := mk()
		a := newPool(t, Config{Policy: pol}, backends(10)...)
		b := newPool(t, Config{Policy: mk()}, backends(10)...)
		for i := 0; i < 1000; i++ {
			k := fmt.Sprintf("/object/%d", i)
			pa, _ := a.Pick(PickInfo{Key: k})
			pb, _ := b.Pick(PickInfo{Key: k})
			pa.Done(DoneInfo{})
			pb.Done(DoneInfo{})
			if pa.Backend().ID != pb.Backend().ID {
				t.Fatalf("%s: two pools disagree on %s", name, k)
			}
		}
	}
}

func TestHashPickDoesNotAllocate(t *testing.T) {
	for name, pol := range map[string]Policy{"maglev": Maglev(0), "ring": RingHash(0), "rendezvous": Rendezvous(), "rr": RoundRobin(), "wrr": WeightedRoundRobin(), "p2c": PowerOfTwo(), "jump": Jump()} {
		p := newPool(t, Config{Policy: pol}, backends(10)...)
		info := PickInfo{Key: "https://example.com/some/object.js"}
		if a := testing.AllocsPerRun(1000, func() {
			pk, _ := p.Pick(info)
			pk.Done(DoneInfo{Latency: time.Millisecond})
		}); a != 0 {
			t.Errorf("%s: %.1f allocs per pick", name, a)
		}
	}
}

// TestL7ProxyRetriesAndHeaders runs three loopback backends, kills one
// mid-load, and checks that no idempotent request is lost.
func TestL7ProxyRetriesAndHeaders(t *testing.T) {
	var seen sync.Map
	mk := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Store("xff", r.Header.Get("X-Forwarded-For"))
			seen.Store("fwd", r.Header.Get("Forwarded"))
			io.WriteString(w, name)
		}))
	}
	s1, s2, s3 := mk("one"), mk("two"), mk("three")
	defer s2.Close()
	defer s3.Close()
	pool := newPool(t, Config{Outlier: OutlierDetection{Consecutive: 1}},
		Backend{ID: "one", Addr: strings.TrimPrefix(s1.URL, "http://")},
		Backend{ID: "two", Addr: strings.TrimPrefix(s2.URL, "http://")},
		Backend{ID: "three", Addr: strings.TrimPrefix(s3.URL, "http://")})
	px, err := NewProxy(ProxyConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	defer front.Close()
	client := front.Client()
	failures := 0
	for i := 0; i < 300; i++ {
		if i == 100 {
			s1.Close() // a backend dies mid-load
		}
		resp, err := client.Get(front.URL + fmt.Sprintf("/r/%d", i))
		if err != nil || resp.StatusCode != 200 {
			failures++
			if resp != nil {
				resp.Body.Close()
			}
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if failures != 0 {
		t.Fatalf("%d idempotent requests lost after a backend died", failures)
	}
	if xff, _ := seen.Load("xff"); xff != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For %q", xff)
	}
	if fwd, _ := seen.Load("fwd"); !strings.HasPrefix(fwd.(string), "for=127.0.0.1;proto=http;host=") {
		t.Fatalf("Forwarded %q", fwd)
	}
}

func TestRFC7239_ForwardedQuotesIPv6AndReplacesUntrusted(t *testing.T) {
	in := httptest.NewRequest("GET", "http://site/", nil)
	in.RemoteAddr = "[2001:db8::1]:4711"
	in.Header.Set("Forwarded", "for=6.6.6.6")
	in.Header.Set("X-Forwarded-For", "6.6.6.6")
	out := in.Clone(context.Background())
	setForwarding(out, in, false)
	if got := out.Header.Get("Forwarded"); got != `for="[2001:db8::1]";proto=http;host="site"` {
		t.Fatalf("untrusted: %s", got)
	}
	if got := out.Header.Get("X-Forwarded-For"); got != "2001:db8::1" {
		t.Fatalf("untrusted X-Forwarded-For: %s", got)
	}
	setForwarding(out, in, true)
	if got := out.Header.Get("Forwarded"); got != `for=6.6.6.6, for="[2001:db8::1]";proto=http;host="site"` {
		t.Fatalf("trusted: %s", got)
	}
	in.RemoteAddr = "[::ffff:192.0.2.7]:80" // IPv4-mapped: an IPv4 node (RFC 7239 §6.1)
	setForwarding(out, in, false)
	if got := out.Header.Get("Forwarded"); got != `for=192.0.2.7;proto=http;host="site"` {
		t.Fatalf("mapped: %s", got)
	}
	in.RemoteAddr = "@"
	setForwarding(out, in, false)
	if got := out.Header.Get("Forwarded"); got != `for=unknown;proto=http;host="site"` {
		t.Fatalf("no address: %s", got)
	}
}

// The X-Forwarded-* fields are exactly what ReverseProxy's SetXForwarded
// sets (after copying the incoming X-Forwarded-For when trusted), and the
// four fields do not share capacity (appending to one leaves the others).
func TestForwardingMatchesSetXForwarded(t *testing.T) {
	for _, remote := range []string{"192.0.2.1:1234", "[2001:db8::1]:4711", "not-an-address"} {
		for _, trust := range []bool{false, true} {
			in := httptest.NewRequest("GET", "http://site.example/p", nil)
			in.RemoteAddr = remote
			in.Header["X-Forwarded-For"] = []string{"198.51.100.1", "198.51.100.2"}
			want := in.Clone(context.Background())
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				delete(want.Header, k) // as ReverseProxy does before Rewrite
			}
			got := want.Clone(context.Background())
			if trust {
				want.Header["X-Forwarded-For"] = in.Header["X-Forwarded-For"]
			}
			(&httputil.ProxyRequest{In: in, Out: want}).SetXForwarded()
			setForwarding(got, in, trust)
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if !slices.Equal(got.Header[k], want.Header[k]) {
					t.Errorf("%s trust=%v %s: %q, SetXForwarded %q", remote, trust, k, got.Header[k], want.Header[k])
				}
			}
			got.Header.Add("X-Forwarded-Host", "extra")
			if p := got.Header.Get("X-Forwarded-Proto"); p != "http" {
				t.Errorf("appending to one field changed another: proto %q", p)
			}
		}
	}
}

func TestStickyCookieAndRouting(t *testing.T) {
	mk := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	a, b, api := mk("a"), mk("b"), mk("api")
	defer a.Close()
	defer b.Close()
	defer api.Close()
	web := newPool(t, Config{}, Backend{ID: "a", Addr: strings.TrimPrefix(a.URL, "http://")}, Backend{ID: "b", Addr: strings.TrimPrefix(b.URL, "http://")})
	apis := newPool(t, Config{}, Backend{ID: "api", Addr: strings.TrimPrefix(api.URL, "http://")})
	px, _ := NewProxy(ProxyConfig{Pool: web, Routes: []Route{{PathPrefix: "/api/", Pool: apis}}, Sticky: StickyCookie{Name: "EKLB"}})
	front := httptest.NewServer(px)
	defer front.Close()
	get := func(path string, cookie *http.Cookie) (string, *http.Cookie) {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "EKLB" {
				c = ck
			}
		}
		return string(body), c
	}
	if body, _ := get("/api/x", nil); body != "api" {
		t.Fatalf("route: %s", body)
	}
	first, cookie := get("/page", nil)
	if cookie == nil {
		t.Fatal("no sticky cookie set")
	}
	for i := 0; i < 10; i++ {
		if body, _ := get("/page", cookie); body != first {
			t.Fatalf("sticky session moved from %s to %s", first, body)
		}
	}
	// The pinned backend goes unhealthy: the client is re-pinned.
	pinned := web.members[first]
	pinned.mu.Lock()
	pinned.unhealthy = true
	pinned.mu.Unlock()
	web.Refresh()
	body, newCookie := get("/page", cookie)
	if body == first || newCookie == nil || newCookie.Value == cookie.Value {
		t.Fatalf("not re-pinned: %s %v", body, newCookie)
	}
}

func TestTCPProxyHalfCloseAndDrain(t *testing.T) {
	// An echo backend that replies after the client half-closes.
	bl, _ := net.Listen("tcp", "127.0.0.1:0")
	defer bl.Close()
	go func() {
		for {
			c, err := bl.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				b, _ := io.ReadAll(c) // until the client's FIN
				c.Write([]byte("echo:" + string(b)))
			}(c)
		}
	}()
	pool := newPool(t, Config{Policy: Maglev(0)}, Backend{ID: "echo", Addr: bl.Addr().String()})
	tp, _ := NewTCPProxy(TCPProxyConfig{Pool: pool, DrainTimeout: time.Second})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "echo:hello" {
		t.Fatalf("got %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TCPProxy.Serve reports why accepting ended when it was not its context:
// here a listener closed under it. (How accept errors are ridden out or
// not is internal/serve's, tested there.)
func TestTCPProxyServeReturnsAcceptError(t *testing.T) {
	tp, err := NewTCPProxy(TCPProxyConfig{Pool: newPool(t, Config{})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := tp.Serve(context.Background(), ln); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed listener: %v, want net.ErrClosed", err)
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	p := newPool(t, Config{Policy: WeightedRoundRobin(), SlowStart: 10 * time.Second, Now: fc.Now},
		Backend{ID: "old", Addr: "o:1", Weight: 10})
	p.Add(Backend{ID: "new", Addr: "n:1", Weight: 10})
	got := pickN(t, p, 1100, nil)
	if got["new"] > 110 {
		t.Fatalf("a new backend got %d of 1100 picks at once", got["new"])
	}
	fc.Advance(5 * time.Second)
	p.Refresh()
	mid := pickN(t, p, 1500, nil)
	if mid["new"] < 450 || mid["new"] > 600 {
		t.Fatalf("half way through the ramp: %v", mid)
	}
	fc.Advance(6 * time.Second)
	p.Refresh()
	if full := pickN(t, p, 2000, nil); full["new"] != 1000 {
		t.Fatalf("after the ramp: %v", full)
	}
}

func TestJumpRecoveryReturnsKeys(t *testing.T) {
	p := newPool(t, Config{Policy: Jump(), Outlier: OutlierDetection{Consecutive: -1}}, backends(20)...)
	keys := urlKeys(20000)
	before := make([]string, len(keys))
	for i, k := range keys {
		pk, _ := p.Pick(PickInfo{Key: k})
		pk.Done(DoneInfo{})
		before[i] = pk.Backend().ID
	}
	p.Remove("b007")
	p.Add(Backend{ID: "b007", Addr: "10.0.0.7:80"})
	for i, k := range keys {
		pk, _ := p.Pick(PickInfo{Key: k})
		pk.Done(DoneInfo{})
		if pk.Backend().ID != before[i] {
			t.Fatalf("key %s moved from %s to %s after a remove and re-add", k, before[i], pk.Backend().ID)
		}
	}
}

// P2C compares two distinct backends: a busy backend loses every pair it
// is in, so it is never chosen, whichever index it has.
func TestP2CComparesTwoDistinctBackends(t *testing.T) {
	for _, n := range []int{2, 3, 7} {
		for _, busy := range []int{0, n - 1} {
			var ms []*member
			for _, be := range backends(n) {
				be.Weight = 1
				ms = append(ms, &member{Backend: be})
			}
			ms[busy].picks.Store(5)
			pk := PowerOfTwo().Build(endpoints(ms))
			seen := map[*member]int{}
			for i := 0; i < 20000; i++ {
				seen[pk.Pick(PickInfo{}).m]++
			}
			if seen[ms[busy]] != 0 || len(seen) != n-1 {
				t.Fatalf("N=%d, busy #%d: chosen %d times; %d backends seen", n, busy, seen[ms[busy]], len(seen))
			}
		}
	}
}

// A sticky cookie names its backend by the unseeded hash of the ID in 16
// hex digits, so cookies stay valid across restarts and across proxies.
func TestStickyValueFormat(t *testing.T) {
	for _, id := range []string{"", "a", "backend-17", strings.Repeat("x", 40)} {
		h := hashString(id)
		v := stickyValue(h)
		if want := fmt.Sprintf("%016x", h); v != want {
			t.Fatalf("%q: %s, want %s", id, v, want)
		}
		if got, ok := parseSticky(v); !ok || got != h {
			t.Fatalf("%q: parse(%s) = %x %v", id, v, got, ok)
		}
	}
	for _, bad := range []string{"", "abc", "0123456789abcdeg", "+123456789abcdef", "0123456789abcdef0"} {
		if _, ok := parseSticky(bad); ok {
			t.Errorf("parseSticky accepted %q", bad)
		}
	}
}

// FuzzParseSticky: any cookie value a client sends is refused or names a
// hash whose canonical value is the same digits, lower-cased.
func FuzzParseSticky(f *testing.F) {
	f.Add(stickyValue(hashString("a")))
	f.Add("0123456789ABCDEF")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		h, ok := parseSticky(v)
		if ok && stickyValue(h) != strings.ToLower(v) {
			t.Fatalf("%q parsed to %x, written back as %s", v, h, stickyValue(h))
		}
	})
}
