package surrogate

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// naiveIndex is the plain baseline: strings.Fields and nested maps under
// one mutex, with no reverse map (removal scans every key).
type naiveIndex struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func (n *naiveIndex) set(obj string, keys []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.m {
		delete(set, obj)
	}
	for _, k := range keys {
		if n.m[k] == nil {
			n.m[k] = map[string]struct{}{}
		}
		n.m[k][obj] = struct{}{}
	}
}

func BenchmarkIndexSet(b *testing.B) {
	objs := make([]string, 4096)
	for i := range objs {
		objs[i] = "http://example.com/" + strconv.Itoa(i)
	}
	keys := func(i int) []string { return []string{"all", "g" + strconv.Itoa(i%64), "i" + strconv.Itoa(i)} }
	b.Run("Index", func(b *testing.B) {
		var ix Index
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ix.Set(objs[i&4095], keys(i&4095))
		}
	})
	b.Run("naive", func(b *testing.B) {
		n := &naiveIndex{m: map[string]map[string]struct{}{}}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			n.set(objs[i&4095], keys(i&4095))
		}
	})
}

func BenchmarkParseKeys(b *testing.B) {
	h := http.Header{"Surrogate-Key": {"article-123 sports news homepage front-page"}}
	b.Run("ParseKeys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ParseKeys(h, KeyConfig{Fields: []string{SurrogateKey}})
		}
	})
	b.Run("strings.Fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			strings.Fields(h.Get("Surrogate-Key"))
		}
	})
}
