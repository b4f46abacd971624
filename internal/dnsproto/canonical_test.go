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

// FuzzCanonicalCompare checks the in-place comparison of plain names
// against the label-splitting one (RFC 4034 §6.1), and that the order is
// antisymmetric.
func FuzzCanonicalCompare(f *testing.F) {
	for _, s := range [][2]string{
		{"example.", "a.example."}, {"Z.a.example.", "zABC.a.EXAMPLE."}, {"*.z.example.", "\\200.z.example."},
		{".", "com."}, {"a.b", "a.b."}, {"b.wild.example.com.", "*.wild.example.com."}, {"", "."}, {"a..b.", "a.b."},
		{"ent.example.com.", "a.b.ent.example.com."}, {"A.", "a"}, {"ab.", "a."}, {"\\065.", "a."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, back := CanonicalCompare(a, b), CanonicalCompare(b, a)
		if got != -back {
			t.Fatalf("CanonicalCompare(%q, %q) = %d but reversed %d", a, b, got, back)
		}
		if plainName(a) && plainName(b) {
			if want := compareSplit(a, b); got != want {
				t.Fatalf("CanonicalCompare(%q, %q) = %d, label by label %d", a, b, got, want)
			}
		}
	})
}

// TestCanonicalCompareNoAllocs: plain names compare without allocating.
func TestCanonicalCompareNoAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { CanonicalCompare("b123.wild.Example.com.", "*.wild.example.COM.") }); n != 0 {
		t.Fatalf("%v allocations per comparison", n)
	}
}
