package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on now (the
// -peers list must name the nodes before they start).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// -shield with a static -peers list: whichever edge a client asks, the
// origin sees each object once, fetched by its owner; /.edge/stats says
// who owns what.
func TestShieldPeers(t *testing.T) {
	var hits atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "page "+r.URL.Path+" via "+strings.Join(r.Header.Values("Via"), ", "))
	}))
	defer origin.Close()
	a1, a2 := freeAddr(t), freeAddr(t)
	peers := "e1=" + a1 + ",e2=" + a2
	_, out1 := startEdge(t, "-listen", a1, "-name", "e1", "-origin", origin.URL, "-shield", "-peers", peers, "-shield-secret", "s3cret")
	startEdge(t, "-listen", a2, "-name", "e2", "-origin", origin.URL, "-shield", "-peers", peers, "-shield-secret", "s3cret")
	const objects = 20
	for _, addr := range []string{a1, a2, a1} {
		for i := range objects {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/p%d", addr, i), nil)
			req.Host = "site.test" // one site, whichever edge DNS sent the client to
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "page") {
				t.Fatalf("%s: %d %s", addr, resp.StatusCode, body)
			}
		}
	}
	if hits.Load() != objects {
		t.Fatalf("origin fetches: %d, want %d (one per object)", hits.Load(), objects)
	}
	_, body, _ := send(t, "GET", "http://"+adminAddr(t, out1)+"/.edge/stats?owner=http://site.test/p1")
	var v struct {
		Shield struct {
			Stats struct {
				Owned, Forwarded uint64
				Members          []struct{ ID string }
			}
			Owners map[string]string
		}
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	st := v.Shield.Stats
	if len(st.Members) != 2 || st.Owned+st.Forwarded == 0 || v.Shield.Owners["http://site.test/p1"] == "" {
		t.Fatalf("stats: %s", body)
	}
}

func TestShieldBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-shield"}, // no members
		{"-peers", "e1=127.0.0.1:1"},
		{"-shield-secret", "x"},
		{"-shield", "-peers", "e1=127.0.0.1:1"}, // no secret shared
		{"-shield", "-peers", "e1", "-shield-secret", "x"},
		// A peer list that would make nodes disagree on owners: an ID
		// named twice (the last address silently won), an address that
		// is not host:port (a URL, no port, port 0).
		{"-shield", "-shield-secret", "x", "-node-id", "e1", "-peers", "e1=127.0.0.1:1,e1=127.0.0.1:2"},
		{"-shield", "-shield-secret", "x", "-node-id", "e1", "-peers", "e1=127.0.0.1:1,e2=notanaddr"},
		{"-shield", "-shield-secret", "x", "-node-id", "e1", "-peers", "e1=127.0.0.1:1,e2=http://x:1"},
		{"-shield", "-shield-secret", "x", "-node-id", "e1", "-peers", "e1=127.0.0.1:1,e2=127.0.0.1:0"},
	} {
		args = append(args, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-origin", "http://127.0.0.1:1")
		// Bounded: flags wrongly accepted make run serve until ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := run(ctx, args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
		cancel()
	}
}
