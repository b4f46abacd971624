// Command cache shows an HTTP client with a private RFC 9111 cache
// (cache.Transport) talking to an origin, and prints for each request
// whether it was a HIT, a MISS, REVALIDATED with a conditional request, or
// served STALE, with its Age.
//
// With no flags it starts a small demo origin on loopback and walks through
// freshness, validation, stale-while-revalidate and stale-if-error on a
// simulated clock, so it finishes at once without sleeping:
//
//	go run ./examples/cache
//
// With -url it fetches a real URL -n times, a -wait apart, on the real
// clock:
//
//	go run ./examples/cache -url http://127.0.0.1:8080/ -n 3 -wait 1s
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/cache"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli runs the command and says on stderr how it ended: -h prints the
// usage and returns 0; a bad command line prints its error once, then the
// usage, and returns 2; a failure prints one line and returns 2.
func cli(args []string, stdout, stderr io.Writer) int {
	return cmdline.Report(stderr, "cache", run(args, stdout))
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	url := fs.String("url", "", "fetch this URL instead of running the demo origin")
	n := fs.Int("n", 3, "with -url: how many requests")
	wait := fs.Duration("wait", time.Second, "with -url: pause between requests")
	maxBytes := fs.Int64("max-bytes", 64<<20, "cache size in bytes")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *n < 1 {
		return fmt.Errorf("-n %d: must be at least 1", *n)
	}
	if *wait <= 0 {
		return fmt.Errorf("-wait %v: must be positive", *wait)
	}
	if *maxBytes < 64<<10 {
		return fmt.Errorf("-max-bytes %d: too small, at least %d", *maxBytes, 64<<10)
	}
	if *url != "" {
		return fetchURL(out, *url, *n, *wait, *maxBytes)
	}
	return demo(out, *maxBytes)
}

func fetchURL(out io.Writer, url string, n int, wait time.Duration, maxBytes int64) error {
	c, err := cache.New(cache.Config{MaxBytes: maxBytes})
	if err != nil {
		return err
	}
	tr, err := cache.NewTransport(cache.TransportConfig{Cache: c})
	if err != nil {
		return err
	}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(wait)
		}
		if err := fetch(out, client, url, url); err != nil {
			return err
		}
	}
	return nil
}

func fetch(out io.Writer, client *http.Client, url, label string, header ...string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	age := resp.Header.Get("Age")
	if age == "" {
		age = "-"
	}
	fmt.Fprintf(out, "GET %-34s %3d  %-11s age=%-4s %q\n", label, resp.StatusCode, resp.Header.Get(cache.XCache), age, body)
	return nil
}

// simClock is the demo's simulated time, shared by origin and cache.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func demo(out io.Writer, maxBytes int64) error {
	clk := &simClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	var originRequests atomic.Int32
	var failing atomic.Bool
	version := map[string]int{}
	var mu sync.Mutex
	mux := http.NewServeMux()
	handle := func(path, cc string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			originRequests.Add(1)
			w.Header().Set("Date", clk.Now().Format(http.TimeFormat))
			if failing.Load() {
				http.Error(w, "origin down", http.StatusServiceUnavailable)
				return
			}
			mu.Lock()
			v := version[path]
			mu.Unlock()
			etag := `"v` + strconv.Itoa(v) + `"`
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			fmt.Fprintf(w, "%s version %d", path, v)
		})
	}
	handle("/article", "max-age=60")
	handle("/news", "max-age=10, stale-while-revalidate=30")
	handle("/logo.png", "max-age=5, stale-if-error=300")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	c, err := cache.New(cache.Config{MaxBytes: maxBytes, Now: clk.Now})
	if err != nil {
		return err
	}
	tr, err := cache.NewTransport(cache.TransportConfig{Cache: c, Now: clk.Now})
	if err != nil {
		return err
	}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	fmt.Fprintf(out, "origin %s (simulated clock starts %s)\n\n", base, clk.Now().Format(time.TimeOnly))
	steps := []struct {
		advance time.Duration
		note    string
		path    string
		header  []string
		before  func()
	}{
		{0, "first request: nothing stored", "/article", nil, nil},
		{20 * time.Second, "fresh for 60 s: served from memory", "/article", nil, nil},
		{50 * time.Second, "stale at 70 s: a conditional request, the origin answers 304", "/article", nil, nil},
		{0, "the 304 freshened it", "/article", nil, nil},
		{0, "the client asks to skip the cache", "/article", []string{"Cache-Control", "no-cache"}, nil},
		{0, "first request", "/news", nil, nil},
		{15 * time.Second, "stale, inside stale-while-revalidate: served at once, refreshed behind", "/news", nil, func() {
			mu.Lock()
			version["/news"] = 1
			mu.Unlock()
		}},
		{0, "the background refresh stored version 1", "/news", nil, nil},
		{0, "first request", "/logo.png", nil, nil},
		{30 * time.Second, "origin down, stale-if-error keeps it served", "/logo.png", nil, func() { failing.Store(true) }},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.before != nil {
			s.before()
		}
		if s.advance > 0 {
			fmt.Fprintf(out, "  +%v\n", s.advance)
		}
		fmt.Fprintf(out, "  # %s\n", s.note)
		label := s.path
		if len(s.header) > 0 {
			label += " (" + s.header[0] + ": " + s.header[1] + ")"
		}
		if err := fetch(out, client, base+s.path, label, s.header...); err != nil {
			return err
		}
		// Let a background revalidation finish before the next step, so
		// the walk-through reads the same on every run.
		tr.Wait()
	}
	st := c.Stats()
	fmt.Fprintf(out, "\ncache: %d hits (%d stale), %d misses, %d validations, %d stored, %d freshened by 304; origin saw %d requests\n",
		st.Hits, st.StaleHits, st.Misses, st.Validations, st.Stores, st.Updates, originRequests.Load())
	return nil
}
