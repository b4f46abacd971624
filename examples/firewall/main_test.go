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
	"os"
	"path/filepath"
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
	s := out.String()
	for _, want := range []string{"200 hello from upstream", "refused at accept", "400 firewall", "413 firewall", "429 firewall", "live reload"} {
		if !strings.Contains(s, want) {
			t.Fatalf("demo lacks %q:\n%s", want, s)
		}
	}
	// Behind the trusted proxy the client it names is judged; a header
	// from a peer that is no trusted proxy is not read.
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "via proxy") && !strings.Contains(l, "403 firewall") ||
			strings.Contains(l, "(not read)") && !strings.Contains(l, "200 hello") {
			t.Errorf("demo line %q", l)
		}
	}
}

func TestSampleRulesParseAndBadInput(t *testing.T) {
	if _, err := loadRules("rules.conf"); err != nil {
		t.Fatalf("sample rules: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("policy allow\ndeny 10.0.0.0/99\n"), 0o644)
	err := run(context.Background(), []string{"-rules", bad, "-upstream", "http://127.0.0.1:1"}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad rules file: %v", err)
	}
	for _, args := range [][]string{{"-rules", "rules.conf"}, {"-rules", "rules.conf", "-upstream", "ftp://x"}, {"-rate", "0", "-rules", "rules.conf", "-upstream", "http://a"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestTrustedProxyHeader runs the firewall as nginx's upstream: loopback is
// the trusted proxy maintaining X-Forwarded-For. A Forwarded field the
// client adds is never read, and the upstream learns the judged client.
func TestTrustedProxyHeader(t *testing.T) {
	seen := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- strings.Join(r.Header.Values("X-Forwarded-For"), "|")
	}))
	defer up.Close()
	rules := filepath.Join(t.TempDir(), "rules.conf")
	os.WriteFile(rules, []byte("policy allow\ndeny 192.0.2.0/24\ntrust 127.0.0.1 header X-Forwarded-For\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-rules", rules, "-upstream", up.URL, "-listen", "127.0.0.1:0", "-max-conns", "1"}, &out, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if !strings.Contains(out.String(), "127.0.0.1/32 maintains X-Forwarded-For") {
			t.Errorf("start-up does not say what it trusts:\n%s", out.String())
		}
	}()
	get := func(hdr ...string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// RFC 7239 §4: a forged Forwarded beside the XFF the proxy maintains.
	if c := get("Forwarded", "for=192.0.2.10", "X-Forwarded-For", "198.51.100.7"); c != 200 {
		t.Fatalf("client 198.51.100.7 with a forged Forwarded: %d", c)
	}
	if got := <-seen; got != "198.51.100.7" {
		t.Fatalf("upstream saw X-Forwarded-For %q", got)
	}
	// The proxy appended a denied client after an allowed forgery.
	if c := get("X-Forwarded-For", "198.51.100.7, 192.0.2.10"); c != 403 {
		t.Fatalf("denied client behind the proxy: %d", c)
	}
	// Behind the proxy the per-source connection cap (1 here) would cap
	// every client together: it is off. A second connection while one is
	// held open is served.
	raw := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.8\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a connection from the proxy while another is open: %v", err)
		}
		resp.Body.Close()
		<-seen
		return c
	}
	held := raw()
	defer held.Close()
	raw().Close()
	// An unreadable chain is judged as the proxy, rate limited as it.
	if c := get("X-Forwarded-For", "192.0.2.10, junk"); c != 200 {
		t.Fatalf("junk chain: %d", c)
	}
	if got := <-seen; got != "127.0.0.1" {
		t.Fatalf("junk chain reached the upstream as %q", got)
	}
}

func TestTrustFlags(t *testing.T) {
	trustRules := filepath.Join(t.TempDir(), "trust.conf")
	os.WriteFile(trustRules, []byte("policy allow\ntrust 10.0.0.0/8 header Forwarded\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-trust", "10.0.0.0/8"}, "-trust"},
		{[]string{"-trust", "10.0.0.0/33=X-Forwarded-For"}, "bad prefix"},
		{[]string{"-trust", "10.0.0.0/8=X Forwarded"}, "not a field name"},
		{[]string{"-trust", "10.0.0.0/8=X-Forwarded-For", "-trust", "10.0.0.0/8=Forwarded"}, "maintains both"},
		{[]string{"-trusted-proxies", "10.0.0.0/8"}, "removed"},
		{[]string{"-max-conns", "-1"}, "-max-conns"},
		{[]string{"-trust", "10.0.0.0/8=X-Forwarded-For", "-rules", trustRules, "-upstream", "http://127.0.0.1:1"}, "both by -trust and in"},
	} {
		args := c.args
		if len(args) <= 4 && !strings.Contains(strings.Join(args, " "), "-rules") {
			args = append(args, "-rules", "rules.conf", "-upstream", "http://127.0.0.1:1")
		}
		// An ephemeral port, and a context already done: a case that got
		// past the flag checks returns at once instead of serving.
		done, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(done, append(args, "-listen", "127.0.0.1:0"), &bytes.Buffer{}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to say %q", c.args, err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("policy allow\ntrust 10.0.0.0/8 X-Forwarded-For\n"), 0o644)
	if err := run(context.Background(), []string{"-rules", bad, "-upstream", "http://127.0.0.1:1"}, &bytes.Buffer{}, nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("trust line without header: %v", err)
	}
}

// startFirewall runs the command with args (and an ephemeral -listen) until
// the test ends; it returns the address and a stop func that reports run's
// error.
func startFirewall(t *testing.T, args ...string) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, append(args, "-listen", "127.0.0.1:0"), io.Discard, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// TestSampleRulesIgnoreForgedXFF runs the firewall on the sample rules
// file: a loopback client is no trusted proxy, so the X-Forwarded-For it
// sends is not read (RFC 7239 §8.1: a forwarding header is only as true as
// the proxy that wrote it). It is judged, and named upstream, as its TCP
// address, and a forged address in a denied range does not change that.
func TestSampleRulesIgnoreForgedXFF(t *testing.T) {
	seen := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("X-Forwarded-For")
	}))
	defer up.Close()
	addr, _ := startFirewall(t, "-rules", "rules.conf", "-upstream", up.URL)
	for _, forged := range []string{"192.0.2.1", "198.51.100.7", "127.0.0.66"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Forwarded-For", forged)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("XFF %s from an untrusted loopback peer: %d (the forged address was judged)", forged, resp.StatusCode)
		}
		if got := <-seen; got != "127.0.0.1" {
			t.Fatalf("XFF %s: upstream was told the client is %q", forged, got)
		}
	}
}

