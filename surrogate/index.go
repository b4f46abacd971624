package surrogate

import (
	"strings"
	"sync"

	"github.com/edgekit/edgekit/internal/memsize"
)

// Index maps surrogate keys to the objects (cache keys) tagged with them,
// and objects back to their keys, so both a purge by key and an eviction
// cost time proportional to the objects or keys involved. A key carried by
// one object costs a map entry, not a set of its own. URL keys (URLKey)
// are never stored: they name their object. The zero value is ready to
// use. An Index is safe for concurrent use by multiple goroutines and must
// not be copied.
type Index struct {
	mu      sync.RWMutex
	objects map[string]members // key -> objects
	keys    map[string][]string
}

// members are the objects of one key: one alone, or a set of several.
type members struct {
	one  string              // the object, when more is nil
	more map[string]struct{} // two or more objects
}

// urlPrefix starts every URL key; NUL cannot start a key read from a
// header field.
const urlPrefix = "\x00url:"

// URLKey is the implicit surrogate key of the object stored under
// cacheKey, so a purge by URL travels over a Bus like a purge by key.
// The index resolves it without storing it.
func URLKey(cacheKey string) string { return urlPrefix + cacheKey }

// IndexCost estimates the bytes an Index holds for one object carrying
// keys, for callers that count it against a memory limit (edge counts it
// with the cached object): the object's entry and its slice of keys, and
// per key its string (counted even when it shares a header value's
// memory), an entry in the key map, an entry in a shared set and a share
// of that set's fixed part. A set of two members is the dearest per
// member (a 192-byte map for two); the estimate covers it, and exceeds
// what keys unique to one object or shared by many take.
// TestIndexCostCoversHeap measures it. URL keys cost nothing.
func IndexCost(keys []string) int64 {
	n := 0
	var cost int64
	for _, k := range keys {
		if strings.HasPrefix(k, urlPrefix) {
			continue
		}
		n++
		cost += memsize.String(k) + memsize.Entry(16+24) + memsize.Entry(16) + setShare
	}
	if n == 0 {
		return 0
	}
	return cost + memsize.Entry(16+24) + memsize.Alloc(16*n)
}

// setShare is what a member of a two-member set pays beyond its entries.
const setShare = 32

// Set records that object carries keys, replacing what was recorded for it
// before. An empty keys removes the object. URL keys are left out.
func (ix *Index) Set(object string, keys []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(object)
	n := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, urlPrefix) {
			n++
		}
	}
	if n == 0 {
		return
	}
	if ix.objects == nil {
		ix.objects = map[string]members{}
		ix.keys = map[string][]string{}
	}
	ks := make([]string, 0, n)
	for _, k := range keys {
		if !strings.HasPrefix(k, urlPrefix) {
			ks = append(ks, k)
		}
	}
	ix.keys[object] = ks
	for _, k := range ks {
		m, ok := ix.objects[k]
		switch {
		case !ok:
			m.one = object
		case m.more != nil:
			m.more[object] = struct{}{}
		case m.one != object:
			m.more = map[string]struct{}{m.one: {}, object: {}}
			m.one = ""
		}
		ix.objects[k] = m
	}
}

// Remove forgets object; call it when the object leaves the cache.
func (ix *Index) Remove(object string) {
	ix.mu.Lock()
	ix.removeLocked(object)
	ix.mu.Unlock()
}

func (ix *Index) removeLocked(object string) {
	for _, k := range ix.keys[object] {
		m, ok := ix.objects[k]
		switch {
		case !ok:
		case m.more != nil:
			delete(m.more, object)
			if len(m.more) == 0 {
				delete(ix.objects, k)
			}
		case m.one == object:
			delete(ix.objects, k)
		}
	}
	delete(ix.keys, object)
}

// Objects returns the objects tagged with key. A URL key returns its
// object, whether or not it is stored.
func (ix *Index) Objects(key string) []string {
	if obj, ok := strings.CutPrefix(key, urlPrefix); ok {
		return []string{obj}
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m, ok := ix.objects[key]
	if !ok {
		return nil
	}
	if m.more == nil {
		return []string{m.one}
	}
	out := make([]string, 0, len(m.more))
	for o := range m.more {
		out = append(out, o)
	}
	return out
}

// Keys returns the keys recorded for object (URL keys are not recorded).
func (ix *Index) Keys(object string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return append([]string(nil), ix.keys[object]...)
}

// Clear forgets everything.
func (ix *Index) Clear() {
	ix.mu.Lock()
	ix.objects, ix.keys = nil, nil
	ix.mu.Unlock()
}

// IndexStats counts what an Index holds.
// A snapshot, a plain value, safe for concurrent use while no goroutine
// changes it.
type IndexStats struct {
	// Keys counts surrogate keys; Objects the objects carrying at least
	// one (URL keys are not stored).
	Keys, Objects int
}

// Stats returns how many keys and objects the index holds.
func (ix *Index) Stats() IndexStats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return IndexStats{Keys: len(ix.objects), Objects: len(ix.keys)}
}
