package surrogate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

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

// Keys come from every field an origin may use (Fastly's Surrogate-Key,
// Cloudflare's Cache-Tag, Varnish's xkey), distinct, in order of first
// appearance; percent-escapes are decoded.
func ExampleParseKeys() {
	h := http.Header{}
	h.Set("Surrogate-Key", "product-42  category-shoes")
	h.Set("Cache-Tag", "category-shoes,brand%20acme")
	h.Set("Xkey", "product-42")
	keys, err := surrogate.ParseKeys(h, surrogate.KeyConfig{})
	fmt.Printf("%q %v\n", keys, err)

	_, err = surrogate.ParseKeys(h, surrogate.KeyConfig{MaxKeys: 2})
	fmt.Println(errors.Is(err, surrogate.ErrTooManyKeys))
	// Output:
	// ["product-42" "category-shoes" "brand acme"] <nil>
	// true
}

// Surrogate-Control speaks to the edge, not the browser: directives
// targeted at another device are ignored.
func ExampleParseControl() {
	values := []string{`max-age=300+60, no-store;other-cdn`}
	c, ok := surrogate.ParseControl(values, "edgekit")
	fmt.Println(ok, c.MaxAge, c.Stale, c.NoStore)
	c, _ = surrogate.ParseControl(values, "other-cdn")
	fmt.Println(c.NoStore)
	// Output:
	// true 300 60 false
	// true
}

// An Index maps keys to the cached objects that carry them and back; the
// cache calls Set when it stores an object and Remove when it evicts one.
func ExampleIndex() {
	var ix surrogate.Index
	ix.Set("/shoes/1", []string{"shoes", "brand-acme"})
	ix.Set("/shoes/2", []string{"shoes"})
	ix.Set("/hats/1", []string{"hats", "brand-acme"})

	objects := ix.Objects("brand-acme")
	slices.Sort(objects)
	fmt.Println(objects)
	fmt.Println(ix.Keys("/shoes/1"))
	ix.Remove("/shoes/1")
	fmt.Println(ix.Objects("shoes"), ix.Stats())
	// Output:
	// [/hats/1 /shoes/1]
	// [shoes brand-acme]
	// [/shoes/2] {3 2}
}

// A purge on one node reaches every node of a fleet over a Bus. LocalBus
// connects Purgers in one process; a pub/sub system plays its part across
// machines.
func ExampleLocalBus() {
	bus := &surrogate.LocalBus{}
	defer bus.Close()
	node := func(name string) (*surrogate.Purger, cacheStub) {
		ix := &surrogate.Index{}
		ix.Set("/news/today", []string{"news"})
		ix.Set("/weather", []string{"weather"})
		cache := cacheStub{"/news/today": false, "/weather": false}
		p, err := surrogate.NewPurger(surrogate.PurgerConfig{Index: ix, Target: cache, Bus: bus, Node: name})
		if err != nil {
			panic(err)
		}
		return p, cache
	}
	paris, parisCache := node("paris")
	defer paris.Close()
	tokyo, tokyoCache := node("tokyo")
	defer tokyo.Close()

	ctx := context.Background()
	if _, err := paris.Purge(ctx, surrogate.Soft, "news"); err != nil {
		panic(err)
	}
	bus.Flush(ctx) // every node has handled the purge
	fmt.Println("paris stale:", parisCache["/news/today"], "tokyo stale:", tokyoCache["/news/today"])
	fmt.Println("tokyo applied", tokyo.Stats().RemotePurges, "remote purge")
	// Output:
	// paris stale: true tokyo stale: true
	// tokyo applied 1 remote purge
}
