package httpfront

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// readInterim reads responses to one request up to the final one and
// describes each: status, Link, and whether Content-Length or
// Transfer-Encoding were sent; the final one with its body.
func readInterim(t *testing.T, c *rawConn, method string) []string {
	t.Helper()
	var got []string
	for i := 0; i < 10; i++ {
		resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		_, cl := resp.Header["Content-Length"]
		_, te := resp.Header["Transfer-Encoding"]
		d := fmt.Sprintf("%d link=%q cl=%v te=%v", resp.StatusCode, resp.Header.Values("Link"), cl, te || len(resp.TransferEncoding) > 0)
		if resp.StatusCode >= 200 {
			b, _ := io.ReadAll(resp.Body)
			return append(got, d+" body="+string(b))
		}
		got = append(got, d)
	}
	t.Fatalf("no final response after %q", got)
	return nil
}

// RFC 9110 §15.2, RFC 8297: a handler's WriteHeader(1xx) sends an interim
// response at once, with the fields set so far except those framing a
// body, and leaves the final response to come; the same as net/http's
// server, except that an HTTP/1.0 client gets none (RFC 9110 §15.2: a
// server MUST NOT send it one) and a 100 already sent for Expect is not
// sent twice.
func TestRFC9110_15_2_InterimResponsesDifferential(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2") // not on a 1xx
		w.Header().Add("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusProcessing)
		if r.Header.Get("X-Continue") != "" {
			w.WriteHeader(http.StatusContinue)
		}
		io.ReadAll(r.Body)
		w.Header().Add("Link", "</b.js>; rel=preload")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok")
	})
	ours := startServer(t, &Server{Handler: h})
	theirs := httptest.NewServer(h)
	defer theirs.Close()
	hints := `103 link=["</a.css>; rel=preload"] cl=false te=false`
	processing := `102 link=["</a.css>; rel=preload"] cl=false te=false`
	final := `200 link=["</a.css>; rel=preload" "</b.js>; rel=preload"] cl=true te=false body=ok`
	for _, tc := range []struct {
		name, req  string
		want, ours []string
	}{
		{
			name: "HTTP/1.1",
			req:  "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []string{hints, processing, final},
		},
		{
			name: "HEAD",
			req:  "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []string{hints, processing, strings.TrimSuffix(final, "ok")},
		},
		{
			name: "handler's 100 after Expect",
			req:  "PUT / HTTP/1.1\r\nHost: x\r\nX-Continue: 1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
			// net/http sends its 100 when the body is first read, after
			// the handler's interim responses, and not again.
			want: []string{hints, processing, `100 link=["</a.css>; rel=preload"] cl=false te=false`, final},
			// Server sends 100 at once, before the handler runs.
			ours: []string{`100 link=[] cl=false te=false`, hints, processing, final},
		},
		{
			name: "HTTP/1.0",
			req:  "GET / HTTP/1.0\r\n\r\n",
			want: []string{hints, processing, final},
			ours: []string{final},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := strings.Fields(tc.req)[0]
			for _, front := range []string{"edgekit", "net/http"} {
				addr := ours
				want := tc.want
				if front == "net/http" {
					addr = strings.TrimPrefix(theirs.URL, "http://")
				} else if tc.ours != nil {
					want = tc.ours
				}
				c := dialRaw(t, addr)
				c.send(tc.req)
				var got []string
				for len(got) < len(want) {
					got = append(got, readInterim(t, c, method)...)
				}
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
					t.Errorf("front %s:\n got %q\nwant %q", front, got, want)
				}
			}
		})
	}
}

// Through a Proxy whose transport delivers interim responses (net/http's),
// Server passes a backend's 103 to the client, and its fields stay out of
// the final response (RFC 9110 §15.2).
func TestRFC9110_15_2_ProxyForwardsEarlyHints(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	px := newProxy(t, balancer.ProxyConfig{Transport: tr}, strings.TrimPrefix(backend.URL, "http://"))
	c := dialRaw(t, startServer(t, &Server{Handler: px}))
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got := readInterim(t, c, "GET")
	want := []string{`103 link=["</a.css>; rel=preload"] cl=false te=false`, `200 link=[] cl=true te=false body=ok`}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
