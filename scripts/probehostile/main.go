// Command probehostile is a hostile HTTP/1.1 backend and a client that
// attacks a front (examples/loadbalancer, examples/edge) through it. The
// backend misbehaves by path: /extra (an unsolicited second response),
// /longer (more bytes than Content-Length), /1xx and /100s (interim
// storms), /101 (switching protocols unasked), /badstatus, /nostatus,
// /dupcl, /tecl, /teident, /clspace (framing lies), /nohead (never ends
// the head), /trickle, /reset, /short (body cut), /bigheader, /nul, /lf,
// /chunkbad, /204body, /304body, /http10, /trailer (forbidden trailer
// fields); /ok answers the id it was asked for. The client sends each
// hostile request beside an innocent one and counts, per mode, statuses
// and any response carrying another request's id (cross) or the
// backend's POISON bytes.
//
//	go run ./scripts/probehostile -listen 127.0.0.1:19200 &
//	go run ./examples/loadbalancer -listen 127.0.0.1:18091 -backend 127.0.0.1:19200 &
//	go run ./scripts/probehostile -front 127.0.0.1:18091 -n 10
//
// Compare file descriptors of the front (ls /proc/PID/fd | wc -l) before
// and after. Loopback only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func ok(id string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%s", len(id), id)
}

func serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		id := req.URL.Query().Get("id")
		mode := strings.TrimPrefix(req.URL.Path, "/")
		w := func(s string) { io.WriteString(c, s) }
		switch mode {
		case "ok":
			w(ok(id))
		case "extra":
			w(ok(id) + "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nCache-Control: no-store\r\n\r\nPOISON")
		case "longer":
			w(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%sPOISONHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON", len(id), id))
		case "1xx":
			w(strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", 1000) + ok(id))
		case "100s":
			w(strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 200) + ok(id))
		case "101":
			w("HTTP/1.1 101 Switching Protocols\r\n\r\nPOISON")
			time.Sleep(time.Second)
			return
		case "badstatus":
			w("HTTP/1.1 2OO OK\r\nContent-Length: 6\r\n\r\nPOISON")
		case "nostatus":
			w("POISON\r\n\r\n")
			return
		case "dupcl":
			w("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 12\r\nCache-Control: no-store\r\n\r\nPOISONPOISON")
		case "tecl":
			w("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n6\r\nPOISON\r\n0\r\n\r\n")
		case "teident":
			w("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 6\r\nCache-Control: no-store\r\n\r\nPOISONPOISON")
		case "clspace":
			w("HTTP/1.1 200 OK\r\nContent-Length : 6\r\nCache-Control: no-store\r\n\r\nPOISON")
		case "nohead":
			w("HTTP/1.1 200 OK\r\nX: y\r\n")
			time.Sleep(30 * time.Second)
			return
		case "trickle":
			w("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nCache-Control: no-store\r\n\r\n")
			for i := 0; i < 10; i++ {
				time.Sleep(300 * time.Millisecond)
				w("x")
			}
		case "reset":
			w("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nCache-Control: no-store\r\n\r\n" + strings.Repeat("x", 5000))
			c.(*net.TCPConn).SetLinger(0)
			return
		case "short":
			w("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: no-store\r\n\r\nPOISON")
			return
		case "bigheader":
			w("HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 2<<20) + "\r\nContent-Length: 0\r\n\r\n")
		case "nul":
			w("HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 6\r\nCache-Control: no-store\r\n\r\nPOISON")
		case "lf":
			w("HTTP/1.1 200 OK\nContent-Length: " + fmt.Sprint(len(id)) + "\nCache-Control: no-store\n\n" + id)
		case "chunkbad":
			w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\nzz\r\nPOISON\r\n0\r\n\r\n")
		case "204body":
			w("HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nPOISON")
		case "304body":
			w("HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON")
		case "early":
			// respond before reading the body (body was already drained above; emulate by extra data)
			w(ok(id))
		case "http10":
			w("HTTP/1.0 200 OK\r\nCache-Control: no-store\r\n\r\n" + id)
			return
		case "trailer":
			w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n", len(id), id) + "0\r\nContent-Length: 99\r\nSet-Cookie: evil=1\r\n\r\n")
		default:
			w(ok(id))
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:19200", "")
	front := flag.String("front", "", "front to attack")
	n := flag.Int("n", 20, "requests per mode")
	flag.Parse()
	for _, a := range []string{*listen, *front} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(os.Stderr, "probehostile: %s: loopback addresses only\n", a)
			os.Exit(2)
		}
	}
	if *front == "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "probehostile:", err)
			os.Exit(2)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}
	modes := []string{"extra", "longer", "1xx", "100s", "101", "badstatus", "nostatus", "dupcl", "tecl", "teident", "clspace", "nohead", "trickle", "reset", "short", "bigheader", "nul", "lf", "chunkbad", "204body", "304body", "http10", "trailer"}
	var seq atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	for _, m := range modes {
		var wg sync.WaitGroup
		var mu sync.Mutex
		res := map[string]int{}
		cross := 0
		start := time.Now()
		for i := 0; i < *n; i++ {
			wg.Add(2)
			go func() { // hostile request
				defer wg.Done()
				id := fmt.Sprintf("id%06d", seq.Add(1))
				resp, err := cl.Get("http://" + *front + "/" + m + "?id=" + id)
				k := ""
				if err != nil {
					k = "err:" + shortErr(err)
				} else {
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					k = fmt.Sprint(resp.StatusCode)
					if err != nil {
						k += " bodyerr"
					}
					if strings.Contains(string(b), "POISON") {
						k += " POISON"
					}
					if s := string(b); strings.HasPrefix(s, "id") && s != id {
						mu.Lock()
						cross++
						mu.Unlock()
					}
				}
				mu.Lock()
				res[k]++
				mu.Unlock()
			}()
			go func() { // innocent request alongside
				defer wg.Done()
				id := fmt.Sprintf("id%06d", seq.Add(1))
				resp, err := cl.Get("http://" + *front + "/ok?id=" + id)
				if err != nil {
					mu.Lock()
					res["innocent err:"+shortErr(err)]++
					mu.Unlock()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != id {
					mu.Lock()
					cross++
					res[fmt.Sprintf("innocent got %.20q", b)]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		fmt.Printf("%-10s %6.1fs cross=%d %v\n", m, time.Since(start).Seconds(), cross, res)
	}
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
