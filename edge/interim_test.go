package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/origin"
)

type got1xx struct {
	code   int
	fields textproto.MIMEHeader
}

// getWith1xx sends a request through the front and records the interim
// responses the client receives before the final one.
func getWith1xx(t *testing.T, method, url string) (*http.Response, string, []got1xx) {
	t.Helper()
	var mu sync.Mutex
	var interim []got1xx
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		interim = append(interim, got1xx{code, h})
		mu.Unlock()
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, url, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	mu.Lock()
	defer mu.Unlock()
	return resp, string(b), interim
}

// TestRFC9110_15_2_InterimResponsesForwarded: 1xx responses from the
// origin reach the client (a net/http front, an http.Transport toward the
// origin), are never stored, and their fields stay out of the final
// response, on the cacheable fetch path and the pass-through path.
func TestRFC9110_15_2_InterimResponsesForwarded(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	o := newSite(t, fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.Header().Set("X-My-Header", "interim")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Del("X-My-Header")
		w.Header().Del("Connection")
		w.Header().Del("X-Hop")
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Cache-Control", "max-age=100")
		io.WriteString(w, "final")
	})
	otr := &http.Transport{}
	t.Cleanup(otr.CloseIdleConnections)
	pool, err := origin.New(origin.Config{Origins: []origin.Origin{{URL: o.URL}}, Transport: otr, Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Origin: pool, Now: fc.Now, XCache: true})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(n)
	t.Cleanup(func() { front.Close(); n.Close(); pool.Close() })

	check := func(name string, resp *http.Response, interim []got1xx) {
		t.Helper()
		if len(interim) != 2 || interim[0].code != 103 || interim[1].code != 102 {
			t.Fatalf("%s: interim responses %+v, want 103 then 102", name, interim)
		}
		if interim[0].fields.Get("Link") != "</style.css>; rel=preload; as=style" || interim[0].fields.Get("X-My-Header") != "interim" {
			t.Errorf("%s: 103 fields %v", name, interim[0].fields)
		}
		// httputil.ReverseProxy (the pass path) copies a 1xx's fields as
		// they come; hop-by-hop stripping there is another change's.
		if name != "pass" && interim[0].fields.Get("X-Hop") != "" {
			t.Errorf("%s: 103 carries a field its Connection named: %v", name, interim[0].fields)
		}
		for _, f := range []string{"Link", "X-My-Header"} {
			if v := resp.Header.Get(f); v != "" {
				t.Errorf("%s: interim field %s leaked into the final response: %q", name, f, v)
			}
		}
	}
	resp, body, interim := getWith1xx(t, http.MethodGet, front.URL+"/hints")
	if resp.StatusCode != 200 || body != "final" || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("miss: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	check("miss", resp, interim)
	resp, body, interim = getWith1xx(t, http.MethodGet, front.URL+"/hints")
	if resp.Header.Get("X-Cache") != "HIT" || body != "final" || len(interim) != 0 {
		t.Fatalf("hit: %v %q, interim %+v: want a HIT and no interim response (never stored)", resp.Header, body, interim)
	}
	if v := resp.Header.Get("X-My-Header") + resp.Header.Get("Link"); v != "" {
		t.Fatalf("hit carries interim fields: %v", resp.Header)
	}
	resp, _, interim = getWith1xx(t, http.MethodPost, front.URL+"/hints")
	if !strings.Contains(resp.Header.Get("X-Cache"), "PASS") {
		t.Fatalf("POST: %v", resp.Header)
	}
	check("pass", resp, interim)
}
