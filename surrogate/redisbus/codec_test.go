package redisbus

import (
	"reflect"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/surrogate"
)

func fields(pairs []any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].(string)] = pairs[i+1]
	}
	return m
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range []surrogate.Message{
		{ID: "1", Node: "n", Keys: []string{"a", "b c", "", "\x00url:http://x/", "4:x:y"}, Mode: surrogate.Soft},
		{ID: "2", All: true},
		{ID: "3", Keys: []string{"\xff\xfe not utf-8"}},
	} {
		got, err := decode(fields(encode(m)))
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip %+v -> %+v", m, got)
		}
	}
}

// FuzzDecode: a stream entry from anyone never panics the reader, and
// what decodes encodes back to the same purge.
func FuzzDecode(f *testing.F) {
	f.Add("1", "id", "hard", "0", "5:hello3:abc")
	f.Add("1", "x", "soft", "1", "")
	f.Add("2", "", "medium", "x", "99999999999:a")
	f.Add("1", "y", "hard", "0", "-1:")
	f.Fuzz(func(t *testing.T, ver, id, mode, all, keys string) {
		m, err := decode(map[string]any{fVersion: ver, fID: id, fMode: mode, fAll: all, fKeys: keys})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "redisbus: malformed entry") {
				t.Fatalf("error %v", err)
			}
			return
		}
		again, err := decode(fields(encode(m)))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("%+v -> %+v, %v", m, again, err)
		}
	})
}
