package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

// seen is what one client saw of one exchange: the interim responses its
// trace was given, then the final response or the failure.
func seen(tr http.RoundTripper, method, url string) (string, error) {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			fmt.Fprintf(&b, "%d %s| ", code, fields(http.Header(h)))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return b.String(), err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(&b, "%d %s%q", resp.StatusCode, fields(resp.Header), body)
	return b.String(), err
}

// fields writes a header in a fixed order.
func fields(h http.Header) string {
	var l []string
	for k, vs := range h {
		l = append(l, k+": "+strings.Join(vs, ","))
	}
	slices.Sort(l)
	return strings.Join(l, "; ") + " "
}

// RFC 9110 §15.2: a client parses any 1xx responses before the final one,
// hands each to the trace (ReverseProxy relays them) and keeps their
// fields out of the final response. The pooled path and http.Transport
// see the same backend bytes; every client of each must see the same
// sequence, and the connection serves the next client correctly after.
func TestTransportInterimResponsesMatchNetHTTP(t *testing.T) {
	final := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: f\r\n\r\nok"
	cases := map[string]struct {
		method, reply string
	}{
		"103 Early Hints": {"GET", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nLink: </a.js>\r\n\r\n" + final},
		"1xx fields not merged into the final response": {"GET",
			"HTTP/1.1 103 Early Hints\r\nX-Leak: 1\r\nX-Final: from-1xx\r\nSet-Cookie: a=b\r\n\r\n" + final},
		"three 102":                 {"GET", strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 3) + final},
		"five interim, the bound":   {"GET", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", 5) + final},
		"100 nobody asked for":      {"GET", "HTTP/1.1 100 Continue\r\n\r\n" + final},
		"unknown 1xx":               {"GET", "HTTP/1.1 199 Whatever\r\nX-A: 1\r\n\r\n" + final},
		"1xx then 204":              {"GET", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
		"1xx then chunked":          {"GET", "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		"1xx to HEAD":               {"HEAD", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"},
		"1xx with Connection":       {"GET", "HTTP/1.1 103 Early Hints\r\nConnection: close\r\n\r\n" + final},
		"1xx claiming a body":       {"GET", "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\nhello" + final},
		"1xx HTTP/1.0":              {"GET", "HTTP/1.0 103 Early Hints\r\nLink: </x>\r\n\r\n" + final},
		"bad 1xx status line":       {"GET", "HTTP/1.1 1x3 Early\r\n\r\n" + final},
		"1xx with obs-fold":         {"GET", "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n ; rel=preload\r\n\r\n" + final},
		"1xx with Content-Length 0": {"GET", "HTTP/1.1 103 Early Hints\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			url := "http://" + rawBackend(t, c.reply) + "/"
			ours := New(3*time.Second, false)
			defer ours.CloseIdleConnections()
			ref := &http.Transport{DisableCompression: true}
			defer ref.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				want, werr := seen(ref, c.method, url)
				got, gerr := seen(ours, c.method, url)
				if got != want || (gerr == nil) != (werr == nil) {
					t.Fatalf("client %d:\n h1       %s (err %v)\n net/http %s (err %v)", i, got, gerr, want, werr)
				}
				if strings.Contains(got, "X-Leak") && !strings.HasPrefix(got, "103 ") {
					t.Fatalf("an interim field reached the final response: %s", got)
				}
			}
		})
	}
}

// A backend that sends 1xx responses without end is cut off with
// ErrTooMany1xx after max1xx(true) when a trace takes them (the pooled
// path's bound; http.Transport since Go 1.24 bounds only their header
// bytes, and not at all when a trace takes them), each of them reaching
// the trace, and nothing of it reaches the next client.
func TestTransport1xxStorm(t *testing.T) {
	storm := strings.Repeat("HTTP/1.1 102 Processing\r\nX-Storm: 1\r\n\r\n", 1000) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	addr := rawBackend(t, storm)
	tr := New(3*time.Second, false)
	defer tr.CloseIdleConnections()
	for i := 0; i < 4; i++ {
		got, err := seen(tr, "GET", "http://"+addr+"/")
		if !errors.Is(err, ErrTooMany1xx) || strings.Count(got, "102 X-Storm: 1") != max1xx(true) {
			t.Fatalf("client %d: %v after %q", i, err, got)
		}
	}
	tr.mu.Lock()
	idle := len(tr.idle[addr])
	tr.mu.Unlock()
	if idle != 0 {
		t.Fatal("a connection cut off mid-storm went back to the pool")
	}
}

// A trace that refuses an interim response ends the exchange with its
// error, as with http.Transport.
func TestTransport1xxTraceError(t *testing.T) {
	addr := rawBackend(t, "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	refuse := errors.New("refused")
	for _, tr := range []http.RoundTripper{New(3*time.Second, false), &http.Transport{}} {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got1xxResponse: func(int, textproto.MIMEHeader) error { return refuse },
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, refuse) {
			t.Errorf("%T: %v, want the trace's error", tr, err)
		}
		tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}

// Interim heads count toward the response header limit when no trace
// takes them, and each has the whole limit when one does, as with
// http.Transport: the same outcome through both for the same bytes.
func TestTransport1xxHeaderLimitMatchesNetHTTP(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: " + strings.Repeat("a", 5<<10) + "\r\n\r\n"
	addr := rawBackend(t, strings.Repeat(hint, 3)+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for _, traced := range []bool{false, true} {
		ours := New(3*time.Second, false)
		ours.MaxResponseHeaderBytes = 8 << 10
		ref := &http.Transport{MaxResponseHeaderBytes: 8 << 10}
		var errs []error
		for _, tr := range []http.RoundTripper{ours, ref} {
			ctx := context.Background()
			if traced {
				ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
					Got1xxResponse: func(int, textproto.MIMEHeader) error { return nil },
				})
			}
			_, _, err := get(t, tr, ctx, "GET", "http://"+addr+"/")
			errs = append(errs, err)
			tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		}
		if (errs[0] == nil) != traced || (errs[1] == nil) != traced {
			t.Errorf("traced=%v: h1 %v, net/http %v", traced, errs[0], errs[1])
		}
		if !traced && !errors.Is(errs[0], ErrHeaderTooLarge) {
			t.Errorf("untraced: %v, want ErrHeaderTooLarge", errs[0])
		}
	}
}
