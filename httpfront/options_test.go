package httpfront

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
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

// Response fields are written in sorted order, as net/http writes them,
// not in map order: one response is the same bytes as the next (caches,
// diffs). Differential: the field names come in the same order from both
// fronts.
func TestServerWritesFieldsSortedDifferential(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range edgeHeader() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
	})
	order := map[string][]string{}
	for _, front := range []string{"edgekit", "net/http"} {
		c := dialRaw(t, startFrontHandler(t, front, &Server{}, h))
		for i := range 3 {
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			var names []string
			c.br.ReadString('\n') // status line
			for {
				line, err := c.br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "\r\n" {
					break
				}
				name, _, _ := strings.Cut(line, ":")
				names = append(names, name)
			}
			io.CopyN(io.Discard, c.br, 2)
			if !slices.IsSorted(names) {
				t.Errorf("%s, response %d: fields not sorted: %v", front, i, names)
			}
			order[front] = names
		}
	}
	if !slices.Equal(order["edgekit"], order["net/http"]) {
		t.Errorf("edgekit %v, net/http %v", order["edgekit"], order["net/http"])
	}
}
