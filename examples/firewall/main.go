// Command firewall runs a filtering reverse proxy: connections are judged
// by packet-filter rules at accept, requests by the HTTP filter (client
// address, rate limit, size limits, built-in attack checks), and what
// passes goes to the upstream.
//
//	go run ./examples/firewall -rules examples/firewall/rules.conf -listen 127.0.0.1:8082 -upstream http://127.0.0.1:9201
//
// Behind a proxy, say which proxies are trusted and the one header each
// maintains, in the rules file ("trust 10.0.0.0/8 header X-Forwarded-For")
// or by flag (-trust 10.0.0.0/8=X-Forwarded-For, repeatable); only that
// header is read, from the right, and every other forwarding header is
// ignored. With neither, no header is read: the client is the TCP peer.
// It says at start what it trusts. The upstream gets X-Forwarded-For set
// to the one client address the firewall judged.
//
// Timeouts are HAProxy's and nginx's defaults: -read-header-timeout (10 s)
// bounds each request head, -idle-timeout (60 s) an idle keep-alive
// connection, -upstream-timeout (50 s, HAProxy's timeout server) an
// upstream that sends no response head; -grace (5 s) is how long requests
// in flight may finish at shutdown.
//
// The rules file is re-read on SIGHUP (trust statements included). With no flags it starts a demo
// upstream, shows allowed, denied and rate-limited requests and a live
// rule reload, and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/firewall"
)

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
	return cmdline.Report(stderr, "firewall", run(ctx, args, stdout, nil))
}

func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("firewall", flag.ContinueOnError)
	rulesPath := fs.String("rules", "", "rules file (see examples/firewall/rules.conf)")
	listen := fs.String("listen", "127.0.0.1:8082", "address to serve on")
	upstream := fs.String("upstream", "", "upstream base URL")
	rps := fs.Float64("rate", 20, "requests per second allowed per client (/32, /64)")
	burst := fs.Int("burst", 40, "rate-limit burst")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body")
	headTimeout := fs.Duration("read-header-timeout", 10*time.Second, "longest wait for a request head (HAProxy's timeout http-request)")
	idleTimeout := fs.Duration("idle-timeout", 60*time.Second, "close a keep-alive connection idle this long (nginx: 75 s, HAProxy: 10 s)")
	upTimeout := fs.Duration("upstream-timeout", 50*time.Second, "an upstream that sends no response head for this long fails the request with 502 (HAProxy's timeout server)")
	grace := fs.Duration("grace", 5*time.Second, "at shutdown, how long requests in flight may finish before their connections close")
	maxConns := fs.Int("max-conns", 256, "open connections per source address (0: no cap); off behind trusted proxies, whose connections carry every client")
	var trust []firewall.TrustedProxy
	fs.Func("trust", "PREFIX[,PREFIX...]=HEADER: proxies trusted to maintain HEADER (X-Forwarded-For, Forwarded, ...); repeatable; overrides none, conflicts with trust statements in the rules file", func(s string) error {
		ps, err := firewall.ParseTrustedProxy(s)
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "firewall: "))
		}
		trust = append(trust, ps...)
		return nil
	})
	fs.Func("trusted-proxies", "removed: use -trust PREFIX=HEADER", func(string) error {
		return errors.New("removed: name the header each proxy maintains, e.g. -trust 10.0.0.0/8=X-Forwarded-For (or \"trust 10.0.0.0/8 header X-Forwarded-For\" in the rules file)")
	})
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-read-header-timeout", *headTimeout}, {"-idle-timeout", *idleTimeout}, {"-upstream-timeout", *upTimeout}, {"-grace", *grace}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.name, d.v)
		}
	}
	if *rulesPath == "" && *upstream == "" {
		if set(fs, "listen") {
			return errors.New("-listen needs -rules and -upstream (without them the demo runs on its own loopback ports)")
		}
		return demo(out)
	}
	if *rulesPath == "" || *upstream == "" {
		return errors.New("-rules and -upstream go together (or give neither for the demo)")
	}
	u, err := url.Parse(*upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-upstream %q must be http(s)://host[:port]", *upstream)
	}
	rs, err := loadRules(*rulesPath)
	if err != nil {
		return err
	}
	realIP, err := firewall.NewRealIP(trust)
	if err != nil {
		return fmt.Errorf("-trust: %v", err)
	}
	if realIP != nil && rs.RealIP() != nil {
		return fmt.Errorf("trusted proxies given both by -trust and in %s: give them in one place", *rulesPath)
	}
	fw, err := firewall.New(firewall.Config{Rules: rs})
	if err != nil {
		return err
	}
	trusts := func() *firewall.RealIP { // what the filter uses: see HTTPConfig.RealIP
		if realIP != nil {
			return realIP
		}
		return fw.Rules().RealIP()
	}
	lim, err := firewall.NewLimiter(firewall.LimiterConfig{Rate: *rps, Burst: *burst})
	if err != nil {
		return fmt.Errorf("-rate/-burst: %v", err)
	}
	inner, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// Behind trusted proxies every connection comes from a proxy: a cap
	// per source address would cap all clients together, so it is off
	// (the HTTP filter limits each client by the address it finds).
	capNote := fmt.Sprintf("per-source connection cap %d", *maxConns)
	if *maxConns < 0 {
		return fmt.Errorf("-max-conns %d: must be 0 or more", *maxConns)
	}
	if trusts() != nil {
		*maxConns, capNote = 0, "no per-source connection cap (connections come from the trusted proxies)"
	}
	ln, err := firewall.NewListener(inner, firewall.ListenerConfig{Filter: fw, MaxConnsPerSource: *maxConns})
	if err != nil {
		return err
	}
	// The upstream timeout bounds the wait for a response head, as
	// HAProxy's timeout server; a body then streams as long as it flows.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = *upTimeout
	proxy := &httputil.ReverseProxy{Transport: transport, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.SetXForwarded()
		// The upstream learns the client the firewall judged, not our
		// peer (which, behind a proxy, is the proxy).
		if c, _ := trusts().ClientAddr(pr.In); c.IsValid() {
			pr.Out.Header.Set("X-Forwarded-For", c.String())
		}
	}}
	// RealIP nil: the trusted proxies of the rule set in force.
	filter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Filter: fw, Limiter: lim, RealIP: realIP, MaxBodyBytes: *maxBody})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: filter.Wrap(proxy), ReadHeaderTimeout: *headTimeout, IdleTimeout: *idleTimeout}
	fmt.Fprintf(out, "firewall on %s -> %s, rules %s (SIGHUP reloads)\n%s; %s\n", inner.Addr(), u, *rulesPath, trusts(), capNote)
	if ready != nil {
		ready <- inner.Addr().String()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	for {
		select {
		case err := <-errc:
			return err
		case <-hup:
			if nrs, err := loadRules(*rulesPath); err != nil {
				fmt.Fprintf(out, "reload refused, old rules stay: %v\n", err)
			} else if realIP != nil && nrs.RealIP() != nil {
				fmt.Fprintf(out, "reload refused, old rules stay: trusted proxies given both by -trust and in %s\n", *rulesPath)
			} else if err := fw.Reload(nrs); err != nil {
				fmt.Fprintf(out, "reload refused, old rules stay: %v\n", err)
			} else {
				fmt.Fprintf(out, "rules reloaded; %s\n", trusts())
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), *grace)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
				return fmt.Errorf("requests still in flight after -grace %v were cut", *grace)
			}
			return nil
		}
	}
}

