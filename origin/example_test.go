package origin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/edgekit/edgekit/origin"
)

// A primary and an alternate origin: when the primary goes away, the
// request fails over.
func ExamplePool() {
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "primary") }))
	alternate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "alternate") }))
	defer alternate.Close()
	pool, err := origin.New(origin.Config{Origins: []origin.Origin{
		{Name: "eu-primary", URL: primary.URL},
		{Name: "us-alternate", URL: alternate.URL, Priority: 1},
	}})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	client := &http.Client{Transport: pool}
	for i := 0; i < 2; i++ {
		resp, err := client.Get("http://www.example.com/")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body), "from", pool.ServedBy(resp))
		primary.Close()
	}
	// Output:
	// primary from eu-primary
	// alternate from us-alternate
}

// Geography steering: an edge in Paris sends misses to the nearest origin
// by great-circle distance, Frankfurt, and to New York when Frankfurt does
// not answer; Stats counts the failover.
func ExamplePool_geography() {
	serve := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	frankfurt, newYork := serve("frankfurt"), serve("new-york")
	defer newYork.Close()
	pool, err := origin.New(origin.Config{
		Origins: []origin.Origin{
			{Name: "new-york", URL: newYork.URL, Lat: 40.71, Lon: -74.01},
			{Name: "frankfurt", URL: frankfurt.URL, Lat: 50.11, Lon: 8.68},
		},
		Steering: origin.Geography,
		Lat:      48.86, Lon: 2.35, // the edge: Paris
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	get := func() {
		req, _ := http.NewRequest(http.MethodGet, "http://www.example.com/logo.png", nil)
		resp, err := pool.RoundTrip(req)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println("served by", pool.ServedBy(resp))
	}
	get()
	frankfurt.Close()
	get()
	for _, st := range pool.Stats() {
		fmt.Printf("%s: %d requests, %d errors, %d failovers\n", st.Name, st.Requests, st.Errors, st.Failovers)
	}
	// Output:
	// served by frankfurt
	// served by new-york
	// new-york: 1 requests, 0 errors, 1 failovers
	// frankfurt: 2 requests, 1 errors, 0 failovers
}
