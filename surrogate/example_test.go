package surrogate_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/edgekit/edgekit/surrogate"
)

type cacheStub map[string]bool

func (c cacheStub) Delete(k string) bool    { _, ok := c[k]; delete(c, k); return ok }
func (c cacheStub) MarkStale(k string) bool { _, ok := c[k]; c[k] = true; return ok }

func ExamplePurger() {
	ix := &surrogate.Index{}
	cache := cacheStub{"/a": false, "/b": false, "/c": false}
	for obj, hdr := range map[string]string{"/a": "sports article-1", "/b": "sports", "/c": "weather"} {
		keys, _ := surrogate.ParseKeys(http.Header{"Surrogate-Key": {hdr}}, surrogate.KeyConfig{})
		ix.Set(obj, keys)
	}
	p, _ := surrogate.NewPurger(surrogate.PurgerConfig{Index: ix, Target: cache})
	defer p.Close()
	res, _ := p.Purge(context.Background(), surrogate.Hard, "sports")
	fmt.Println("purged", res.Objects, "left", len(cache))
	// Output: purged 2 left 1
}
