package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
