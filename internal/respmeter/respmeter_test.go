package respmeter

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWriter(t *testing.T) {
	now := time.Unix(100, 0)
	hints := &Writer{ResponseWriter: httptest.NewRecorder(), Now: time.Now}
	hints.WriteHeader(http.StatusEarlyHints) // not final
	if hints.Status != 0 {
		t.Fatalf("1xx taken as final: %d", hints.Status)
	}
	rec := httptest.NewRecorder()
	w := &Writer{ResponseWriter: rec, Now: func() time.Time { return now }}
	w.WriteHeader(http.StatusNotFound)
	w.WriteHeader(http.StatusOK) // ignored by the recorder too
	w.Write([]byte("abc"))
	w.Write([]byte("de"))
	if w.Status != 404 || w.Bytes != 5 || !w.First.Equal(now) {
		t.Fatalf("%+v", w)
	}
	http.NewResponseController(w).Flush()
	if !rec.Flushed {
		t.Fatal("Flush did not reach the writer underneath")
	}
	w2 := &Writer{ResponseWriter: httptest.NewRecorder(), Now: time.Now}
	w2.Write([]byte("x"))
	if w2.Status != 200 || w2.Bytes != 1 {
		t.Fatalf("implicit 200: %+v", w2)
	}
}
