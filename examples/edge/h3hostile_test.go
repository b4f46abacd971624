package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/testcert"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// h3Frame returns an HTTP/3 frame (RFC 9114 §7.1).
func h3Frame(typ uint64, payload []byte) []byte {
	b := quicvarint.Append(nil, typ)
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}

// h3Exchange sends one request, written frame by frame as a hostile
// client would (fields QPACK-encoded without the dynamic table, then body
// as one DATA frame), on a new connection, and returns the response's
// :status ("" if none) and the stream error, if the stream was reset.
func h3Exchange(t *testing.T, ca *testcert.CA, addr string, fields []string, body string) (status string, reset *quic.StreamError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{RootCAs: ca.Pool, ServerName: "www.example.com", NextProtos: []string{"h3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := qpack.NewEncoder(&hb)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(qpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	msg := h3Frame(0x01, hb.Bytes())
	if body != "" {
		msg = append(msg, h3Frame(0x00, []byte(body))...)
	}
	str.Write(msg)
	str.Close()
	str.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(str)
	errors.As(err, &reset)
	r := bytes.NewReader(resp)
	if typ, err := quicvarint.Read(r); err != nil || typ != 0x01 {
		return "", reset
	}
	n, _ := quicvarint.Read(r)
	block := make([]byte, n)
	io.ReadFull(r, block)
	dec := qpack.NewDecoder().Decode(block)
	for {
		hf, err := dec()
		if err != nil {
			return status, reset
		}
		if hf.Name == ":status" {
			status = hf.Value
		}
	}
}

// Hostile HTTP/3 requests through the whole edge: what HTTP/1.1 smuggling
// is made of (Transfer-Encoding with a second request in the body, a
// body longer than Content-Length, Connection) is malformed in HTTP/3
// (RFC 9114 §4.1.2, §4.2): the stream is reset with H3_MESSAGE_ERROR and
// the origin sees nothing. A Host that disagrees with :authority, an
// absolute :path and a NUL are malformed too. A Host net/http would refuse
// on HTTP/1.1 gets 400 as it does there, and the origin sees nothing; a
// :path with a space (impossible on HTTP/1.1) reaches the origin
// percent-encoded, a valid HTTP/1.1 request.
func TestHTTP3HostileRequests(t *testing.T) {
	ca := testcert.NewCA(t)
	c, k := ca.Leaf(t, "www.example.com").Write(t, t.TempDir(), "www")
	var mu sync.Mutex
	var seen []string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI+" "+r.Host+" "+string(b))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	_, out := startEdge(t, "-origin", origin.URL, "-tls-listen", "127.0.0.1:0", "-tls-cert", c, "-tls-key", k, "-http3")
	addr := regexp.MustCompile(`https on ([^ ]+) `).FindStringSubmatch(out.String())[1]
	get := func(path string, extra ...string) []string {
		return append([]string{":method", "GET", ":scheme", "https", ":authority", "www.example.com", ":path", path}, extra...)
	}
	post := func(path string, extra ...string) []string {
		return append([]string{":method", "POST", ":scheme", "https", ":authority", "www.example.com", ":path", path}, extra...)
	}
	const smuggled = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
	for _, tc := range []struct {
		name       string
		fields     []string
		body       string
		wantReset  bool
		wantStatus string
	}{
		{"transfer-encoding chunked", post("/te", "transfer-encoding", "chunked"), smuggled, true, ""},
		{"transfer-encoding with content-length", post("/te-cl", "content-length", "5", "transfer-encoding", "chunked"), smuggled, true, ""},
		{"connection", get("/conn", "connection", "close, x-drop", "x-drop", "1"), "", true, ""},
		{"keep-alive", get("/ka", "keep-alive", "timeout=5"), "", true, ""},
		{"upgrade", get("/up", "upgrade", "websocket"), "", true, ""},
		{"te gzip", get("/te-gzip", "te", "gzip"), "", true, ""},
		{"host differs from :authority", get("/host", "host", "other.example"), "", true, ""},
		{"absolute :path", get("http://other.example/abs"), "", true, ""},
		{"NUL in :path", get("/nul\x00"), "", true, ""},
		{"upper-case field name", get("/upper", "X-Foo", "1"), "", true, ""},
		{"invalid :authority", []string{":method", "GET", ":scheme", "https", ":authority", "a b", ":path", "/bad-host"}, "", false, "400"},
	} {
		status, reset := h3Exchange(t, ca, addr, tc.fields, tc.body)
		if tc.wantReset && (reset == nil || reset.ErrorCode != quic.StreamErrorCode(http3.ErrCodeMessageError)) {
			t.Errorf("%s: status %q, reset %v; want the stream reset with H3_MESSAGE_ERROR", tc.name, status, reset)
		}
		if !tc.wantReset && status != tc.wantStatus {
			t.Errorf("%s: status %q (reset %v), want %s", tc.name, status, reset, tc.wantStatus)
		}
	}
	// Content-Length shorter than the body: the handler sees a body error;
	// the origin never sees the excess as a request.
	h3Exchange(t, ca, addr, post("/cl", "content-length", "3"), "abc"+smuggled[5:])
	if status, _ := h3Exchange(t, ca, addr, get("/a b"), ""); status != "200" {
		t.Errorf("space in :path: %q", status)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, "smuggled") || strings.Contains(s, "bad-host") || !strings.HasPrefix(s, "GET /a%20b www.example.com") && !strings.HasPrefix(s, "POST /cl") {
			t.Errorf("origin saw %q", s)
		}
	}
}
