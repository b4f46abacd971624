package balancer

import (
	"math"
	"strconv"
	"testing"
)

// TestJumpHashIsConsistent checks the property jump hashing promises:
// going from n to n+1 buckets moves a key only to the new bucket n, and
// moves about 1/(n+1) of the keys.
func TestJumpHashIsConsistent(t *testing.T) {
	const keys = 20000
	for _, n := range []int{1, 2, 3, 7, 8, 9, 63, 64, 65, 100, 999, 1000, 4096} {
		moved := 0
		for k := 0; k < keys; k++ {
			h := mix(uint64(k) + 12345)
			a, b := jumpHash(h, n), jumpHash(h, n+1)
			if a < 0 || a >= n || b < 0 || b > n {
				t.Fatalf("n=%d key %d: buckets %d, %d out of range", n, k, a, b)
			}
			if a != b {
				if b != n {
					t.Fatalf("n=%d key %d moved from %d to %d, not to the new bucket", n, k, a, b)
				}
				moved++
			}
		}
		want := float64(keys) / float64(n+1)
		if d := math.Abs(float64(moved) - want); d > 5*math.Sqrt(want)+1 {
			t.Errorf("n=%d: %d keys moved, want about %.0f", n, moved, want)
		}
	}
}

// TestJumpHashIsUniform checks every bucket gets its share within a few
// standard deviations.
func TestJumpHashIsUniform(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		keys := 200 * n
		count := make([]int, n)
		for k := 0; k < keys; k++ {
			count[jumpHash(hashString("https://example.com/"+strconv.Itoa(k)), n)]++
		}
		sd := math.Sqrt(200)
		for b, c := range count {
			if math.Abs(float64(c)-200) > 6*sd {
				t.Fatalf("n=%d bucket %d got %d keys, want about 200", n, b, c)
			}
		}
	}
}
