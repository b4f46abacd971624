// Command edge runs a CDN edge server: a caching reverse proxy in front of
// one or more origins, with surrogate-key purging and failover.
//
//	go run ./examples/edge -listen 127.0.0.1:8080 -origin http://127.0.0.1:9001 -origin http://127.0.0.1:9002
//
// Origins are tried in the order given (the first is the primary). Every
// method is forwarded; GET and HEAD are cached per RFC 9111.
//
// Admin endpoints listen apart from public traffic: the purge API
// (/.edge/purge) and GET /.edge/stats (which shows origin addresses) are
// served on -admin, 127.0.0.1:9080 by default (empty turns it off; a
// non-loopback address needs a token). With -purge-token or
// -purge-token-file, purges need "Authorization: Bearer <token>" on every
// listener, and the public listener accepts them too (POST /.edge/purge,
// or the PURGE method); without a token it serves neither, whatever the
// client's address: a proxy on the same host connects from loopback for
// anyone. The program prints at start which of these it uses.
//
// Timeouts are net/http's and HAProxy's defaults: 10 s for a request
// head (-header-timeout), 120 s for an idle keep-alive connection on the
// net/http front (-idle-timeout); an origin that sends no response head
// within 10 s fails that try, and the next origin is tried
// (-origin-try-timeout, origin.Config.TryTimeout). At shutdown, requests in
// flight may finish for 5 s (-grace).
//
// A fleet: with -redis ADDR, nodes share a purge bus and membership in
// Redis (package surrogate/redisbus): a purge on any node reaches every
// node in one order, and the purge API answers when every live node has
// applied it, with each node's state in its JSON ("fleet"). -node-id
// names the node (default -name), -advertise is the address others reach
// it on (default -listen); GET /.edge/stats lists the live members.
// -shield adds the shield tier (edge.Shield): a miss goes to the node
// owning the object, and only that node fetches from the origins
// (members from -redis, or a static -peers list); see docs/fleet.md.
//
//	redis-server --port 6379 --save '' &
//	go run ./examples/edge -listen 127.0.0.1:8081 -admin 127.0.0.1:9081 -name e1 -redis 127.0.0.1:6379 &
//	go run ./examples/edge -listen 127.0.0.1:8082 -admin 127.0.0.1:9082 -name e2 -redis 127.0.0.1:6379 &
//	curl -s -X POST 'http://127.0.0.1:9081/.edge/purge?key=sports'
//
// Observability (examples/edge/observe.go): -metrics ADDR serves
// /metrics, /healthz and /readyz (and /debug/pprof/ with -pprof) on
// loopback unless -metrics-token is set; -otlp ENDPOINT sends a trace per
// request (edge span, origin fetch, DNS lookup) over OTLP/HTTP, and a
// collector that is down is said once, not fatal. See
// docs/observability.md.
//
// With no -origin flags it starts two demo origins in two regions and
// prints curl commands to try a hit, a purge by surrogate key and a
// failover.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/httpfront"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/surrogate/redisbus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	quietRedis()
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs the command and says on stderr how it ended: -h prints the
// usage and returns 0; a bad command line prints its error once, then the
// usage, and returns 2; a failure prints one line and returns 2.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cmdline.Report(stderr, "edge", run(ctx, args, stdout, nil))
}

