package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// readResponse reads a response head from br. The common case (an
// HTTP/1.1 response with a final status, one Content-Length and a head
// already buffered whole) is parsed here with three allocations: the
// Response, one string holding the whole head (status text, names and
// values are substrings of it) and one array for the header values, plus
// the map. Anything else (no Content-Length, Transfer-Encoding, 1xx, 204,
// 304, a HEAD request, HTTP/1.0, obsolete line folding, a bare LF, any
// control character, a head longer than what is buffered) is left
// untouched in br for http.ReadResponse, so what is accepted here gets
// exactly the result ReadResponse would give (FuzzFastResponse checks).
//
// It reports fixed > 0 with the body length when the body is to be read
// by the caller straight from br; resp.Body is then not set.
func readResponse(br *bufio.Reader, req *http.Request) (resp *http.Response, fixed int64, err error) {
	if _, err := br.Peek(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // as ReadResponse reports it
		}
		return nil, 0, err
	}
	buf, _ := br.Peek(br.Buffered())
	if resp, n, ok := parseHead(buf, req); ok {
		br.Discard(n)
		if resp.ContentLength == 0 {
			resp.Body = http.NoBody
		}
		return resp, resp.ContentLength, nil
	}
	resp, err = http.ReadResponse(br, req)
	return resp, 0, err
}

// parseHead parses a complete response head at the start of buf. It
// reports ok == false for anything outside the fast path, and otherwise
// the response and the head's length in bytes.
func parseHead(buf []byte, req *http.Request) (resp *http.Response, n int, ok bool) {
	if req.Method == http.MethodHead {
		return nil, 0, false
	}
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, 0, false
	}
	raw := buf[:end+2] // every line with its CRLF
	lines := 0
	for i, c := range raw {
		switch {
		case c == '\r':
			if raw[i+1] != '\n' { // raw ends in CRLF, so i+1 exists
				return nil, 0, false
			}
		case c == '\n':
			if i == 0 || raw[i-1] != '\r' {
				return nil, 0, false
			}
			lines++
		case c < ' ' && c != '\t', c == 0x7f:
			return nil, 0, false
		}
	}
	head := string(raw)
	// Status line: "HTTP/1.1 " three digits, then end or " " reason.
	eol := indexCRLF(head)
	line := head[:eol]
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+3 || line[:len(proto)] != proto || (len(line) > len(proto)+3 && line[len(proto)+3] != ' ') {
		return nil, 0, false
	}
	code := 0
	for _, c := range []byte(line[len(proto) : len(proto)+3]) {
		if c < '0' || c > '9' {
			return nil, 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, 0, false
	}
	values := make([]string, lines-1)
	h := make(http.Header, lines-1)
	nv := 0
	for rest := head[eol+2:]; rest != ""; {
		eol := indexCRLF(rest)
		line, next := rest[:eol], rest[eol+2:]
		rest = next
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
			if !httpguts.IsTokenRune(rune(line[i])) {
				return nil, 0, false // obs-fold, a space before the colon, a bad name
			}
		}
		if colon <= 0 {
			return nil, 0, false
		}
		key := textproto.CanonicalMIMEHeaderKey(line[:colon])
		v := textproto.TrimString(line[colon+1:])
		if old, dup := h[key]; dup {
			h[key] = append(old, v)
			continue
		}
		values[nv] = v
		h[key] = values[nv : nv+1 : nv+1]
		nv++
	}
	// Framing: one Content-Length, nothing else that decides it (RFC
	// 9112 §6.3), and nothing ReadResponse would rewrite (Pragma).
	for _, k := range []string{"Transfer-Encoding", "Trailer", "Pragma"} {
		if _, ok := h[k]; ok {
			return nil, 0, false
		}
	}
	cl := h["Content-Length"]
	if len(cl) != 1 || cl[0] == "" || len(cl[0]) > 18 {
		return nil, 0, false
	}
	length := int64(0)
	for _, c := range []byte(cl[0]) {
		if c < '0' || c > '9' {
			return nil, 0, false
		}
		length = length*10 + int64(c-'0')
	}
	resp = &http.Response{
		Status:        line[len(proto):],
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: length,
		Request:       req,
	}
	// RFC 9112 §9.6: "close" ends the connection after this response;
	// ReadResponse drops the field once it has noted that. The other
	// fields it names are hop-by-hop (RFC 9110 §7.6.1): with the field
	// gone a proxy could no longer tell, so they go with it.
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		for _, line := range h["Connection"] {
			for f := range strings.SplitSeq(line, ",") {
				if f = textproto.TrimString(f); f != "" && !strings.EqualFold(f, "close") {
					h.Del(f)
				}
			}
		}
		delete(h, "Connection")
		resp.Close = true
	}
	return resp, end + 4, true
}

// indexCRLF is the index of the first CRLF in s, which has one.
func indexCRLF(s string) int {
	for i := 0; ; i++ {
		if s[i] == '\r' {
			return i
		}
	}
}
