// Package testorigin is a loopback HTTP origin for the tests of the
// caching blocks (cache, edge): it stamps every response with a Date from
// the test's clock, so freshness follows a fake clock; counts the requests
// that reach it, so a test can tell a hit from a miss; and lets the test
// swap its handler while it runs. It is for tests in any package (it
// imports testing) and is not part of any API.
package testorigin

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a running origin, an httptest.Server on 127.0.0.1. It is safe
// for concurrent use: requests, Set and Hits may run at once.
type Server struct {
	*httptest.Server
	// Hits counts the requests the origin has received.
	Hits atomic.Int32

	mu sync.Mutex
	h  http.HandlerFunc
}

// New starts an origin that answers with h after setting Date to now()
// (RFC 9110 §6.6.1), and closes it when the test ends.
func New(t testing.TB, now func() time.Time, h http.HandlerFunc) *Server {
	s := &Server{h: h}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
		s.mu.Lock()
		h := s.h
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// Set makes h answer the requests that arrive from now on.
func (s *Server) Set(h http.HandlerFunc) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}