// run serves until ctx ends. ready, if set, receives the listen address.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	var origins listFlag
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	fs.Var(&origins, "origin", "origin base URL, in priority order (repeatable)")
	maxBytes := fs.Int64("max-bytes", 256<<20, "cache size in bytes")
	maxObject := fs.Int64("max-object", 8<<20, "largest body stored; larger ones stream through")
	negTTL := fs.Duration("negative-ttl", 0, "cache 404/410/5xx without freshness info this long (0: off)")
	grace := fs.Duration("stale-if-error", edge.DefaultStaleIfError, "serve stale this long past freshness when origins fail, unless the response forbids it (0: only as stale-if-error directives allow)")
	admin := fs.String("admin", "127.0.0.1:9080", "admin listener for purge and stats (empty: none; a non-loopback address needs a token)")
	token := fs.String("purge-token", "", "token for the purge API, accepted on every listener (Authorization: Bearer <token>)")
	tokenFile := fs.String("purge-token-file", "", "read the purge token from this file (first line)")
	headerTimeout := fs.Duration("header-timeout", 10*time.Second, "longest wait for a request head (HAProxy's timeout http-request)")
	idleTimeout := fs.Duration("idle-timeout", 120*time.Second, "keep-alive idle timeout of the net/http front (the edgekit front waits -header-timeout)")
	tryTimeout := fs.Duration("origin-try-timeout", 10*time.Second, "an origin that sends no response head this long fails the try; the next origin is tried")
	drain := fs.Duration("grace", 5*time.Second, "at shutdown, how long requests in flight may finish before their connections close")
	name := fs.String("name", "edgekit", "node name in Via and Cache-Status: a token (letters, digits, - . _ and the like; RFC 9211 §2)")
	xcache := fs.Bool("x-cache", true, "add X-Cache: HIT|MISS|STALE|REVALIDATED|PASS")
	verbose := fs.Bool("v", false, "log debug events")
	honorCC := fs.Bool("honor-client-cache-control", false, "let clients' Cache-Control no-cache/max-age/min-fresh and Pragma: no-cache send requests past the cache (default: ignored, as Varnish and nginx do)")
	front := fs.String("front", "edgekit", "server in front of the node: edgekit (httpfront.Server, HTTP/1.1) or net/http")
	var tlsOpts tlsOptions
	tlsOpts.register(fs)
	var obs observer
	obs.register(fs)
	redisAddr := fs.String("redis", "", "Redis for the fleet's purge bus and membership: host:port, several comma-separated (Cluster, or Sentinels with -redis-master), or a redis:// or rediss:// (TLS) URL; REDIS_USERNAME and REDIS_PASSWORD set ACL user and AUTH (empty: this node alone)")
	redisMaster := fs.String("redis-master", "", "Sentinel master name (with -redis listing the Sentinels)")
	redisTLS := fs.Bool("redis-tls", false, "connect to -redis over TLS (a rediss:// URL implies it)")
	nodeID := fs.String("node-id", "", "this node's ID in the fleet (default: -name)")
	advertise := fs.String("advertise", "", "address other nodes reach this one on, published with its heartbeat (default: -listen)")
	var shieldOpts shieldOptions
	shieldOpts.register(fs)
	unsynced := fs.Duration("revalidate-unsynced", 0, "with -redis: out of touch with the purge bus this long, serve stored objects only after revalidation (0: off)")
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *front != "edgekit" && *front != "net/http" {
		return fmt.Errorf("-front must be edgekit or net/http, not %q", *front)
	}
	if *maxBytes <= 0 || *maxObject <= 0 || *negTTL < 0 || *grace < 0 {
		return errors.New("-max-bytes and -max-object must be positive; -negative-ttl and -stale-if-error not negative")
	}
	if *headerTimeout <= 0 || *idleTimeout <= 0 {
		return errors.New("-header-timeout and -idle-timeout must be positive")
	}
	if err := checkFlags(*name, origins, *maxBytes, *tryTimeout, *drain); err != nil {
		return err
	}
	if err := tlsOpts.check(); err != nil {
		return err
	}
	purgeToken, tokenFrom, err := readToken(*token, *tokenFile)
	if err != nil {
		return err
	}
	if err := obs.start(ctx, out, *name); err != nil {
		return err
	}
	defer obs.close()
	if *admin != "" && purgeToken == "" && !loopback(*admin) {
		return fmt.Errorf("-admin %s is not a loopback address: set -purge-token or -purge-token-file", *admin)
	}
	// The cache's live heap stays near -max-bytes, but the garbage
	// collector lets the heap reach twice the live heap before it
	// collects. A soft limit keeps the process within 1.5x the cache plus
	// 64 MiB (GOMEMLIMIT, when set, is used instead).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*maxBytes*3/2 + 64<<20)
	}
	logger := zap.NewNop()
	if *verbose {
		l, err := zap.NewDevelopment()
		if err != nil {
			return err
		}
		logger = l
	}
	redisLog.Store(logger)

	demo := len(origins) == 0
	var demoOrigins []*demoOrigin
	if demo {
		for _, region := range []string{"eu-west", "us-east"} {
			d, err := startDemoOrigin(region)
			if err != nil {
				return err
			}
			defer d.srv.Close()
			demoOrigins = append(demoOrigins, d)
			origins = append(origins, d.url)
		}
	}
	var cfgOrigins []origin.Origin
	for i, o := range origins {
		cfgOrigins = append(cfgOrigins, origin.Origin{URL: o, Priority: i})
	}
	if err := tlsOpts.originTLS(cfgOrigins); err != nil {
		return err
	}
	pool, err := origin.New(origin.Config{Origins: cfgOrigins, EjectAfter: 2, EjectBase: 5 * time.Second, TryTimeout: *tryTimeout, Logger: logger})
	if err != nil {
		return err
	}
	defer pool.Close()
	staleIfError := *grace
	if staleIfError == 0 {
		staleIfError = -1 // the flag's 0 is "off"; edge.Config's zero is the default
	}
	var bus *redisbus.Bus
	if *redisAddr != "" {
		id, adv := *nodeID, *advertise
		if id == "" {
			id = *name
		}
		if adv == "" {
			adv = *listen
		}
		rdb, err := redisClient(*redisAddr, *redisMaster, *redisTLS)
		if err != nil {
			return err
		}
		defer rdb.Close()
		// Said once at start; go-redis's own dial errors go to -v.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := rdb.Ping(pctx).Err(); err != nil {
			fmt.Fprintf(out, "redis %s: not answering (%v); purges reach no other node until it does (retried in the background; -v for details)\n", *redisAddr, err)
		} else {
			fmt.Fprintf(out, "redis %s: purge bus and membership as node %q\n", *redisAddr, id)
		}
		cancel()
		if bus, err = redisbus.New(redisbus.Config{Client: rdb, Node: id, Advertise: adv, Logger: logger}); err != nil {
			return err
		}
		defer bus.Close() // after the node: deferred calls run last first
		closeACME, err := tlsOpts.redisStorage(rdb, logger)
		if err != nil {
			return err
		}
		defer closeACME()
	}
	ecfg := edge.Config{
		Name: *name, Origin: pool, MaxBytes: *maxBytes, MaxObjectBytes: *maxObject,
		NegativeTTL: *negTTL, StaleIfError: staleIfError, XCache: *xcache, Logger: logger,
		HonorClientCacheControl: *honorCC, RevalidateUnsynced: *unsynced,
	}
	if bus != nil {
		ecfg.Bus = bus
	}
	shield, err := shieldOpts.start(ctx, shieldFleet{self: cmp.Or(*nodeID, *name), origin: pool, bus: bus, redisAddr: *redisAddr, master: *redisMaster, redisTLS: *redisTLS, logger: logger})
	if err != nil {
		return err
	} else if shield != nil {
		defer shield.Close() // after the node
		ecfg.Origin, ecfg.Tier = shield, shield.FromTier
	}
	obs.configure(&ecfg, pool)
	node, err := edge.New(ecfg)
	if err != nil {
		return err
	}
	defer node.Close()
	if err := obs.watch(node, pool); err != nil {
		return err
	}

	stats := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		v := map[string]any{"node": node.Stats(), "origins": pool.Stats()}
		if bus != nil {
			members, err := bus.Live(r.Context())
			v["fleet"] = map[string]any{"members": members, "bus": bus.Stats(), "last_sync": bus.LastSync(), "error": errString(err)}
		}
		if shield != nil {
			v["shield"] = shieldStats(shield, r)
		}
		json.NewEncoder(w).Encode(v)
	})
	// The public listener: the node, and purges only with a token. Stats
	// and an anonymous purge API are for the admin listener alone; the
	// /.edge/ paths are reserved, not forwarded to origins.
	var publicPurge http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "edge: purge is served on the admin listener", http.StatusForbidden)
	})
	if purgeToken != "" {
		if publicPurge, err = node.PurgeHandler(edge.PurgeConfig{Token: purgeToken}); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/.edge/purge", publicPurge)
	mux.Handle("/.edge/", http.NotFoundHandler())
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PURGE" {
			publicPurge.ServeHTTP(w, r)
			return
		}
		node.ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	addr := ln.Addr().String()

	// The HTTPS side first: a certificate that does not load or a taken
	// port ends the program before it says it is listening.
	tlsCtx, stopTLS := context.WithCancel(ctx)
	tlsOpts.https.ReadHeaderTimeout, tlsOpts.https.Grace = *headerTimeout, *drain // HTTP/3's too
	waitTLS, err := tlsOpts.start(tlsCtx, out, logger, mux, func(ctx context.Context, ln net.Listener, h http.Handler) error {
		if *front == "edgekit" {
			return (&httpfront.Server{Handler: h, ReadHeaderTimeout: *headerTimeout, ShutdownTimeout: *drain}).Serve(ctx, ln)
		}
		return serveHTTP(ctx, ln, &http.Server{Handler: h, ReadHeaderTimeout: *headerTimeout, IdleTimeout: *idleTimeout})
	})
	defer waitTLS()
	defer stopTLS() // before the wait
	if err != nil {
		return err
	}
	// The admin listener is bound before the banner: a taken admin port
	// ends the program before it says it is listening.
	adminAddr := ""
	if *admin != "" {
		adminPurge, err := node.PurgeHandler(edge.PurgeConfig{Token: purgeToken, AdminListener: true})
		if err != nil {
			return err
		}
		amux := http.NewServeMux()
		amux.Handle("/.edge/purge", adminPurge)
		amux.Handle("GET /.edge/stats", stats)
		aln, err := net.Listen("tcp", *admin)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		adminAddr = aln.Addr().String()
		asrv := &http.Server{Handler: amux, ReadHeaderTimeout: *headerTimeout, IdleTimeout: *idleTimeout}
		served := make(chan struct{})
		go func() { asrv.Serve(aln); close(served) }()
		defer func() { asrv.Close(); <-served }()
		fmt.Fprintf(out, "edge %s listening on http://%s, origins: %s\n", *name, addr, strings.Join(origins, ", "))
		how := "no token (loopback listener)"
		if purgeToken != "" {
			how = "token required (" + tokenFrom + ")"
		}
		fmt.Fprintf(out, "admin: purge and stats on http://%s/.edge/, %s\n", adminAddr, how)
	} else {
		fmt.Fprintf(out, "edge %s listening on http://%s, origins: %s\n", *name, addr, strings.Join(origins, ", "))
		fmt.Fprintln(out, "admin: no admin listener (-admin empty)")
	}
	if purgeToken != "" {
		fmt.Fprintf(out, "public purge: POST /.edge/purge and PURGE with token (%s); stats on the admin listener only\n", tokenFrom)
	} else {
		fmt.Fprintln(out, "public purge: off (no token); stats on the admin listener only")
	}
	if demo {
		printDemo(out, addr, adminAddr, purgeToken != "", demoOrigins)
	}
	if ready != nil {
		ready <- addr
	}
	if *front == "edgekit" {
		return (&httpfront.Server{Handler: mux, ReadHeaderTimeout: *headerTimeout, ShutdownTimeout: *drain}).Serve(ctx, ln)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: *headerTimeout, IdleTimeout: *idleTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
		return fmt.Errorf("requests still in flight after -grace %v were cut", *drain)
	}
	return nil
}

