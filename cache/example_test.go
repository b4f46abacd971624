package cache_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/edgekit/edgekit/cache"
)

// A client with a private cache: the second request is served from memory.
func ExampleTransport() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	tr, err := cache.NewTransport(cache.TransportConfig{})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}
	for i := 0; i < 2; i++ {
		resp, err := client.Get(origin.URL)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get(cache.XCache), string(body))
	}
	// Output:
	// MISS hello
	// HIT hello
}

// A shared cache used directly: store a response, then decide on a request.
func ExampleHTTPCache() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := cache.New(cache.Config{Shared: true, Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.com/page", nil)
	resp := &http.Response{StatusCode: 200, Header: http.Header{
		"Cache-Control": {"max-age=30, s-maxage=120"},
		"Date":          {now.Format(http.TimeFormat)},
	}}
	res := c.Store(cache.Exchange{Request: req, Response: resp, Body: []byte("page")})
	fmt.Println("stored:", res.Stored, res.Key)

	now = now.Add(90 * time.Second) // past max-age, within s-maxage
	l := c.Lookup(req)
	fmt.Println(l.Decision, "age", l.Age, "ttl", l.TTL)
	// Output:
	// stored: true http://example.com/page
	// fresh age 1m30s ttl 30s
}
