package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgekit/edgekit/internal/rawbackend"
)

// frontFor serves pool through a default Proxy and returns its URL and a
// client for it, all closed when the test ends.
func frontFor(t *testing.T, pool *Pool) (string, *http.Client) {
	t.Helper()
	px, err := NewProxy(ProxyConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	t.Cleanup(func() { front.Close(); px.CloseIdleConnections() })
	return front.URL, front.Client()
}

// A request with a body takes the transport's fallback path and arrives
// intact.
func TestL7ProxyPassesBodies(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
	defer s.Close()
	pool := newPool(t, Config{}, Backend{ID: "b", Addr: strings.TrimPrefix(s.URL, "http://")})
	frontURL, client := frontFor(t, pool)
	resp, err := client.Post(frontURL+"/p", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /p payload" {
		t.Fatalf("POST through proxy: %q", b)
	}
}

// BenchmarkL7Proxy sends GETs for a 1 KiB body through the proxy over
// loopback, with its default transport beside a plain http.Transport
// (what httputil.ReverseProxy uses unless told otherwise).
func BenchmarkL7Proxy(b *testing.B) {
	body := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer backend.Close()
	for _, c := range []struct {
		name string
		tr   http.RoundTripper
	}{
		{"transport=edgekit", nil},
		{"transport=net/http", &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := newPool(b, Config{}, Backend{ID: "b", Addr: strings.TrimPrefix(backend.URL, "http://")})
			px, err := NewProxy(ProxyConfig{Pool: pool, Transport: c.tr})
			if err != nil {
				b.Fatal(err)
			}
			defer px.CloseIdleConnections()
			front := httptest.NewServer(px)
			defer front.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(front.URL + "/x")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// A backend that takes requests and closes the connection without an
// answer (killed mid-load) loses no idempotent request: each is sent
// again to another backend.
func TestL7ProxyRetriesRequestsABackendDropped(t *testing.T) {
	dropper := rawbackend.Serve(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c)) // read it, then drop it
	})
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "good") }))
	defer good.Close()
	pool := newPool(t, Config{Outlier: OutlierDetection{Consecutive: -1}},
		Backend{ID: "dropper", Addr: dropper},
		Backend{ID: "good", Addr: strings.TrimPrefix(good.URL, "http://")})
	frontURL, client := frontFor(t, pool)
	for i := 0; i < 40; i++ {
		resp, err := client.Get(frontURL + fmt.Sprintf("/r/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "good" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	for _, st := range pool.Stats() {
		if st.ID == "dropper" && st.Failures == 0 {
			t.Fatal("the dropping backend's failures were not reported")
		}
	}
}

// Header affinity through a hash policy: one user always reaches one
// backend, users spread over all of them; an unkeyed policy never asks
// for a key.
func TestProxyKeyedAffinity(t *testing.T) {
	var names []Backend
	for _, n := range []string{"a", "b", "c"} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, n) }))
		defer s.Close()
		names = append(names, Backend{ID: n, Addr: strings.TrimPrefix(s.URL, "http://")})
	}
	var keyCalls atomic.Int64
	key := func(r *http.Request) string { keyCalls.Add(1); return r.Header.Get("X-User") }
	get := func(front, user string) string {
		req, _ := http.NewRequest("GET", front, nil)
		req.Header.Set("X-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for name, pol := range map[string]Policy{"maglev": Maglev(0), "rendezvous": Rendezvous(), "ring": RingHash(0), "jump": Jump(), "bounded": BoundedLoad(0)} {
		px, err := NewProxy(ProxyConfig{Pool: newPool(t, Config{Policy: pol}, names...), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(px)
		seen := map[string]bool{}
		for u := 0; u < 30; u++ {
			user := fmt.Sprintf("user-%d", u)
			first := get(front.URL, user)
			for i := 0; i < 3; i++ {
				if got := get(front.URL, user); got != first {
					t.Fatalf("%s: %s went to %s, then %s", name, user, first, got)
				}
			}
			seen[first] = true
		}
		if len(seen) != 3 {
			t.Errorf("%s: 30 users reached only %v", name, seen)
		}
		front.Close()
		px.CloseIdleConnections()
	}
	keyCalls.Store(0)
	px, _ := NewProxy(ProxyConfig{Pool: newPool(t, Config{Policy: RoundRobin()}, names...), Key: key})
	front := httptest.NewServer(px)
	defer front.Close()
	defer px.CloseIdleConnections()
	for i := 0; i < 6; i++ {
		get(front.URL, "u")
	}
	if n := keyCalls.Load(); n != 0 {
		t.Errorf("round robin computed the key %d times", n)
	}
}
