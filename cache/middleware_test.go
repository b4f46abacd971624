package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
)

// TestRFC9110_15_2_MiddlewareForwardsInterimResponses: a handler's 103
// reaches the client as an interim response, not as the final status, and
// is not stored.
func TestRFC9110_15_2_MiddlewareForwardsInterimResponses(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "final")
	})
	mw, err := NewMiddleware(MiddlewareConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	srv := httptest.NewServer(mw.Wrap(next))
	defer srv.Close()
	get := func() (*http.Response, string, []int) {
		var codes []int
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if h.Get("Link") == "" {
				t.Errorf("103 without its Link")
			}
			codes = append(codes, code)
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", srv.URL+"/p", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), codes
	}
	resp, body, codes := get()
	if resp.StatusCode != 200 || body != "final" || len(codes) != 1 || codes[0] != 103 || resp.Header.Get("Link") != "" {
		t.Fatalf("miss: %d %q %v, 1xx %v", resp.StatusCode, body, resp.Header, codes)
	}
	resp, body, codes = get()
	if resp.Header.Get(XCache) != "HIT" || body != "final" || len(codes) != 0 {
		t.Fatalf("hit: %v %q, 1xx %v", resp.Header, body, codes)
	}
}

// TestMiddlewareStreamsLargeBodies: a body above MaxBodyBytes is not
// buffered whole: the client reads its start while the handler is still
// writing, and it is not stored.
func TestMiddlewareStreamsLargeBodies(t *testing.T) {
	release := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, strings.Repeat("a", 2048))
		<-release // the client must see the first part before the rest exists
		io.WriteString(w, "end")
	})
	mw, err := NewMiddleware(MiddlewareConfig{MaxBodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	srv := httptest.NewServer(mw.Wrap(next))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 2048)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "end" || resp.Header.Get(XCache) != "MISS" {
		t.Fatalf("rest %q, %v", rest, resp.Header)
	}
	resp, err = srv.Client().Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(XCache) == "HIT" {
		t.Fatal("a body above MaxBodyBytes was stored")
	}
}

// TestRFC9110_15_2_TransportPassesInterimResponses: the caller's
// Got1xxResponse hook sees the origin's 103 on a miss (the request goes to
// the base transport with its context), never on a hit.
func TestRFC9110_15_2_TransportPassesInterimResponses(t *testing.T) {
	h := newHarness(t, Config{})
	o := newOrigin(t, h.fc, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "final")
	})
	get := func() (string, []int) {
		var codes []int
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			codes = append(codes, code)
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", o.URL, nil)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.ReadAll(resp.Body)
		if resp.Header.Get("Link") != "" {
			t.Errorf("interim field in the final response")
		}
		return resp.Header.Get(XCache), codes
	}
	if x, codes := get(); x != "MISS" || len(codes) != 1 || codes[0] != 103 {
		t.Fatalf("miss: %s, 1xx %v", x, codes)
	}
	if x, codes := get(); x != "HIT" || len(codes) != 0 {
		t.Fatalf("hit: %s, 1xx %v", x, codes)
	}
}
