package surrogate

import "sync"

// Index maps surrogate keys to the objects (cache keys) tagged with them,
// and objects back to their keys, so both a purge by key and an eviction
// cost time proportional to the objects or keys involved. The zero value is
// ready to use. An Index is safe for concurrent use by multiple goroutines
// and must not be copied.
type Index struct {
	mu      sync.RWMutex
	objects map[string]map[string]struct{} // key -> objects
	keys    map[string][]string            // object -> keys
}

// Set records that object carries keys, replacing what was recorded for it
// before. An empty keys removes the object.
func (ix *Index) Set(object string, keys []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(object)
	if len(keys) == 0 {
		return
	}
	if ix.objects == nil {
		ix.objects = map[string]map[string]struct{}{}
		ix.keys = map[string][]string{}
	}
	ks := make([]string, len(keys))
	copy(ks, keys)
	ix.keys[object] = ks
	for _, k := range ks {
		set := ix.objects[k]
		if set == nil {
			set = map[string]struct{}{}
			ix.objects[k] = set
		}
		set[object] = struct{}{}
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
		if set := ix.objects[k]; set != nil {
			delete(set, object)
			if len(set) == 0 {
				delete(ix.objects, k)
			}
		}
	}
	delete(ix.keys, object)
}

// Objects returns the objects tagged with key.
func (ix *Index) Objects(key string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	set := ix.objects[key]
	out := make([]string, 0, len(set))
	for o := range set {
		out = append(out, o)
	}
	return out
}

// Keys returns the keys recorded for object.
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
type IndexStats struct {
	Keys, Objects int
}

// Stats returns how many keys and objects the index holds.
func (ix *Index) Stats() IndexStats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return IndexStats{Keys: len(ix.objects), Objects: len(ix.keys)}
}
