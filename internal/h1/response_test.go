package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameAsReadResponse checks that whatever parseHead accepts, ReadResponse
// reads the same way: status, protocol, header fields (RFC 9110 §5, after
// ReadResponse's canonicalisation and its removal of Connection: close),
// Content-Length framing (RFC 9112 §6.3) and the body bytes.
func sameAsReadResponse(t *testing.T, data []byte, method string) (fast bool) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://b/", nil)
	got, n, ok := parseHead(data, req)
	if !ok {
		return false
	}
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if err != nil {
		t.Fatalf("%q: fast path accepted what ReadResponse refuses: %v", data, err)
	}
	defer want.Body.Close()
	if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
		got.ContentLength != want.ContentLength || got.Close != want.Close ||
		!reflect.DeepEqual(got.Header, want.Header) || want.TransferEncoding != nil || want.Trailer != nil {
		t.Fatalf("%q:\n fast %q %d %s cl=%d close=%v %v\n want %q %d %s cl=%d close=%v %v te=%v",
			data, got.Status, got.StatusCode, got.Proto, got.ContentLength, got.Close, got.Header,
			want.Status, want.StatusCode, want.Proto, want.ContentLength, want.Close, want.Header, want.TransferEncoding)
	}
	wantBody, wantErr := io.ReadAll(want.Body)
	rest := data[n:]
	gotBody := rest[:min(int64(len(rest)), got.ContentLength)]
	gotShort := int64(len(rest)) < got.ContentLength
	if !bytes.Equal(gotBody, wantBody) || gotShort != errors.Is(wantErr, io.ErrUnexpectedEOF) {
		t.Fatalf("%q: body %q (short %v), ReadResponse %q (%v)", data, gotBody, gotShort, wantBody, wantErr)
	}
	return true
}

var headSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 12:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello",
	"HTTP/1.1 404\r\ncontent-length: 0\r\nx-lower:   spaced value \t\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, Close\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nVary: a\r\nVary: b\r\nSet-Cookie: x=1\r\nSet-Cookie: y=2\r\nContent-Length: 002\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1\r\nX-Obs: caf\xc3\xa9\r\n\r\nx",
	// Left to ReadResponse:
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nX-Bad : a\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
	"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 20x OK\r\nContent-Length: 2\r\n\r\nok",
}

func TestFastResponseMatchesReadResponse(t *testing.T) {
	fast := 0
	for _, s := range headSeeds {
		if sameAsReadResponse(t, []byte(s), "GET") {
			fast++
		}
		if sameAsReadResponse(t, []byte(s), "HEAD") {
			t.Errorf("%q: a response to HEAD took the fast path", s)
		}
	}
	if fast != 9 {
		t.Errorf("%d of the 9 plain responses took the fast path", fast)
	}
}

// FuzzFastResponse: any bytes the fast path accepts, ReadResponse reads
// identically.
func FuzzFastResponse(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsReadResponse(t, data, "GET")
	})
}

// The fast path's body reads exactly Content-Length bytes: the
// connection keeps what follows (a pipelined or stray next response)
// and a body cut short reports io.ErrUnexpectedEOF.
func TestFastResponseBodyFraming(t *testing.T) {
	for _, tc := range []struct {
		reply, body string
		err         error
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", nil},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "hel", io.ErrUnexpectedEOF},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", nil},
	} {
		tr := New(time.Second, false)
		tr.init()
		c := tr.newConn("b:80", &scriptConn{r: strings.NewReader(tc.reply)})
		req, _ := http.NewRequest("GET", "http://b/", nil)
		resp, err := c.roundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tc.body || !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("%q: body %q err %v, want %q %v", tc.reply, body, err, tc.body, tc.err)
		}
	}
}

// RFC 9110 §7.6.1: the fields a "Connection: close" names are hop-by-hop
// too; the fast path drops them with the field (net/http's ReadResponse
// drops only the field, and a proxy can then no longer tell).
func TestRFC9110_7_6_1_FastResponseDropsFieldsCloseNames(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close, X-Secret\r\nConnection: x-other\r\nX-Secret: s\r\nX-Other: o\r\nX-Kept: k\r\n\r\nok"
	resp, _, ok := parseHead([]byte(raw), req)
	if !ok {
		t.Fatal("fast path refused a plain response")
	}
	if !resp.Close || resp.Header.Get("X-Kept") != "k" {
		t.Fatalf("Close %v, header %v", resp.Close, resp.Header)
	}
	for _, f := range []string{"Connection", "X-Secret", "X-Other"} {
		if _, ok := resp.Header[f]; ok {
			t.Errorf("%s left in %v", f, resp.Header)
		}
	}
}
