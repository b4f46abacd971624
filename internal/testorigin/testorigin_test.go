package testorigin

import (
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The origin dates each response from the clock it was given, counts the
// requests and answers with the handler last Set.
func TestServer(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	s := New(t, func() time.Time { return now }, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "one") })
	get := func() (string, string) {
		t.Helper()
		resp, err := s.Client().Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Date"), string(b)
	}
	if date, body := get(); date != "Fri, 02 Jan 2026 02:04:05 GMT" || body != "one" {
		t.Fatalf("Date %q, body %q", date, body)
	}
	s.Set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "two") })
	if _, body := get(); body != "two" || s.Hits.Load() != 2 {
		t.Fatalf("body %q, hits %d", body, s.Hits.Load())
	}
	s.Client().CloseIdleConnections()
}
