// Command loadbalancer runs an HTTP (L7) or TCP (L4) load balancer.
//
//	go run ./examples/loadbalancer -listen 127.0.0.1:8081 -policy p2c -backend 127.0.0.1:9101 -backend 127.0.0.1:9102
//	go run ./examples/loadbalancer -mode tcp -listen 127.0.0.1:8081 -backend 127.0.0.1:9101 ...
//
// In http mode the front is httpfront.Server, a lean HTTP/1.1 server;
// -front net/http serves through net/http's Server instead.
// -read-header-timeout (10 s) bounds each whole request head, as HAProxy's
// timeout http-request; on the edgekit front it also bounds a keep-alive
// connection's idle time, on the net/http front -idle-timeout (60 s) does;
// -body-idle-timeout (60 s, edgekit front) cuts a request body that sends
// nothing for that long, as nginx's client_body_timeout; -server-timeout
// (50 s) fails a backend that stalls, as HAProxy's timeout server; -grace (5 s) is how long connections and
// requests in flight may finish at shutdown. Backends are
// host:port (an http:// prefix is accepted). With no -backend flags it
// starts three demo backends in-process, prints how 1000 requests spread
// under each policy and what happens when one backend is killed, and exits.
//
// Observability (observe.go): -metrics ADDR serves /metrics, /healthz and
// /readyz (and /debug/pprof/ with -pprof) on loopback unless
// -metrics-token is set; -otlp ENDPOINT sends a span per proxied request
// over OTLP/HTTP and forwards its traceparent to the backend. See
// docs/observability.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/httpfront"
	"go.uber.org/zap"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs the command and says on stderr how it ended: -h prints the
// usage and returns 0; a bad command line prints its error once, then the
// usage, and returns 2; a failure prints one line and returns 2.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cmdline.Report(stderr, "loadbalancer", run(ctx, args, stdout, nil), "balancer: ")
}

