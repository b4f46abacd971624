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

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "0 failed (retried on another backend; beta ejected)") {
		t.Fatalf("demo output:\n%s", out.String())
	}
}

func TestHTTPAndTCPModes(t *testing.T) {
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") }))
	defer a.Close()
	for _, args := range [][]string{{"-mode", "http"}, {"-mode", "http", "-front", "net/http"}, {"-mode", "tcp"}} {
		mode := strings.Join(args, " ")
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append(args, "-listen", "127.0.0.1:0", "-policy", "maglev", "-backend", a.URL), &bytes.Buffer{}, ready)
		}()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		case <-time.After(5 * time.Second):
			t.Fatal("not ready")
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "a" {
			t.Fatalf("%s: %q", mode, body)
		}
		cancel()
		if err := <-done; err != nil && err != http.ErrServerClosed {
			t.Fatalf("%s shutdown: %v", mode, err)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-policy", "nope"}, {"-mode", "udp"}, {"-front", "nginx"}, {"-backend", "nocolon"}, {"-backend", "h:1*0"}, {"x"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if _, err := parseBackend("web1=10.0.0.1:80*3"); err != nil {
		t.Fatal(err)
	}
}
