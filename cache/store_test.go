package cache

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// Config.Policy and Removal.Reason are the cache's own types: a user can
// name every value (the store's types are internal), and each maps to the
// store's.
func TestPolicyAndRemovalReason(t *testing.T) {
	if TinyLFU.String() != "tinylfu" || LRU.String() != "lru" {
		t.Errorf("policy names %q, %q", TinyLFU, LRU)
	}
	if _, err := New(Config{Policy: Policy(7)}); err == nil {
		t.Error("New accepted an unknown policy")
	}
	for r, name := range map[RemovalReason]string{Evicted: "evicted", Expired: "expired", Deleted: "deleted", 9: "RemovalReason(9)"} {
		if r.String() != name {
			t.Errorf("reason %d is %q, want %q", int(r), r, name)
		}
	}
	for _, p := range []Policy{TinyLFU, LRU} {
		reasons := map[RemovalReason]int{}
		c, err := New(Config{Shared: true, MaxBytes: 256 << 10, Policy: p, OnEvict: func(r Removal) { reasons[r.Reason]++ }})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(strings.Repeat("x", 2000))
		for i := range 1000 {
			req := httptest.NewRequest(http.MethodGet, "http://example.com/"+strconv.Itoa(i), nil)
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {"max-age=600"}}}
			c.Store(Exchange{Request: req, Response: resp, Body: body})
		}
		c.Clear()
		if reasons[Evicted] == 0 || reasons[Deleted] == 0 || len(reasons) != 2 {
			t.Errorf("%v: removals by reason %v, want evictions and deletions only", p, reasons)
		}
	}
}
