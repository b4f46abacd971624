package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgekit/edgekit/balancer"
)

// adminAddr reads the admin listener's address from what run printed.
func adminAddr(t *testing.T, out *syncBuffer) string {
	t.Helper()
	m := regexp.MustCompile(`admin: purge and stats on http://([^/]+)/`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no admin address in output:\n%s", out)
	}
	return m[1]
}

func send(t *testing.T, method, u string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestServesCachesAndPurges(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) { servesCachesAndPurges(t, front) })
	}
}

func servesCachesAndPurges(t *testing.T, front string) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "k")
		io.WriteString(w, "page "+r.Method)
	}))
	defer origin.Close()
	addr, out := startEdge(t, "-origin", origin.URL, "-front", front)
	admin := adminAddr(t, out)
	xcache := func(method, path string) string {
		_, _, h := send(t, method, "http://"+addr+path)
		return h.Get("X-Cache")
	}
	for _, want := range []string{"MISS", "HIT"} {
		if got := xcache("GET", "/p"); got != want {
			t.Fatalf("GET /p: %s, want %s", got, want)
		}
	}
	if got := xcache("POST", "/form"); got != "PASS" {
		t.Fatalf("POST: %s", got)
	}
	if code, b, _ := send(t, "POST", "http://"+admin+"/.edge/purge?key=k"); code != 200 || !strings.Contains(b, `"purged":1`) {
		t.Fatalf("purge on the admin listener: %d %s", code, b)
	}
	if got := xcache("GET", "/p"); got != "MISS" {
		t.Fatalf("after purge: %s", got)
	}
}

// sameHostProxies puts, on loopback in front of the edge's public
// listener, a plain httputil.ReverseProxy and the SDK's own load balancer:
// the edge sees every client of theirs as a loopback peer.
func sameHostProxies(t *testing.T, edgeAddr string) map[string]string {
	u, _ := url.Parse("http://" + edgeAddr)
	rp := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(rp.Close)
	pool, err := balancer.New(balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	if err := pool.Add(balancer.Backend{ID: "edge", Addr: edgeAddr}); err != nil {
		t.Fatal(err)
	}
	lb, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	lbs := httptest.NewServer(lb)
	t.Cleanup(func() { lbs.Close(); lb.CloseIdleConnections() })
	return map[string]string{"httputil.ReverseProxy": rp.URL, "balancer.Proxy": lbs.URL}
}

// TestAdminEndpointsApartFromPublic: purge and stats are not reachable
// through a proxy on the same host (whose clients all arrive from
// loopback) unless a token is presented; they are on the admin listener.
func TestAdminEndpointsApartFromPublic(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "k")
		io.WriteString(w, "page")
	}))
	defer origin.Close()
	originHost := strings.TrimPrefix(origin.URL, "http://")

	t.Run("no token", func(t *testing.T) {
		addr, out := startEdge(t, "-origin", origin.URL)
		for name, front := range sameHostProxies(t, addr) {
			send(t, "GET", front+"/p") // stored
			for _, c := range [][2]string{{"POST", "/.edge/purge?all=1"}, {"POST", "/.edge/purge?key=k"}, {"PURGE", "/p"}} {
				if code, b, _ := send(t, c[0], front+c[1]); code == 200 || strings.Contains(b, "purged") {
					t.Errorf("%s: %s %s through a same-host proxy purged anonymously: %d %s", name, c[0], c[1], code, b)
				}
			}
			if _, _, h := send(t, "GET", front+"/p"); h.Get("X-Cache") != "HIT" {
				t.Errorf("%s: object gone after refused purges: %s", name, h.Get("X-Cache"))
			}
			if code, b, _ := send(t, "GET", front+"/.edge/stats"); code == 200 || strings.Contains(b, originHost) {
				t.Errorf("%s: stats on the public listener: %d %s", name, code, b)
			}
		}
		if !strings.Contains(out.String(), "public purge: off") {
			t.Errorf("start-up does not say the public purge is off:\n%s", out)
		}
		admin := adminAddr(t, out)
		if code, b, _ := send(t, "GET", "http://"+admin+"/.edge/stats"); code != 200 || !strings.Contains(b, originHost) {
			t.Errorf("stats on the admin listener: %d %s", code, b)
		}
		if code, b, _ := send(t, "POST", "http://"+admin+"/.edge/purge?key=k"); code != 200 || !strings.Contains(b, `"purged":2`) {
			t.Errorf("purge on the admin listener (one object per proxy's Host): %d %s", code, b)
		}
	})

	t.Run("token file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte("t0ken-123\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr, out := startEdge(t, "-origin", origin.URL, "-purge-token-file", file)
		admin := adminAddr(t, out)
		if !strings.Contains(out.String(), "with token (from "+file+")") {
			t.Errorf("start-up does not say where the token came from:\n%s", out)
		}
		for name, front := range sameHostProxies(t, addr) {
			send(t, "GET", front+"/p")
			if code, _, _ := send(t, "POST", front+"/.edge/purge?key=k"); code != http.StatusUnauthorized {
				t.Errorf("%s: purge without token: %d", name, code)
			}
			if code, _, _ := send(t, "POST", front+"/.edge/purge?key=k", "Authorization", "Bearer t0ken-12"); code != http.StatusUnauthorized {
				t.Errorf("%s: purge with a wrong token: %d", name, code)
			}
			if code, b, _ := send(t, "POST", front+"/.edge/purge?key=k", "Authorization", "Bearer t0ken-123"); code != 200 || !strings.Contains(b, `"purged":1`) {
				t.Errorf("%s: purge with token: %d %s", name, code, b)
			}
			send(t, "GET", front+"/p")
			if code, _, _ := send(t, "PURGE", front+"/p"); code != http.StatusUnauthorized {
				t.Errorf("%s: PURGE without token: %d", name, code)
			}
			if code, b, _ := send(t, "PURGE", front+"/p", "X-Purge-Token", "t0ken-123"); code != 200 || !strings.Contains(b, `"purged":1`) {
				t.Errorf("%s: PURGE with token: %d %s", name, code, b)
			}
			if code, _, _ := send(t, "GET", front+"/.edge/stats"); code == 200 {
				t.Errorf("%s: stats on the public listener", name)
			}
		}
		if code, _, _ := send(t, "POST", "http://"+admin+"/.edge/purge?all=1"); code != http.StatusUnauthorized {
			t.Errorf("admin purge without the token that is set: %d", code)
		}
	})
}

