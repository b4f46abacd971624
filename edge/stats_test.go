package edge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestStatsJSONFields: Stats carries the engine's counters by embedding
// cache.EngineStats; the JSON that examples/edge serves at /.edge/stats
// keeps the flat field names it had when Stats repeated them one by one,
// and the values are the engine's.
func TestStatsJSONFields(t *testing.T) {
	n, err := New(Config{Origin: nopOrigin{strings.Repeat("x", 100)}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for range 2 { // a miss, then a hit
		n.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://example.com/a", nil))
	}
	b, err := json.Marshal(n.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"BackgroundFetches", "Bytes", "BytesFromCache", "BytesFromOrigin", "Collapsed",
		"HitRatio", "Hits", "Invalidations", "MaxBytes", "Misses", "Objects", "OriginErrors", "Passes",
		"PurgedObjects", "Purges", "Requests", "Revalidations", "StaleServed"}
	if !slices.Equal(got, want) {
		t.Fatalf("stats JSON fields:\n got %v\nwant %v", got, want)
	}
	if m["Requests"] != 2.0 || m["Hits"] != 1.0 || m["Misses"] != 1.0 || m["BytesFromCache"] != 100.0 ||
		m["BytesFromOrigin"] != 100.0 || m["HitRatio"] != 0.5 {
		t.Fatalf("stats JSON: %s", b)
	}
}
