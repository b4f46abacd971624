// Command edgemem measures the memory of examples/edge under a flood of
// distinct small objects (issue 14 §5): it serves a loopback origin, runs
// the edge binary in front of it with GODEBUG=gctrace=1, sends a bounded
// number of requests for distinct URLs (a few large objects among them),
// and reports the edge's object count, counted bytes, live heap (from the
// last GC trace line) and RSS, before and after. Loopback only; not part
// of go test.
//
//	go build -o /tmp/edge ./examples/edge
//	go run ./scripts/edgemem -edge /tmp/edge -max-bytes 67108864 -n 300000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("edge", "", "path to the examples/edge binary")
	maxBytes := flag.Int64("max-bytes", 64<<20, "edge -max-bytes")
	n := flag.Int("n", 300_000, "distinct small objects requested")
	bigEvery := flag.Int("big-every", 5000, "one 512 KiB object per this many small ones (0: none)")
	conns := flag.Int("c", 8, "concurrent clients")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "edgemem: -edge is required")
		os.Exit(2)
	}
	if err := run(*bin, *maxBytes, *n, *bigEvery, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "edgemem:", err)
		os.Exit(1)
	}
}

func run(bin string, maxBytes int64, n, bigEvery, conns int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	date := time.Now().UTC().Format(http.TimeFormat)
	big := strings.Repeat("B", 512<<10)
	origin := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Last-Modified", date)
		h.Set("Etag", `"`+strconv.Itoa(len(r.URL.Path))+r.URL.Path[len(r.URL.Path)/2:]+`"`)
		h.Set("Surrogate-Key", "obj"+r.URL.Path+" section-"+strconv.Itoa(len(r.URL.Path)%7))
		if strings.HasPrefix(r.URL.Path, "/big/") {
			io.WriteString(w, big)
			return
		}
		fmt.Fprintf(w, "%-55s\n", "object "+r.URL.Path) // 56 bytes
	})}
	go origin.Serve(ln)
	defer origin.Close()

	eln, err := net.Listen("tcp", "127.0.0.1:0") // pick a free port for the edge
	if err != nil {
		return err
	}
	edgeAddr := eln.Addr().String()
	eln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", edgeAddr, "-origin", "http://"+ln.Addr().String(),
		"-max-bytes", strconv.FormatInt(maxBytes, 10))
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var lastGC atomic.Value
	lastGC.Store("")
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "gc ") {
				lastGC.Store(sc.Text())
			}
		}
	}()
	base := "http://" + edgeAddr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	for i := 0; ; i++ {
		resp, err := client.Get(base + "/.edge/stats")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			return fmt.Errorf("edge did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for a separate process to listen
	}
	report := func(when string) error {
		var st struct {
			Node struct {
				Objects         int
				Bytes, MaxBytes int64
				Requests        uint64
			} `json:"node"`
		}
		resp, err := client.Get(base + "/.edge/stats")
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return err
		}
		rss, hwm := procStatus(cmd.Process.Pid)
		fmt.Printf("%-6s objects %7d  counted %6.1f MiB of %6.1f MiB  live heap %s  RSS %6.1f MiB (peak %6.1f MiB)\n", when,
			st.Node.Objects, mib(st.Node.Bytes), mib(st.Node.MaxBytes), liveHeap(lastGC.Load().(string)), rss, hwm)
		return nil
	}
	if err := report("before"); err != nil {
		return err
	}
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				path := "/o/" + strconv.Itoa(i)
				if bigEvery > 0 && i%bigEvery == 0 {
					path = "/big/" + strconv.Itoa(i)
				}
				resp, err := client.Get(base + path)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Let the edge finish a GC cycle so the trace shows the live heap: a
	// few more requests allocate; the runtime also forces one every 2 min.
	fmt.Printf("%d requests (%d failed) in %v, %.0f req/s, %d conns\n", n, failed.Load(), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), conns)
	return report("after")
}

var gcLine = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// liveHeap reads "live MB" (the heap marked live by the last GC) from a
// gctrace line.
func liveHeap(line string) string {
	m := gcLine.FindStringSubmatch(line)
	if m == nil {
		return "     ? MB"
	}
	return fmt.Sprintf("%6s MB", m[3])
}

func procStatus(pid int) (rss, hwm float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
