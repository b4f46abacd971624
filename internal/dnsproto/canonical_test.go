package dnsproto

import (
	"slices"
	"testing"
)

// TestRFC4034_6_1_CanonicalOrder sorts the example of RFC 4034 §6.1.
func TestRFC4034_6_1_CanonicalOrder(t *testing.T) {
	want := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, CanonicalCompare)
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
