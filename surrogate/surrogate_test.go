package surrogate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseKeys(t *testing.T) {
	h := http.Header{}
	h.Add("Surrogate-Key", "article-123  sports\tnews")
	h.Add("Cache-Tag", "sports, tag%20with%20space, bad%zz")
	h.Add("Xkey", "sports product-9")
	got, err := ParseKeys(h, KeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"article-123", "sports", "news", "tag with space", "bad%zz", "product-9"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	only, _ := ParseKeys(h, KeyConfig{Fields: []string{"Cache-Tag"}})
	if !slices.Equal(only, []string{"sports", "tag with space", "bad%zz"}) {
		t.Fatalf("Cache-Tag only: %q", only)
	}
	h2 := http.Header{"Surrogate-Key": {"a b c d " + strings.Repeat("x", 20)}}
	keys, err := ParseKeys(h2, KeyConfig{MaxKeys: 3, MaxKeyLen: 10})
	if !errors.Is(err, ErrTooManyKeys) || len(keys) != 3 {
		t.Fatalf("limit: %q, %v", keys, err)
	}
	keys, err = ParseKeys(http.Header{"Surrogate-Key": {"ok " + strings.Repeat("x", 20)}}, KeyConfig{MaxKeyLen: 10})
	if !errors.Is(err, ErrKeyTooLong) || !slices.Equal(keys, []string{"ok"}) {
		t.Fatalf("long key: %q, %v", keys, err)
	}
}

// The cases follow the W3C Edge Architecture note and the behaviour the
// cache-tests.fyi Surrogate-Control suite checks.
func TestParseControl(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want Control
	}{
		{"max-age=3600", true, Control{MaxAge: 3600, Stale: -1}},
		{"MaX-aGe=3600", true, Control{MaxAge: 3600, Stale: -1}},
		{"max-age=99999999999", true, Control{MaxAge: maxDelta, Stale: -1}},
		{"max-age=60+30", true, Control{MaxAge: 60, Stale: 30}},
		{"foobar, max-age=3600", true, Control{MaxAge: 3600, Stale: -1}},
		{"max-age=3600;edgekit", true, Control{MaxAge: 3600, Stale: -1}},
		{"max-age=3600;not-for-you", false, Control{MaxAge: -1, Stale: -1}},
		{"max-age =100", false, Control{MaxAge: -1, Stale: -1}},
		{"max-age= 100", false, Control{MaxAge: -1, Stale: -1}},
		{"no-store", true, Control{MaxAge: -1, Stale: -1, NoStore: true}},
		{`content="ESI/1.0 ESI-Inline/1.0";edgekit`, true, Control{MaxAge: -1, Stale: -1, Content: []string{"ESI/1.0", "ESI-Inline/1.0"}}},
		{"max-age=abc", false, Control{MaxAge: -1, Stale: -1}},
	}
	for _, c := range cases {
		got, ok := ParseControl([]string{c.in}, "edgekit")
		if ok != c.ok || got.MaxAge != c.want.MaxAge || got.Stale != c.want.Stale || got.NoStore != c.want.NoStore || !slices.Equal(got.Content, c.want.Content) {
			t.Errorf("%q: got %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestStripHeaders(t *testing.T) {
	h := http.Header{"Surrogate-Control": {"max-age=1"}, "Surrogate-Key": {"a"}, "Cache-Tag": {"b"}, "Content-Type": {"text/html"}}
	StripHeaders(h)
	if len(h) != 1 || h.Get("Content-Type") == "" {
		t.Fatalf("%v", h)
	}
}

func TestIndexChurnDoesNotLeak(t *testing.T) {
	var ix Index
	const cacheSize = 1000
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	// A FIFO "cache" of cacheSize objects: every insert evicts the oldest,
	// and the eviction hook removes it from the index.
	ring := make([]string, cacheSize)
	for i := 0; i < n; i++ {
		obj := fmt.Sprintf("http://example.com/%d", i)
		slot := i % cacheSize
		if ring[slot] != "" {
			ix.Remove(ring[slot])
		}
		ring[slot] = obj
		ix.Set(obj, []string{"all", fmt.Sprintf("group-%d", i%50), fmt.Sprintf("item-%d", i)})
	}
	st := ix.Stats()
	if st.Objects != cacheSize || st.Keys > cacheSize+51 {
		t.Fatalf("index holds %+v after churning %d objects through %d slots", st, n, cacheSize)
	}
	if got := len(ix.Objects("all")); got != cacheSize {
		t.Fatalf("key 'all' has %d objects", got)
	}
}

// fakeTarget records purges; it stands in for a node's cache.
type fakeTarget struct {
	mu      sync.Mutex
	objects map[string]bool // object -> stale
}

func newFakeTarget(objs ...string) *fakeTarget {
	f := &fakeTarget{objects: map[string]bool{}}
	for _, o := range objs {
		f.objects[o] = false
	}
	return f
}

func (f *fakeTarget) Delete(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.objects[k]
	delete(f.objects, k)
	return ok
}

func (f *fakeTarget) MarkStale(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.objects[k]; !ok {
		return false
	}
	f.objects[k] = true
	return true
}

func (f *fakeTarget) Clear() {
	f.mu.Lock()
	f.objects = map[string]bool{}
	f.mu.Unlock()
}

func (f *fakeTarget) snapshot() (live []string, stale []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for o, s := range f.objects {
		live = append(live, o)
		if s {
			stale = append(stale, o)
		}
	}
	sort.Strings(live)
	sort.Strings(stale)
	return live, stale
}

func TestFleetPurgeByKeyOverBus(t *testing.T) {
	bus := &LocalBus{}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type node struct {
		target *fakeTarget
		p      *Purger
	}
	var nodes []node
	for i := 0; i < 3; i++ {
		ix := &Index{}
		tg := newFakeTarget("/a", "/b", "/c", "/d")
		ix.Set("/a", []string{"article-123", "sports"})
		ix.Set("/b", []string{"sports"})
		ix.Set("/c", []string{"weather"})
		ix.Set("/d", []string{"article-456", "news"})
		p, err := NewPurger(PurgerConfig{Index: ix, Target: tg, Bus: bus, Node: fmt.Sprint("node", i)})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		nodes = append(nodes, node{tg, p})
	}
	res, err := nodes[0].p.Purge(ctx, Hard, "sports")
	if err != nil || res.Objects != 2 {
		t.Fatalf("purge: %+v, %v", res, err)
	}
	if err := bus.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		live, _ := n.target.snapshot()
		if !slices.Equal(live, []string{"/c", "/d"}) {
			t.Fatalf("node %d after hard purge of 'sports': %v", i, live)
		}
	}
	if _, err := nodes[1].p.Purge(ctx, Soft, "news"); err != nil {
		t.Fatal(err)
	}
	bus.Flush(ctx)
	for i, n := range nodes {
		live, stale := n.target.snapshot()
		if !slices.Equal(live, []string{"/c", "/d"}) || !slices.Equal(stale, []string{"/d"}) {
			t.Fatalf("node %d after soft purge of 'news': live %v stale %v", i, live, stale)
		}
	}
	if _, err := nodes[2].p.PurgeAll(ctx, Hard); err != nil {
		t.Fatal(err)
	}
	bus.Flush(ctx)
	for i, n := range nodes {
		if live, _ := n.target.snapshot(); len(live) != 0 {
			t.Fatalf("node %d after purge-all: %v", i, live)
		}
	}
	if st := nodes[0].p.Stats(); st.Purges != 1 || st.RemotePurges != 2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := nodes[0].p.Purge(ctx, Hard); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty purge: %v", err)
	}
}

func TestPurgeIsIdempotentUnderRedelivery(t *testing.T) {
	ix := &Index{}
	tg := newFakeTarget("/a")
	ix.Set("/a", []string{"k"})
	p, _ := NewPurger(PurgerConfig{Index: ix, Target: tg, Node: "me"})
	m := Message{ID: "x1", Node: "other", Keys: []string{"k"}}
	p.receive(m)
	tg.objects["/a"] = false // re-cached meanwhile
	ix.Set("/a", []string{"k"})
	p.receive(m) // redelivered: must not purge again
	if live, _ := tg.snapshot(); len(live) != 1 {
		t.Fatalf("redelivered message purged again: %v", live)
	}
}

func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{"a b c", "x%20y %zz", "a,b,,c", strings.Repeat("k ", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{"Surrogate-Key": {s}, "Cache-Tag": {s}}
		keys, _ := ParseKeys(h, KeyConfig{MaxKeys: 64, MaxKeyLen: 128})
		if len(keys) > 64 {
			t.Fatalf("%d keys over the limit", len(keys))
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k == "" || len(k) > 128 || seen[k] {
				t.Fatalf("bad key %q in %q", k, keys)
			}
			seen[k] = true
		}
	})
}

func FuzzParseControl(f *testing.F) {
	for _, s := range []string{"max-age=60+30;edgekit", `content="a b", no-store`, "max-age= 1", ";;,=+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseControl([]string{s}, "edgekit")
		if c.MaxAge < -1 || c.MaxAge > maxDelta || c.Stale < -1 || c.Stale > maxDelta {
			t.Fatalf("%q: out of range %+v", s, c)
		}
		if !ok && (c.MaxAge != -1 || c.NoStore) {
			t.Fatalf("%q: directives without ok", s)
		}
	})
}
