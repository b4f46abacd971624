package interim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"
)

// TestForwardThenDone: a 103 is written with its fields, which do not stay
// in the header map for the final response; hop-by-hop fields go through
// strip; 100 and 101 are not forwarded; after Done (a transport calling
// its hook late) nothing is written.
func TestForwardThenDone(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Final", "kept")
	var codes []int
	w := &spy{ResponseRecorder: rec, seen: func(code int, h http.Header) {
		codes = append(codes, code)
		if code == 103 && (h.Get("Link") == "" || h.Get("X-Hop") != "" || h.Get("X-Final") != "interim") {
			t.Errorf("103 header %v", h)
		}
	}}
	strip := func(h http.Header) { h.Del("X-Hop") }
	ctx := With(context.Background(), w, strip)
	hook := httptrace.ContextClientTrace(ctx).Got1xxResponse
	hook(100, textproto.MIMEHeader{})
	hook(101, textproto.MIMEHeader{})
	hook(103, textproto.MIMEHeader{"Link": {"</a>; rel=preload"}, "X-Hop": {"1"}, "X-Final": {"interim"}})
	if rec.Header().Get("Link") != "" || rec.Header().Get("X-Final") != "kept" {
		t.Fatalf("interim fields left in the final header: %v", rec.Header())
	}
	Done(ctx)
	hook(103, textproto.MIMEHeader{"Link": {"</b>"}})
	if len(codes) != 1 || codes[0] != 103 {
		t.Fatalf("written %v, want one 103", codes)
	}
	Done(context.Background()) // no Forwarder: nothing to do
}

type spy struct {
	*httptest.ResponseRecorder
	seen func(int, http.Header)
}

func (s *spy) WriteHeader(code int) { s.seen(code, s.Header().Clone()) }
