package hop

import (
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// TestStripRFC9110Section7_6_1 checks the fixed list and the fields
// Connection names, in any case and with odd spacing and empty elements.
func TestStripRFC9110Section7_6_1(t *testing.T) {
	h := http.Header{
		"Connection":          {"X-Secret , keep-alive", ",, x-other\t,"},
		"X-Secret":            {"s"},
		"X-Other":             {"o"},
		"Keep-Alive":          {"timeout=5"},
		"Upgrade":             {"h2c"},
		"Trailer":             {"X-T"},
		"Proxy-Connection":    {"keep-alive"},
		"Proxy-Authenticate":  {"Basic"},
		"Proxy-Authorization": {"Basic eA=="},
		"Te":                  {"trailers"},
		"Transfer-Encoding":   {"chunked"},
		"Cache-Control":       {"max-age=60"},
		"X-Kept":              {"k"},
	}
	Strip(h)
	if len(h) != 2 || h.Get("Cache-Control") == "" || h.Get("X-Kept") == "" {
		t.Fatalf("left %v, want only Cache-Control and X-Kept", h)
	}
}

func TestUpgrade(t *testing.T) {
	for _, c := range []struct {
		conn, up, want string
	}{
		{"Upgrade", "websocket", "websocket"},
		{"keep-alive, upgrade", "websocket", "websocket"},
		{"keep-alive", "websocket", ""}, // Upgrade not named in Connection: no switch
		{"", "websocket", ""},
		{"upgrade", "", ""},
	} {
		h := http.Header{}
		if c.conn != "" {
			h.Set("Connection", c.conn)
		}
		if c.up != "" {
			h.Set("Upgrade", c.up)
		}
		if got := Upgrade(h); got != c.want {
			t.Errorf("Connection %q Upgrade %q: %q, want %q", c.conn, c.up, got, c.want)
		}
	}
}

func TestStripNoAllocs(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=1"}}
	if n := testing.AllocsPerRun(100, func() { Strip(h) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// FuzzStrip: no panic; nothing hop-by-hop or Connection-named survives;
// a second Strip changes nothing.
func FuzzStrip(f *testing.F) {
	f.Add("X-Secret, keep-alive", "X-Secret")
	f.Add(",,, ,", "Keep-Alive")
	f.Add("close", "Upgrade")
	f.Fuzz(func(t *testing.T, conn, other string) {
		h := http.Header{"Connection": {conn}, textproto.CanonicalMIMEHeaderKey(other): {"v"}, "X-Kept": {"k"}}
		Strip(h)
		for f := range strings.SplitSeq(conn, ",") {
			if f = textproto.TrimString(f); f != "" && h.Get(f) != "" {
				t.Fatalf("%q named in Connection survived", f)
			}
		}
		for _, f := range fields {
			if _, ok := h[f]; ok {
				t.Fatalf("%s survived", f)
			}
		}
		n := len(h)
		Strip(h)
		if len(h) != n {
			t.Fatal("Strip is not idempotent")
		}
	})
}

func BenchmarkStrip(b *testing.B) {
	b.ReportAllocs()
	src := http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=1"}, "Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}}
	for b.Loop() {
		h := http.Header{}
		for k, v := range src {
			h[k] = v
		}
		Strip(h)
	}
}