type demoOrigin struct {
	region string
	url    string
	srv    *http.Server
	hits   atomic.Int64
}

// startDemoOrigin serves a small site whose pages carry surrogate keys.
func startDemoOrigin(region string) (*demoOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &demoOrigin{region: region, url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	page := func(path, keys, cc string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			d.hits.Add(1)
			w.Header().Set("Cache-Control", cc)
			w.Header().Set("Surrogate-Key", keys)
			w.Header().Set("X-Origin-Region", region)
			fmt.Fprintf(w, "%s from origin %s at %s\n", r.URL.Path, region, time.Now().Format(time.TimeOnly))
		})
	}
	page("/", "home", "max-age=60, stale-if-error=600")
	page("/sports/", "sports", "max-age=300, stale-while-revalidate=60, stale-if-error=600")
	page("/articles/123", "article-123 sports", "max-age=300, stale-if-error=600")
	page("/weather", "weather", "max-age=30")
	// Demo control: stop this origin to watch the edge fail over.
	mux.HandleFunc("POST /.demo/stop", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "origin "+region+" stopping\n")
		go d.srv.Close()
	})
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go d.srv.Serve(ln)
	return d, nil
}

func printDemo(out io.Writer, addr, adminAddr string, token bool, origins []*demoOrigin) {
	purgeAt, auth := adminAddr, ""
	if token {
		auth = ` -H "Authorization: Bearer $TOKEN"`
	}
	if purgeAt == "" {
		purgeAt = addr // with a token, the public listener purges too
	}
	fmt.Fprintf(out, `
demo origins: %s (primary, %s) and %s (alternate, %s)

try:
  curl -si http://%[5]s/articles/123          # MISS, then repeat: HIT with Age
  curl -si http://%[5]s/sports/
  curl -s%[7]s -X POST 'http://%[6]s/.edge/purge?key=sports'      # purge by surrogate key
  curl -s%[7]s -X POST 'http://%[6]s/.edge/purge?key=sports&mode=soft'
  curl -s%[7]s -X POST 'http://%[6]s/.edge/purge?url=http://%[5]s/weather'   # purge one URL
  curl -s http://%[6]s/.edge/stats
failover: stop the primary, then ask for something not yet cached:
  curl -s -X POST %[1]s/.demo/stop
  curl -si http://%[5]s/articles/123?new=1 | grep -i x-origin-region   # us-east
`, origins[0].url, origins[0].region, origins[1].url, origins[1].region, addr, purgeAt, auth)
}

