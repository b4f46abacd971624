package drain

import (
	"io"
	"strings"
	"testing"
)

type body struct {
	io.Reader
	closed bool
}

func (b *body) Close() error { b.closed = true; return nil }

// Close reads a short remainder whole, stops at Limit on a long one, and
// closes the body either way.
func TestClose(t *testing.T) {
	for _, n := range []int{0, 10, Limit, Limit + 1, 4 * Limit} {
		r := strings.NewReader(strings.Repeat("x", n))
		b := &body{Reader: r}
		Close(b)
		if want := max(n-Limit, 0); r.Len() != want || !b.closed {
			t.Errorf("%d bytes: %d left (want %d), closed %v", n, r.Len(), want, b.closed)
		}
	}
}