// set reports whether the command line gave the flag.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func loadRules(path string) (*firewall.RuleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := firewall.ParseRules(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// demo runs an upstream and the firewall in front of it, and shows each
// kind of verdict with requests from different loopback source addresses.
func demo(out io.Writer) error {
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from upstream") }), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go up.Serve(uln)
	defer up.Close()
	rs, err := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.66\n"))
	if err != nil {
		return err
	}
	fw, _ := firewall.New(firewall.Config{Rules: rs})
	lim, _ := firewall.NewLimiter(firewall.LimiterConfig{Rate: 1, Burst: 3})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ln, err := firewall.NewListener(inner, firewall.ListenerConfig{Filter: fw})
	if err != nil {
		return err
	}
	target, _ := url.Parse("http://" + uln.Addr().String())
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	// 127.0.0.9 plays nginx in front: trusted to maintain X-Forwarded-For.
	realIP, err := firewall.NewRealIP([]firewall.TrustedProxy{{Prefix: netip.MustParsePrefix("127.0.0.9/32"), Header: "X-Forwarded-For"}})
	if err != nil {
		return err
	}
	filter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Filter: fw, Limiter: lim, MaxBodyBytes: 64, RealIP: realIP})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: filter.Wrap(proxy), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	addr := inner.Addr().String()
	from := func(src, method, path, body string, header ...string) string {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return "connection refused at accept (" + shortErr(err) + ")"
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	fmt.Fprintf(out, "upstream %s, firewall %s; rules: policy allow, deny 127.0.0.66; rate 1/s burst 3; %s\n\n", uln.Addr(), addr, realIP)
	show := func(label, result string) { fmt.Fprintf(out, "%-44s %s\n", label, result) }
	show("GET / from 127.0.0.1", from("127.0.0.1", "GET", "/", ""))
	show("GET / from 127.0.0.66 (denied address)", from("127.0.0.66", "GET", "/", ""))
	show("via proxy 127.0.0.9 for 127.0.0.66", from("127.0.0.9", "GET", "/", "", "Forwarded", "for=127.0.0.1", "X-Forwarded-For", "127.0.0.1, 127.0.0.66"))
	show("from 127.0.0.8, XFF 127.0.0.66 (not read)", from("127.0.0.8", "GET", "/", "", "X-Forwarded-For", "127.0.0.66"))
	show("GET /a/%2e%2e/etc/passwd from 127.0.0.2", from("127.0.0.2", "GET", "/a/%2e%2e/etc/passwd", ""))
	show("POST 100-byte body (limit 64) from 127.0.0.3", from("127.0.0.3", "POST", "/", strings.Repeat("x", 100)))
	for i := 1; i <= 5; i++ {
		show(fmt.Sprintf("burst request %d from 127.0.0.4", i), from("127.0.0.4", "GET", "/", ""))
	}
	rs2, err := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.5\n"))
	if err == nil {
		err = fw.Reload(rs2)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nlive reload: now deny 127.0.0.5 instead of 127.0.0.66")
	show("GET / from 127.0.0.66", from("127.0.0.66", "GET", "/", ""))
	show("GET / from 127.0.0.5", from("127.0.0.5", "GET", "/", ""))
	st, hs := fw.Stats(), filter.Stats()
	fmt.Fprintf(out, "\nfirewall: %d allowed, %d denied, %d reloads; HTTP filter: %d passed, %d denied (%d rate-limited, %d oversized, %d attack checks); listener refused %d\n",
		st.Allowed, st.Denied, st.Reloads, hs.Allowed, hs.Denied, hs.Limited, hs.Oversized, hs.Builtin, ln.Refused())
	return nil
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