// set reports whether the command line gave the flag.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("loadbalancer", flag.ContinueOnError)
	var backends listFlag
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	mode := fs.String("mode", "http", "http (L7) or tcp (L4)")
	policy := fs.String("policy", "p2c", "roundrobin, wrr, leastconn, p2c, ewma, random, maglev, ring, rendezvous, bounded")
	fs.Var(&backends, "backend", "backend host:port (repeatable; id=host:port*weight also works)")
	health := fs.String("health", "", "HTTP path for active health checks (default: TCP connect checks in tcp mode, none in http mode)")
	sticky := fs.String("sticky-cookie", "", "cookie name for sticky sessions (http mode)")
	front := fs.String("front", "edgekit", "http mode's server: edgekit (httpfront.Server) or net/http")
	headTimeout := fs.Duration("read-header-timeout", httpfront.DefaultReadHeaderTimeout, "http mode: bound on each whole request head (HAProxy's timeout http-request); on the edgekit front also on a keep-alive connection's idle time")
	idleTimeout := fs.Duration("idle-timeout", 60*time.Second, "http mode, net/http front: close a keep-alive connection idle this long (the edgekit front uses -read-header-timeout)")
	grace := fs.Duration("grace", 5*time.Second, "at shutdown, how long requests (tcp mode: connections) in flight may finish before their connections close")
	serverTimeout := fs.Duration("server-timeout", balancer.DefaultServerTimeout, "http mode: a backend that sends nothing of its response for this long fails the attempt (504, counted toward ejection; HAProxy's timeout server); negative: never")
	bodyTimeout := fs.Duration("body-idle-timeout", httpfront.DefaultBodyIdleTimeout, "http mode, edgekit front: a request body that sends nothing for this long is cut (408); negative: never")
	var tlsOpts tlsOptions
	tlsOpts.register(fs)
	var obs observer
	obs.register(fs)
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if *front != "edgekit" && *front != "net/http" {
		return fmt.Errorf("-front must be edgekit or net/http, not %q", *front)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	pol, err := balancer.PolicyByName(*policy)
	if err != nil {
		return fmt.Errorf("-policy %q: %w", *policy, err)
	}
	if *mode != "http" && *mode != "tcp" {
		return fmt.Errorf("-mode must be http or tcp, not %q", *mode)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-read-header-timeout", *headTimeout}, {"-idle-timeout", *idleTimeout}, {"-grace", *grace}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.name, d.v)
		}
	}
	if *mode == "tcp" {
		for _, f := range []string{"sticky-cookie", "front", "read-header-timeout", "idle-timeout", "body-idle-timeout", "server-timeout"} {
			if set(fs, f) {
				return fmt.Errorf("-%s applies to http mode, not -mode tcp", f)
			}
		}
	}
	if err := tlsOpts.check(); err != nil {
		return err
	}
	backendTLS, err := tlsOpts.backendConfig()
	if err != nil {
		return err
	}
	if *mode == "tcp" && (tlsOpts.https.Listen != "" || backendTLS != nil) {
		return errors.New("TLS flags are for http mode")
	}
	if len(backends) == 0 {
		if set(fs, "listen") {
			return errors.New("-listen needs -backend (without backends the demo runs on its own loopback ports)")
		}
		return demo(out)
	}
	if err := obs.start(ctx, out); err != nil {
		return err
	}
	defer obs.close()
	hc := balancer.HealthCheck{Path: *health, HTTPS: backendTLS != nil, TLS: backendTLS}
	if *health != "" || *mode == "tcp" {
		hc.Interval = 2 * time.Second
	}
	pool, err := balancer.New(balancer.Config{Policy: pol, Health: hc})
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, b := range backends {
		be, err := parseBackend(b)
		if err != nil {
			return err
		}
		if err := pool.Add(be); err != nil {
			return err
		}
	}
	if err := obs.watch(pool); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	banner := func() {
		fmt.Fprintf(out, "%s load balancer on %s, policy %s, backends %s\n", *mode, ln.Addr(), *policy, strings.Join(backends, ", "))
	}
	if *mode == "tcp" {
		banner()
		if ready != nil {
			ready <- ln.Addr().String()
		}
		tp, err := balancer.NewTCPProxy(balancer.TCPProxyConfig{Pool: pool, DrainTimeout: *grace})
		if err != nil {
			return err
		}
		return tp.Serve(ctx, ln)
	}
	pcfg := balancer.ProxyConfig{Pool: pool, Sticky: balancer.StickyCookie{Name: *sticky}, ServerTimeout: *serverTimeout, BackendTLS: backendTLS}
	obs.configure(&pcfg)
	proxy, err := balancer.NewProxy(pcfg)
	if err != nil {
		return err
	}
	px := obs.handler(proxy)
	tlsCtx, stopTLS := context.WithCancel(ctx)
	tlsOpts.https.ReadHeaderTimeout, tlsOpts.https.BodyIdleTimeout, tlsOpts.https.Grace = *headTimeout, *bodyTimeout, *grace // HTTP/3's too
	waitTLS, err := tlsOpts.start(tlsCtx, out, zap.NewNop(), px, func(ctx context.Context, ln net.Listener, h http.Handler) error {
		if *front == "edgekit" {
			return (&httpfront.Server{Handler: h, ReadHeaderTimeout: *headTimeout, BodyIdleTimeout: *bodyTimeout, ShutdownTimeout: *grace}).Serve(ctx, ln)
		}
		return serveHTTP(ctx, ln, &http.Server{Handler: h, ReadHeaderTimeout: *headTimeout, IdleTimeout: *idleTimeout})
	})
	defer waitTLS()
	defer stopTLS() // before the wait
	if err != nil {
		return err // before the banner: a certificate that does not load ends the program first
	}
	banner()
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if *front == "edgekit" {
		return (&httpfront.Server{Handler: px, ReadHeaderTimeout: *headTimeout, BodyIdleTimeout: *bodyTimeout, ShutdownTimeout: *grace}).Serve(ctx, ln)
	}
	srv := &http.Server{Handler: px, ReadHeaderTimeout: *headTimeout, IdleTimeout: *idleTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("requests still in flight after -grace %v were cut", *grace)
	}
	return nil
}

