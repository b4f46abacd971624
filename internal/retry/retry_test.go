package retry

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// RFC 9110 §9.2.2: only idempotent methods may be retried, and only with
// a body that can be sent again.
func TestReplayableRFC9110Section9_2_2(t *testing.T) {
	body := func() io.ReadCloser { return io.NopCloser(strings.NewReader("x")) }
	for _, tc := range []struct {
		method  string
		body    io.ReadCloser
		getBody bool
		want    bool
	}{
		{"GET", nil, false, true},
		{"HEAD", http.NoBody, false, true},
		{"OPTIONS", nil, false, true},
		{"TRACE", nil, false, true},
		{"DELETE", nil, false, true},
		{"PUT", body(), true, true},
		{"PUT", body(), false, false},
		{"POST", nil, false, false},
		{"PATCH", nil, false, false},
		{"CONNECT", nil, false, false},
	} {
		r := &http.Request{Method: tc.method, Body: tc.body}
		if tc.getBody {
			r.GetBody = func() (io.ReadCloser, error) { return body(), nil }
		}
		if got := Replayable(r); got != tc.want {
			t.Errorf("%s (body %v, GetBody %v): Replayable = %v, want %v", tc.method, tc.body != nil, tc.getBody, got, tc.want)
		}
	}
}