// minCacheBytes is the smallest -max-bytes: room for a few entries with
// their bookkeeping.
const minCacheBytes = 64 << 10

// checkFlags refuses what the node would mangle or could not honour,
// naming the flag.
func checkFlags(name string, origins []string, maxBytes int64, tryTimeout, grace time.Duration) error {
	// Via's received-by and Cache-Status's cache name (RFC 9211 §2, an
	// sf-token here) are both written as the name: it must be a token
	// starting with a letter (RFC 9110 §5.6.2), so no space, quote, CR or LF.
	if name == "" || !isAlpha(name[0]) || strings.IndexFunc(name, func(r rune) bool { return !isTchar(r) }) >= 0 {
		return fmt.Errorf("-name %q: must be a token starting with a letter (letters, digits and !#$%%&'*+-.^_`|~; RFC 9211 §2)", name)
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		switch {
		case err != nil:
			return fmt.Errorf("-origin %q: %v", o, err)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("-origin %q: the scheme must be http or https", o)
		case u.Host == "" || u.Opaque != "":
			return fmt.Errorf("-origin %q: want http(s)://host[:port][/path]", o)
		case u.User != nil:
			return fmt.Errorf("-origin %q: userinfo is not allowed (RFC 9110 §4.2.4)", o)
		case strings.Contains(o, "#"):
			return fmt.Errorf("-origin %q: a fragment is not allowed", o)
		}
	}
	if maxBytes < minCacheBytes {
		return fmt.Errorf("-max-bytes %d: too small, at least %d", maxBytes, minCacheBytes)
	}
	if tryTimeout <= 0 {
		return fmt.Errorf("-origin-try-timeout %v: must be positive", tryTimeout)
	}
	if grace <= 0 {
		return fmt.Errorf("-grace %v: must be positive", grace)
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isTchar reports whether r is a token character (RFC 9110 §5.6.2).
func isTchar(r rune) bool {
	return r < 0x80 && (isAlpha(byte(r)) || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

// redisClient builds the fleet's Redis client from -redis: a URL
// (redis:// or rediss://, user and password in it), or addresses for a
// single server, a Cluster or, with master, Sentinels. REDIS_USERNAME and
// REDIS_PASSWORD keep credentials off the command line.
func redisClient(addr, master string, useTLS bool) (redis.UniversalClient, error) {
	var opts redis.UniversalOptions
	if strings.Contains(addr, "://") {
		o, err := redis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		opts = redis.UniversalOptions{Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig}
	} else {
		opts.Addrs = strings.Split(addr, ",")
	}
	opts.MasterName = master
	if u := os.Getenv("REDIS_USERNAME"); u != "" {
		opts.Username = u
	}
	if p := os.Getenv("REDIS_PASSWORD"); p != "" {
		opts.Password = p
	}
	if useTLS && opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(&opts), nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// readToken returns the purge token from -purge-token or the first line
// of -purge-token-file (not both), and says where it came from.
func readToken(flagToken, file string) (token, from string, err error) {
	switch {
	case flagToken != "" && file != "":
		return "", "", errors.New("set -purge-token or -purge-token-file, not both")
	case flagToken != "":
		return flagToken, "from -purge-token", nil
	case file == "":
		return "", "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("-purge-token-file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if token = strings.TrimSpace(line); token == "" {
		return "", "", fmt.Errorf("-purge-token-file %s: empty token", file)
	}
	return token, "from " + file, nil
}

// loopback reports whether a listen address is on a loopback interface
// (127.0.0.0/8, ::1, localhost).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