// parseBackend reads "host:port", "http://host:port", "id=host:port" and
// an optional "*weight" suffix.
func parseBackend(s string) (balancer.Backend, error) {
	var b balancer.Backend
	s = strings.TrimPrefix(strings.TrimSuffix(s, "/"), "http://")
	if i := strings.LastIndexByte(s, '*'); i >= 0 {
		if _, err := fmt.Sscanf(s[i+1:], "%d", &b.Weight); err != nil || b.Weight <= 0 {
			return b, fmt.Errorf("-backend %q: weight must be a positive integer", s)
		}
		s = s[:i]
	}
	if id, addr, ok := strings.Cut(s, "="); ok {
		b.ID, s = id, addr
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return b, fmt.Errorf("-backend %q: %v", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return b, fmt.Errorf("-backend %q: want host:port with a port 1-65535", s)
	}
	b.Addr = s
	return b, nil
}

// demo starts three backends, shows each policy's distribution of 1000
// requests, then kills one backend and shows the L7 proxy routing around
// it.
func demo(out io.Writer) error {
	type backend struct {
		name string
		srv  *http.Server
		addr string
	}
	var bs []*backend
	for _, name := range []string{"alpha", "beta", "gamma"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		name := name
		b := &backend{name: name, addr: ln.Addr().String()}
		b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
		go b.srv.Serve(ln)
		defer b.srv.Close()
		bs = append(bs, b)
	}
	fmt.Fprintf(out, "demo backends: alpha %s (weight 3), beta %s, gamma %s\n\n", bs[0].addr, bs[1].addr, bs[2].addr)
	fmt.Fprintf(out, "%-11s %7s %7s %7s   (1000 picks; keyed policies hash 1000 URLs)\n", "policy", "alpha", "beta", "gamma")
	for _, name := range []string{"roundrobin", "wrr", "random", "leastconn", "p2c", "maglev", "ring", "rendezvous", "bounded"} {
		pol, _ := balancer.PolicyByName(name)
		pool, err := balancer.New(balancer.Config{Policy: pol})
		if err != nil {
			return err
		}
		pool.Add(balancer.Backend{ID: "alpha", Addr: bs[0].addr, Weight: 3})
		pool.Add(balancer.Backend{ID: "beta", Addr: bs[1].addr})
		pool.Add(balancer.Backend{ID: "gamma", Addr: bs[2].addr})
		counts := map[string]int{}
		for i := 0; i < 1000; i++ {
			pk, err := pool.Pick(balancer.PickInfo{Key: fmt.Sprintf("/assets/%d.js", i)})
			if err != nil {
				return err
			}
			counts[pk.Backend().ID]++
			pk.Done(balancer.DoneInfo{})
		}
		pool.Close()
		fmt.Fprintf(out, "%-11s %7d %7d %7d\n", name, counts["alpha"], counts["beta"], counts["gamma"])
	}

	pool, err := balancer.New(balancer.Config{Policy: balancer.RoundRobin(), Outlier: balancer.OutlierDetection{Consecutive: 1}})
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, b := range bs {
		pool.Add(balancer.Backend{ID: b.name, Addr: b.addr})
	}
	px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fctx, stopFront := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- (&httpfront.Server{Handler: px, ReadHeaderTimeout: 5 * time.Second}).Serve(fctx, ln) }()
	defer func() { stopFront(); <-served }()
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(n int) (map[string]int, int) {
		counts, failed := map[string]int{}, 0
		for i := 0; i < n; i++ {
			resp, err := client.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				failed++
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed++
				continue
			}
			counts[string(body)]++
		}
		return counts, failed
	}
	c, f := send(300)
	fmt.Fprintf(out, "\nL7 proxy, round robin, 300 requests: %s, %d failed\n", format(c), f)
	bs[1].srv.Close()
	c, f = send(300)
	st := pool.Stats()
	fmt.Fprintf(out, "beta killed, 300 more requests:    %s, %d failed (retried on another backend; beta %s)\n", format(c), f, stateOf(st, "beta"))
	return nil
}

func format(c map[string]int) string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

func stateOf(st []balancer.BackendStats, id string) string {
	for _, s := range st {
		if s.ID == id {
			return s.State.String()
		}
	}
	return "gone"
}