// TestTimeouts: an idle keep-alive connection is closed (-idle-timeout), an
// upstream that sends no response head fails the request with 502
// (-upstream-timeout), and a request in flight at shutdown that finishes
// within -grace gets its response.
func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	defer up.Close()
	addr, stop := startFirewall(t, "-rules", "rules.conf", "-upstream", up.URL, "-idle-timeout", "50ms", "-upstream-timeout", "100ms", "-grace", "5s")

	// Idle: after one exchange, the server closes the connection.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	<-started
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want EOF (closed by -idle-timeout)", err)
	}

	// Upstream timeout: /slow stalls until released.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err = client.Get("http://" + addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-started
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("stalled upstream: %d, want 502", resp.StatusCode)
	}

	// Grace: shutdown begins while /slow is in flight; it then finishes.
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow?grace")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprint(resp.StatusCode, " ", string(b))
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The listener closes when shutdown starts; then the upstream answers.
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after shutdown began")
		}
		runtime.Gosched()
	}
	close(release)
	if g := <-got; g != "200 ok /slow" {
		t.Fatalf("request in flight at shutdown: %q", g)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
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
		{[]string{"-h"}, 0, "-upstream-timeout", "Usage of firewall"},
		{[]string{"-nope"}, 2, "Usage of firewall", "flag provided but not defined: -nope"},
		{[]string{"-listen", "127.0.0.1:0"}, 2, "", "-listen needs -rules and -upstream"},
		{[]string{"-idle-timeout", "0"}, 2, "", "-idle-timeout 0s: must be positive"},
		{[]string{"-rules", "rules.conf", "-upstream", "http://127.0.0.1:1", "-upstream-timeout", "-1s"}, 2, "", "-upstream-timeout -1s: must be positive"},
		{[]string{"-rules", "nonexistent.conf", "-upstream", "http://127.0.0.1:1"}, 2, "", "nonexistent.conf"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(context.Background(), c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "firewall: firewall:") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}
