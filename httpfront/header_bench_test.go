package httpfront

import (
	"bufio"
	"io"
	"net/http"
	"testing"
)

// edgeHeader is the header of a typical response from an edge: a dozen
// fields.
func edgeHeader() http.Header {
	return http.Header{
		"Age": {"12"}, "Cache-Control": {"max-age=60"}, "Cache-Status": {"edgekit; hit; ttl=48"},
		"Content-Length": {"1024"}, "Content-Type": {"text/html; charset=utf-8"}, "Date": {"Sun, 06 Dec 2026 09:00:00 GMT"},
		"Etag": {`"v1"`}, "Last-Modified": {"Sat, 05 Dec 2026 09:00:00 GMT"}, "Vary": {"Accept-Encoding"},
		"Via": {"1.1 edgekit"}, "X-Cache": {"HIT"}, "Accept-Ranges": {"bytes"},
	}
}

// BenchmarkServerWriteHead: the response head as Server writes it (fields
// sorted, as net/http writes them), beside net/http's own header writer
// (http.Header.Write, which sorts too).
func BenchmarkServerWriteHead(b *testing.B) {
	b.Run("writer=edgekit", func(b *testing.B) {
		c := &serverConn{bw: bufio.NewWriter(io.Discard)}
		w := &c.w
		w.c, w.header = c, edgeHeader()
		b.ReportAllocs()
		for b.Loop() {
			w.writeHead(200)
			c.bw.Flush()
		}
	})
	b.Run("writer=net/http", func(b *testing.B) {
		bw := bufio.NewWriter(io.Discard)
		h := edgeHeader()
		b.ReportAllocs()
		for b.Loop() {
			bw.WriteString("HTTP/1.1 200 OK\r\n")
			h.Write(bw)
			bw.WriteString("\r\n")
			bw.Flush()
		}
	})
}
