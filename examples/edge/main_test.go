package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-origin", origin.URL, "-front", front}, &out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("edge did not start")
	}
	xcache := func(method, path string) string {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}
	for _, want := range []string{"MISS", "HIT"} {
		if got := xcache("GET", "/p"); got != want {
			t.Fatalf("GET /p: %s, want %s", got, want)
		}
	}
	if got := xcache("POST", "/form"); got != "PASS" {
		t.Fatalf("POST: %s", got)
	}
	resp, err := http.Post("http://"+addr+"/.edge/purge?key=k", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"purged":1`) {
		t.Fatalf("purge: %s", b)
	}
	if got := xcache("GET", "/p"); got != "MISS" {
		t.Fatalf("after purge: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-origin", "ftp://x", "-listen", "127.0.0.1:0"}, {"-max-bytes", "0"}, {"-front", "apache"}, {"stray"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
