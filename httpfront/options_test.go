package httpfront

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// RFC 9110 §9.3.7: OPTIONS * asks about the server, not a resource.
// net/http's server answers it itself, before any handler (a ServeMux
// refuses the target "*" with 400): 200, Content-Length: 0, and the
// connection goes on. Server does the same; other methods with target
// "*" still reach the handler, as with net/http.
func TestRFC9110_9_3_7_OptionsAsteriskDifferential(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body := "handler " + r.URL.Path
		w.Header().Set("Content-Length", strconv.Itoa(len(body))) // Server sets none itself
		io.WriteString(w, body)
	})
	type result struct {
		code               int
		length, body, next string
	}
	requests := map[string]string{
		"OPTIONS *":           "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * with body": "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"OPTIONS /":           "OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	got := map[string]map[string]result{}
	for _, front := range []string{"edgekit", "net/http"} {
		got[front] = map[string]result{}
		addr := startFrontHandler(t, front, &Server{}, mux)
		for name, raw := range requests {
			c := dialRaw(t, addr)
			c.send(raw + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
			r, b := c.read("OPTIONS")
			var res result
			res.code, res.length, res.body = r.StatusCode, r.Header.Get("Content-Length"), b
			_, res.next = c.read("GET")
			got[front][name] = res
		}
	}
	for name := range requests {
		if got["edgekit"][name] != got["net/http"][name] {
			t.Errorf("%s: edgekit %+v, net/http %+v", name, got["edgekit"][name], got["net/http"][name])
		}
	}
	if r := got["edgekit"]["OPTIONS *"]; r.code != 200 || r.length != "0" || r.next != "handler /next" {
		t.Errorf("OPTIONS *: %+v", r)
	}
}
