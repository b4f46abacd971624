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
