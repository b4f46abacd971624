package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/origin"
)

// An edge node in front of one origin: a miss, a hit, a purge by surrogate
// key, and a miss again.
func ExampleNode() {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "sports article-123")
		io.WriteString(w, "the article")
	}))
	defer site.Close()
	pool, _ := origin.New(origin.Config{Origins: []origin.Origin{{URL: site.URL}}})
	defer pool.Close()
	node, _ := edge.New(edge.Config{Origin: pool, XCache: true})
	defer node.Close()
	srv := httptest.NewServer(node)
	defer srv.Close()

	get := func() {
		resp, err := http.Get(srv.URL + "/articles/123")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("X-Cache"), string(body))
	}
	get()
	get()
	res, _ := node.Purge(context.Background(), edge.PurgeRequest{Keys: []string{"sports"}})
	fmt.Println("purged", res.Objects)
	get()
	// Output:
	// MISS the article
	// HIT the article
	// purged 1
	// MISS the article
}
