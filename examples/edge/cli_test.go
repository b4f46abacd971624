package main

import (
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

// TestCommandLine: -h prints the usage once to stderr and exits 0; a bad
// command line prints its error once, naming the flag, and exits 2.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "-origin-try-timeout", "Usage of edge"},
		{[]string{"-nope"}, 2, "Usage of edge", "flag provided but not defined: -nope"},
		{[]string{"-max-bytes", "1"}, 2, "", "-max-bytes 1: too small, at least"},
		// RFC 9211 §2: the cache name is an sf-token (or sf-string); Via's
		// received-by a token. No spaces, no CR/LF to split the header.
		{[]string{"-name", "my edge"}, 2, "", "-name \"my edge\": must be a token"},
		{[]string{"-name", "edge\r\nSet-Cookie: a=b"}, 2, "", "must be a token"},
		{[]string{"-name", ""}, 2, "", "must be a token"},
		{[]string{"-name", "edge\"1"}, 2, "", "must be a token"},
		{[]string{"-origin", "http://127.0.0.1:1/#frag"}, 2, "", "a fragment is not allowed"},
		{[]string{"-origin", "http://user:pw@127.0.0.1:1"}, 2, "", "userinfo is not allowed"},
		{[]string{"-origin", "ftp://127.0.0.1:1"}, 2, "", "the scheme must be http or https"},
		{[]string{"-origin", "127.0.0.1:1"}, 2, "", "-origin"},
		{[]string{"-origin-try-timeout", "0"}, 2, "", "-origin-try-timeout 0s: must be positive"},
		{[]string{"-grace", "-1s"}, 2, "", "-grace -1s: must be positive"},
		// A bad -acme name is refused before anything starts (no banner).
		{[]string{"-tls-listen", "127.0.0.1:0", "-acme", "bad name!"}, 2, "", `-acme: acme: invalid name: "bad name!" is not a DNS name`},
		{[]string{"-tls-listen", "127.0.0.1:0", "-acme", "192.0.2.1"}, 2, "", `"192.0.2.1" is not a DNS name`},
		{[]string{"-tls-listen", "127.0.0.1:0", "-acme", "www.example.test", "-acme", "::1"}, 2, "", `"::1" is not a DNS name`},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(context.Background(), append(c.args, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"), &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "edge: edge:") || strings.Contains(s, "store:") || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
	// Names that are tokens pass.
	if err := checkFlags("edge-1.fra_2", nil, minCacheBytes, time.Second, time.Second); err != nil {
		t.Error(err)
	}
}

// TestBindsEveryListenerBeforePrinting: with the admin port taken, the
// program fails without first saying it is listening.
func TestBindsEveryListenerBeforePrinting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	origin := httptest.NewServer(http.NotFoundHandler())
	defer origin.Close()
	var out bytes.Buffer
	err = run(context.Background(), []string{"-listen", "127.0.0.1:0", "-admin", taken.Addr().String(), "-origin", origin.URL}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "admin listener") {
		t.Fatalf("admin port taken: %v", err)
	}
	if strings.Contains(out.String(), "listening") {
		t.Fatalf("said it was listening before failing:\n%s", out.String())
	}
}

// TestOriginTryTimeout: an origin that sends no response head fails the
// try after -origin-try-timeout, and the client hears so at once.
func TestOriginTryTimeout(t *testing.T) {
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer origin.Close()
	defer close(release) // before origin.Close, which waits for the handler
	addr, _ := startEdge(t, "-origin", origin.URL, "-origin-try-timeout", "100ms")
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/stall")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("stalled origin: %d", resp.StatusCode)
	}
}

// TestGraceLetsInFlightRequestsFinish: shutdown begins while a request is
// in flight; it finishes within -grace and its client gets the response.
func TestGraceLetsInFlightRequestsFinish(t *testing.T) {
	for _, front := range []string{"edgekit", "net/http"} {
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			<-release
			io.WriteString(w, "late")
		}))
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-admin", "", "-front", front, "-origin", origin.URL, "-grace", "5s"}, io.Discard, ready)
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
			resp, err := client.Get("http://" + addr + "/page")
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
		// The listener closes when shutdown begins; then the origin answers.
		for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s: still accepting after shutdown began", front)
			}
		}
		close(release)
		if g := <-got; g != "200 late" {
			t.Errorf("%s: request in flight at shutdown got %q", front, g)
		}
		if err := <-done; err != nil {
			t.Errorf("%s: %v", front, err)
		}
		origin.Close()
	}
}
