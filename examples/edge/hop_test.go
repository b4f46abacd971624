package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// startEdge runs the example with args (plus -listen 127.0.0.1:0) and
// returns the address it serves the public on, and what it printed.
func startEdge(t *testing.T, args ...string) (addr string, out *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out = &syncBuffer{}
	if !slices.Contains(args, "-admin") {
		args = append(args, "-admin", "127.0.0.1:0") // never the fixed default port in tests
	}
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("edge did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return addr, out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawExchange sends one request as written and returns the response head
// exactly as it came off the wire (no client library in between to hide
// or fold fields).
func rawExchange(t *testing.T, addr, request string) (status string, h textproto.MIMEHeader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewReader(bufio.NewReader(c))
	status, err = tp.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	h, err = tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	return status, h
}

// originHopFields is what a hostile origin adds to every response.
var originHopFields = [][2]string{
	{"Connection", "X-Secret"},
	{"X-Secret", "for the next hop only"},
	{"Keep-Alive", "timeout=5"},
	{"Upgrade", "h2c"},
	{"Trailer", "X-Checksum"},
	{"Proxy-Connection", "keep-alive"},
	{"Proxy-Authenticate", `Basic realm="origin"`},
	{"Te", "trailers"},
}

// leaked lists the origin's hop-by-hop fields in a response head. The
// front's own Connection (close, keep-alive) and chunked framing are its
// own, not the origin's; so is a pass-through's Trailer, when pass.
func leaked(h textproto.MIMEHeader, pass bool) []string {
	var out []string
	for _, f := range originHopFields[1:] {
		if f[0] == "Trailer" && pass {
			continue // ReverseProxy's own announcement of the trailers it forwards
		}
		if _, ok := h[f[0]]; ok {
			out = append(out, f[0])
		}
	}
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.ToLower(textproto.TrimString(tok)); tok != "close" && tok != "keep-alive" {
				out = append(out, "Connection: "+tok)
			}
		}
	}
	if te := h.Get("Transfer-Encoding"); te != "" && te != "chunked" {
		out = append(out, "Transfer-Encoding: "+te)
	}
	return out
}

// TestRFC9110_7_6_1_NoHopByHopFieldsReachClients runs a table of response
// kinds (stored, not stored for each reason, streamed, validated, stale
// on error, passed through) from an origin that adds every hop-by-hop
// field, through the example with both fronts, and reads the response
// heads off the wire.
func TestRFC9110_7_6_1_NoHopByHopFieldsReachClients(t *testing.T) {
	kinds := []struct {
		name, method, path string
		repeat             int
	}{
		{"stored then hit", "GET", "/stored", 2},
		{"no-store", "GET", "/no-store", 1},
		{"private", "GET", "/private", 1},
		{"set-cookie", "GET", "/cookie", 1},
		{"206", "GET", "/partial", 1},
		{"streamed (larger than -max-object)", "GET", "/large", 1},
		{"validated (304 merged)", "GET", "/validated", 2},
		{"stale on error", "GET", "/sie", 2},
		{"5xx passed through", "GET", "/error", 1},
		{"unsafe method passed through", "POST", "/form", 1},
	}
	var mu sync.Mutex
	hits := map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		n := hits[r.URL.Path]
		mu.Unlock()
		h := w.Header()
		for _, f := range originHopFields {
			h.Set(f[0], f[1])
		}
		status, body := 200, "ok"
		switch r.URL.Path {
		case "/stored":
			h.Set("Cache-Control", "max-age=60")
		case "/no-store":
			h.Set("Cache-Control", "no-store")
		case "/private":
			h.Set("Cache-Control", "private, max-age=60")
		case "/cookie":
			h.Set("Cache-Control", "max-age=60")
			h.Set("Set-Cookie", "s=1")
		case "/partial":
			h.Set("Content-Range", "bytes 0-1/10")
			status = 206
		case "/large":
			h.Set("Cache-Control", "max-age=60")
			body = strings.Repeat("x", 4096)
		case "/validated":
			h.Set("Etag", `"v1"`)
			h.Set("Cache-Control", "no-cache")
			if r.Header.Get("If-None-Match") == `"v1"` {
				status, body = 304, ""
			}
		case "/sie":
			h.Set("Cache-Control", "max-age=0, stale-if-error=600")
			if n > 1 {
				status, body = 500, "down"
			}
		case "/error":
			status = 502
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	defer origin.Close()
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) {
			mu.Lock()
			clear(hits)
			mu.Unlock()
			addr, _ := startEdge(t, "-origin", origin.URL, "-front", front, "-max-object", "1024")
			for _, k := range kinds {
				for i := 0; i < k.repeat; i++ {
					status, h := rawExchange(t, addr, k.method+" "+k.path+" HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n\r\n")
					if l := leaked(h, k.method == "POST"); len(l) > 0 {
						t.Errorf("%s (%s, %s %s): origin's hop-by-hop fields reached the client: %v", k.name, status, h.Get("X-Cache"), h.Get("Cache-Status"), l)
					}
				}
			}
		})
	}
}

// TestRFC9110_7_6_1_RequestsReachOriginWithoutHopByHopFields: a recording
// origin sees none of the client's hop-by-hop fields on a cache fill or a
// pass-through (TE only as "trailers", as ReverseProxy sends it), and a
// request to switch protocols reaches it with Upgrade intact.
func TestRFC9110_7_6_1_RequestsReachOriginWithoutHopByHopFields(t *testing.T) {
	got := make(chan http.Header, 8)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	hostile := "Connection: X-Client-Secret, keep-alive\r\nX-Client-Secret: s\r\nKeep-Alive: timeout=9\r\n" +
		"Proxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nTe: trailers, deflate\r\nTrailer: X-T\r\n"
	for _, front := range []string{"edgekit", "net/http"} {
		t.Run(strings.ReplaceAll(front, "/", "-"), func(t *testing.T) {
			addr, _ := startEdge(t, "-origin", origin.URL, "-front", front)
			for _, c := range []struct{ name, req string }{
				{"cache fill", "GET /fill-" + front + " HTTP/1.1\r\nHost: site.test\r\n" + hostile + "\r\n"},
				{"pass-through", "POST /form HTTP/1.1\r\nHost: site.test\r\nContent-Length: 2\r\n" + hostile + "\r\nhi"},
				{"Upgrade not in Connection", "GET /noup-" + front + " HTTP/1.1\r\nHost: site.test\r\nUpgrade: websocket\r\n" + hostile + "\r\n"},
			} {
				rawExchange(t, addr, c.req)
				h := <-got
				for _, f := range []string{"X-Client-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Trailer", "Upgrade"} {
					if v := h.Get(f); v != "" {
						t.Errorf("%s: origin received %s: %s", c.name, f, v)
					}
				}
				if te := h.Get("Te"); te != "" && te != "trailers" {
					t.Errorf("%s: origin received Te: %s", c.name, te)
				}
				if conn := h.Values("Connection"); len(conn) > 0 && !httpguts.HeaderValuesContainsToken(conn, "close") && !httpguts.HeaderValuesContainsToken(conn, "keep-alive") {
					t.Errorf("%s: origin received Connection: %v", c.name, conn)
				}
			}
			// A protocol switch under way keeps Upgrade (RFC 9110 §7.8).
			rawExchange(t, addr, "GET /ws-"+front+" HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			if h := <-got; h.Get("Upgrade") != "websocket" || !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
				t.Errorf("upgrade request reached the origin as Connection %q Upgrade %q", h.Get("Connection"), h.Get("Upgrade"))
			}
		})
	}
}
