// Command loadh3 loads one HTTPS URL over HTTP/1.1, HTTP/2 or HTTP/3 with
// Go's clients (net/http's Transport, HTTP/1.1 or HTTP/2 only,
// and quic-go's http3) for a fixed time and prints requests per second, the
// share of X-Cache: HIT and latency percentiles: the one load tool that
// speaks all three (Debian's h2load is built without QUIC).
// scripts/bench-h3.sh runs it against examples/edge.
//
//	loadh3 -proto h3 -conns 8 -streams 8 -d 10s -ca cert.pem https://127.0.0.1:8443/x
//
// Each of -conns connections carries -streams requests at a time
// (HTTP/1.1: one, there is no pipelining). Loopback only.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"
)

func main() {
	proto := flag.String("proto", "h2", "h1, h2 or h3")
	conns := flag.Int("conns", 8, "connections")
	streams := flag.Int("streams", 8, "requests in flight per connection (h2, h3)")
	d := flag.Duration("d", 10*time.Second, "duration")
	caFile := flag.String("ca", "", "PEM file of the server's certificate or CA")
	name := flag.String("servername", "localhost", "TLS server name")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: loadh3 [flags] URL")
		os.Exit(2)
	}
	url := flag.Arg(0)
	pool := x509.NewCertPool()
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			fmt.Fprintln(os.Stderr, "loadh3: -ca:", err)
			os.Exit(2)
		}
	}
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: *name, MinVersion: tls.VersionTLS13}
	per := *streams
	if *proto == "h1" {
		per = 1
	}
	var ok, hits, fails atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	end := time.Now().Add(*d)
	var wg sync.WaitGroup
	for range *conns {
		var rt http.RoundTripper
		switch *proto {
		case "h1":
			rt = &http.Transport{TLSClientConfig: tlsCfg.Clone(), MaxConnsPerHost: 1, DisableCompression: true}
		case "h2":
			var h2 http.Protocols
			h2.SetHTTP2(true)
			rt = &http.Transport{Protocols: &h2, TLSClientConfig: tlsCfg.Clone(), MaxConnsPerHost: 1, DisableCompression: true}
		case "h3":
			rt = &http3.Transport{TLSClientConfig: tlsCfg.Clone(), DisableCompression: true}
		default:
			fmt.Fprintln(os.Stderr, "loadh3: -proto must be h1, h2 or h3")
			os.Exit(2)
		}
		cl := &http.Client{Transport: rt, Timeout: 10 * time.Second}
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) {
					start := time.Now()
					resp, err := cl.Get(url)
					if err != nil {
						fails.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						fails.Add(1)
						continue
					}
					mine = append(mine, time.Since(start))
					ok.Add(1)
					if resp.Header.Get("X-Cache") == "HIT" {
						hits.Add(1)
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		defer func() {
			if c, ok := rt.(interface{ Close() error }); ok {
				c.Close()
			} else if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fmt.Printf("%s conns=%d streams=%d: %.0f req/s, %d ok, %d failed, %.1f%% HIT, p50 %v p99 %v\n",
		*proto, *conns, per, float64(ok.Load())/d.Seconds(), ok.Load(), fails.Load(),
		100*float64(hits.Load())/float64(max(ok.Load(), 1)), pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
}
