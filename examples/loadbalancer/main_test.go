package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
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

// TestGraceLetsInFlightRequestsFinish: shutdown begins while a request is
// in flight; it finishes within -grace and its client gets the response,
// on both fronts and in tcp mode.
func TestGraceLetsInFlightRequestsFinish(t *testing.T) {
	for _, args := range [][]string{{"-mode", "http"}, {"-mode", "http", "-front", "net/http"}, {"-mode", "tcp"}} {
		mode := strings.Join(args, " ")
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			<-release
			io.WriteString(w, "late")
		}))
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append(args, "-listen", "127.0.0.1:0", "-backend", b.URL, "-grace", "5s"), io.Discard, ready)
		}()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := client.Get("http://" + addr + "/")
			if err != nil {
				got <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got <- fmt.Sprint(resp.StatusCode, " ", string(body))
		}()
		<-started
		cancel()
		// The listener closes when shutdown begins; then the backend answers.
		for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s: still accepting after shutdown began", mode)
			}
		}
		close(release)
		if g := <-got; g != "200 late" {
			t.Errorf("%s: request in flight at shutdown got %q", mode, g)
		}
		if err := <-done; err != nil {
			t.Errorf("%s: %v", mode, err)
		}
		b.Close()
	}
}

// TestIdleTimeoutNetHTTPFront: the net/http front closes an idle
// keep-alive connection after -idle-timeout.
func TestIdleTimeoutNetHTTPFront(t *testing.T) {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") }))
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-front", "net/http", "-idle-timeout", "50ms", "-listen", "127.0.0.1:0", "-backend", b.URL}, io.Discard, ready)
	}()
	defer func() { cancel(); <-done }()
	addr := <-ready
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want EOF (closed by -idle-timeout)", err)
	}
}

// TestCommandLine: -h prints the usage once to stderr and exits 0; a bad
// command line prints its error once and exits 2; nonsense is refused.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "-idle-timeout", "Usage of loadbalancer"},
		{[]string{"-nope"}, 2, "Usage of loadbalancer", "flag provided but not defined: -nope"},
		{[]string{"-backend", "localhost:notaport"}, 2, "", "port 1-65535"},
		{[]string{"-backend", "localhost:0"}, 2, "", "port 1-65535"},
		{[]string{"-backend", ":80"}, 2, "", "port 1-65535"},
		{[]string{"-read-header-timeout", "0"}, 2, "", "-read-header-timeout 0s: must be positive"},
		{[]string{"-read-header-timeout", "-1s"}, 2, "", "must be positive"},
		{[]string{"-grace", "0"}, 2, "", "-grace 0s: must be positive"},
		{[]string{"-mode", "tcp", "-sticky-cookie", "s", "-backend", "127.0.0.1:1"}, 2, "", "-sticky-cookie applies to http mode"},
		{[]string{"-mode", "tcp", "-front", "net/http", "-backend", "127.0.0.1:1"}, 2, "", "-front applies to http mode"},
		{[]string{"-listen", "127.0.0.1:0"}, 2, "", "-listen needs -backend"},
		// A bad -acme name is refused before anything starts (no banner).
		{[]string{"-backend", "127.0.0.1:1", "-tls-listen", "127.0.0.1:0", "-acme", "bad name!"}, 2, "", `-acme: acme: invalid name: "bad name!" is not a DNS name`},
		{[]string{"-backend", "127.0.0.1:1", "-tls-listen", "127.0.0.1:0", "-acme", "192.0.2.1"}, 2, "", `"192.0.2.1" is not a DNS name`},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(context.Background(), c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "loadbalancer: loadbalancer:") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}