func TestBadFlags(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, args := range [][]string{
		{"-origin", "ftp://x", "-listen", "127.0.0.1:0"}, {"-max-bytes", "0"}, {"-front", "apache"}, {"stray"},
		{"-admin", "0.0.0.0:0", "-listen", "127.0.0.1:0", "-origin", "http://127.0.0.1:1"}, // public admin without a token
		{"-purge-token", "a", "-purge-token-file", empty},
		{"-purge-token-file", empty},
		{"-purge-token-file", filepath.Join(t.TempDir(), "missing")},
		{"-header-timeout", "0"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9080": true, "[::1]:1": true, "localhost:1": true, "127.9.9.9:1": true,
		"0.0.0.0:1": false, ":9080": false, "[::]:1": false, "192.0.2.1:1": false, "junk": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

// TestHeaderTimeout: a client that never finishes its request head is
// let go after -header-timeout, on both fronts (HAProxy's timeout
// http-request; the edgekit front used to wait 120 s).
func TestHeaderTimeout(t *testing.T) {
	origin := httptest.NewServer(http.NotFoundHandler())
	defer origin.Close()
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) {
			addr, _ := startEdge(t, "-origin", origin.URL, "-front", front, "-header-timeout", "200ms")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // and nothing more
			start := time.Now()
			c.SetReadDeadline(start.Add(5 * time.Second))
			_, err = io.Copy(io.Discard, c) // ends when the server closes
			if err != nil || time.Since(start) > 4*time.Second {
				t.Fatalf("connection still open after %v (%v)", time.Since(start), err)
			}
		})
	}
}
