package origin

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/internal/rawbackend"
)

// rawOrigin answers the first request of every connection with answer
// (nothing when empty), closes the connection and returns its URL.
func rawOrigin(t *testing.T, answer string) string {
	t.Helper()
	return "http://" + rawbackend.Serve(t, func(c net.Conn) {
		if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, answer)
		}
	})
}

// The transport's errors that reach a caller of RoundTrip can be named
// from a public package (balancer), not only from internal/h1: a hostile
// or dying origin's failure is matched with errors.Is and errors.As.
func TestTransportErrorsAreNameable(t *testing.T) {
	huge := "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
	cases := []struct {
		name   string
		answer string
		match  func(error) bool
	}{
		{"no response", "", func(err error) bool {
			var none *balancer.NoResponseError
			return errors.As(err, &none) && none.Err != nil
		}},
		{"RFC 9112 §2.2 head too large", huge, func(err error) bool { return errors.Is(err, balancer.ErrResponseHeaderTooLarge) }},
		{"RFC 9110 §15.2.2 unasked upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", func(err error) bool {
			return errors.Is(err, balancer.ErrUnexpectedUpgrade)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Config{Origins: []Origin{{URL: rawOrigin(t, tc.answer)}}, MaxAttempts: 1})
			req := httptest.NewRequest(http.MethodGet, "http://site.example/", nil)
			req.RequestURI = ""
			resp, err := p.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("RoundTrip succeeded")
			}
			if !errors.Is(err, ErrAllFailed) || !tc.match(err) {
				t.Fatalf("RoundTrip error %v (%T) not matched by its public name", err, errors.Unwrap(err))
			}
		})
	}
}

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("client left mid-upload") }

// A client whose upload fails is at fault, and the error says so under a
// public name (RFC 9112 §7.1: a body cut short).
func TestClientErrorIsNameable(t *testing.T) {
	p := newPool(t, Config{Origins: []Origin{{URL: rawOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")}}})
	req := httptest.NewRequest(http.MethodPost, "http://site.example/", io.NopCloser(failingBody{}))
	req.RequestURI = ""
	req.ContentLength = 10
	resp, err := p.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("RoundTrip succeeded")
	}
	var client *balancer.ClientError
	if !errors.As(err, &client) {
		t.Fatalf("RoundTrip error %v is not a *balancer.ClientError", err)
	}
}
